"""Which recorded prompts get a transformer vector, when the embedder cannot embed them all.

The transformer embeds ~30 prompts/s per two CPU cores; live traffic arrives at thousands
a second. Detection never needs the vectors (the template tracker works on lexical
signatures), and exact or near-exact copies are found without them (the lexical view),
so a vector is what semantic lookups of *paraphrases* need. The policy says which prompts
get one; the rest are recorded, tracked and findable by their text, and marked *skipped*
in the store (no vector, never retried).

Policies (``IndexConfig.embedding_policy``):

* ``all``: every prompt (what the service did before policies). Past
  ``max_vector_backlog`` waiting rows, a write waits and is then refused with
  RESOURCE_EXHAUSTED (``VECTOR_BACKLOG_FULL``): nothing is ever skipped.
* ``templates`` (the server's default): representatives of every template and every prompt of a busy
  one. A prompt is embedded when it is among the first ``representatives`` prompts to join
  a template after its founder, or its template has at least ``min_volume`` members. A
  prompt nobody has joined (most ordinary traffic is one of a kind) and a prompt too
  short to carry a template are embedded at ``sample_rate``: at live rates they are most
  of the traffic, and a template that forms later gets its representatives then.
* ``sample``: a fixed fraction ``sample_rate`` of prompts, chosen by a hash of the row id,
  so the same rows are chosen again after a restart.
* ``none``: no vectors at all (lexical and template views only).

Every policy but ``all`` also sheds: when more than ``max_vector_backlog`` chosen rows wait
for the embedder, the oldest waiting rows are skipped, so nothing is refused for want of
vectors and memory stays bounded at any arrival rate.

On a restart, rows recorded but neither embedded nor skipped yet are decided again by
:meth:`EmbeddingPolicy.on_replay` (the template of an old row is not at hand then, so
``templates`` keeps them; shedding still bounds them).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

PolicyName = Literal["all", "templates", "sample", "none"]
POLICIES: tuple[PolicyName, ...] = ("all", "templates", "sample", "none")

_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing: row ids spread evenly over 64 bits
_MASK = (1 << 64) - 1


@dataclasses.dataclass(frozen=True)
class EmbeddingPolicy:
    """What gets embedded (see the module docstring).

    Attributes:
        name: ``all``, ``templates`` (default), ``sample`` or ``none``.
        sample_rate: fraction embedded by ``sample``, and of template-less prompts by
            ``templates``.
        representatives: ``templates``: how many of the first prompts to join each template
            (after its founder) are embedded.
        min_volume: ``templates``: members from which every prompt of a template is embedded.
    """

    name: PolicyName = "templates"  # IndexConfig's own default is "all"; the server's is this
    sample_rate: float = 0.02
    representatives: int = 3
    min_volume: int = 50

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"embedding policy must be one of {', '.join(POLICIES)}, got {self.name!r}")
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in [0, 1], got {self.sample_rate}")
        if self.representatives < 0:
            raise ValueError(f"representatives must be >= 0, got {self.representatives}")
        if self.min_volume < 1:
            raise ValueError(f"min_volume must be >= 1, got {self.min_volume}")

    @property
    def sheds(self) -> bool:
        """Whether an over-full backlog is shed (skipped) rather than refused."""
        return self.name != "all"

    def _sampled(self, row_id: int) -> bool:
        return ((row_id * _GOLDEN) & _MASK) < self.sample_rate * (1 << 64)

    def wants(self, row_id: int, template_members: int) -> bool:
        """Whether a newly recorded row gets a vector. ``template_members``: members of the
        template it joined, itself included (0: too short to carry a template)."""
        if self.name == "all":
            return True
        if self.name == "none":
            return False
        if self.name == "sample" or template_members <= 1:
            return self._sampled(row_id)
        return template_members <= self.representatives + 1 or template_members >= self.min_volume

    def on_replay(self, row_id: int) -> bool:
        """Whether a row found waiting for its vector on start still gets one."""
        if self.name == "none":
            return False
        if self.name == "sample":
            return self._sampled(row_id)
        return True

    def describe(self) -> str:
        """One line for GetIndexStats, the metrics endpoint and the logs."""
        if self.name == "templates":
            return (
                f"templates (first {self.representatives} to join each template, all of templates with >= {self.min_volume} "
                f"members, {self.sample_rate:g} of one-of-a-kind prompts; oldest waiting rows shed past the backlog limit)"
            )
        if self.name == "sample":
            return f"sample ({self.sample_rate:g} of prompts by row-id hash; oldest waiting rows shed past the backlog limit)"
        if self.name == "none":
            return "none (no vectors: lexical and template views only)"
        return "all (every prompt; writes refused while the backlog is full)"
