"""The two-view near-duplicate graph: semantic k-NN edges, lexically re-weighted.

MiniLM alone chains unrelated prompts that share a topic, and misses template
siblings whose payloads dominate their text; word shingles alone miss paraphrases.
The graph therefore takes its *candidates* from the semantic k-NN (FAISS, see
:mod:`promptprint.reconstruct.knn_graph`) and *weighs* each candidate pair by both views:

    weight = max(lexical, semantic_weight × cosine) where
    lexical = Jaccard of the two prompts' skeleton shingles (promptprint.text.skeleton),
              estimated from MinHash sketches (promptprint.reconstruct.minhash)

and keeps pairs with ``weight >= min_weight``. The default is lexical only
(``semantic_weight=0``, ``min_weight=0.04``): measured on the in-the-wild jailbreak
communities (scripts/jailbreak_clusters.py), any semantic term chains families that
share a topic (ARI 0.50-0.58 with it, 0.87 without), while a weak lexical edge inside
a dense family is kept and Leiden cuts the weak bridges between families. Paraphrase
and translation variants of a campaign, which share no words, are joined one level up,
by the accounts that run them (:mod:`promptprint.reconstruct.campaigns`).

Prompts the online tracker put in one lexical template (:mod:`promptprint.templates.tracker`,
replayed over the corpus) are tied to that template's founder as well (weight 1), so
a template with payloads too long for the k-NN to pair its members is still one
cluster.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from promptprint.reconstruct.knn_graph import Edges
from promptprint.reconstruct.minhash import estimate_jaccard


@dataclasses.dataclass(frozen=True)
class GraphParams:
    """Edge weighting (see module docstring).

    Attributes:
        min_weight: weight at which a candidate pair is kept...
        min_shared: ... when the two also share at least this many shingles (estimated
            from the Jaccard and the set sizes: ~10 words verbatim), so that two
            ordinary prompts opening with the same idiom are not tied;
        near_copy: ... or, whatever their length, at this Jaccard (short near-copies).
        semantic_weight: factor on the cosine in the combined weight (0 = lexical only).
        lexical_templates: add the tracker's template edges.
    """

    min_weight: float = 0.04
    min_shared: int = 8
    near_copy: float = 0.5
    semantic_weight: float = 0.0
    lexical_templates: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.min_weight <= 1.0:
            raise ValueError(f"min_weight must be in (0, 1], got {self.min_weight}")
        if self.semantic_weight < 0:
            raise ValueError(f"semantic_weight must be >= 0, got {self.semantic_weight}")


def template_edges(template_ids: np.ndarray) -> Edges:
    """Each member of a lexical template tied to the template's first member (id 0 = none)."""
    positions = np.arange(len(template_ids), dtype=np.int64)
    has = template_ids > 0
    ids, pos = template_ids[has], positions[has]
    order = np.lexsort((pos, ids))
    ids, pos = ids[order], pos[order]
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    founder = np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))
    src = pos[founder]
    keep = src != pos
    return Edges(src[keep].astype(np.int32), pos[keep].astype(np.int32), np.ones(int(keep.sum()), np.float32))


def weigh(candidates: Edges, sketches: np.ndarray, sizes: np.ndarray, template_ids: np.ndarray | None, params: GraphParams) -> Edges:
    """The kept, weighted edges of the near-duplicate graph (``sketches``: MinHash of
    each prompt's skeleton shingles, see promptprint.reconstruct.minhash)."""
    lexical = estimate_jaccard(sketches, candidates.src, candidates.dst)
    weight = np.maximum(lexical, params.semantic_weight * candidates.weight)
    total = sizes[candidates.src].astype(np.float32) + sizes[candidates.dst]
    shared = lexical / (1.0 + lexical) * total  # |A ∩ B| = J (|A| + |B|) / (1 + J)
    keep = (weight >= params.min_weight) & ((shared >= params.min_shared) | (weight >= params.near_copy))
    parts = [Edges(candidates.src[keep], candidates.dst[keep], weight[keep])]
    if params.lexical_templates and template_ids is not None:
        parts.append(template_edges(template_ids))
    src = np.concatenate([p.src for p in parts])
    dst = np.concatenate([p.dst for p in parts])
    w = np.concatenate([p.weight for p in parts])
    if not len(src):
        return Edges.empty()
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    key = lo.astype(np.int64) * (int(hi.max()) + 1) + hi
    order = np.lexsort((-w, key))
    key, lo, hi, w = key[order], lo[order], hi[order], w[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return Edges(lo[first].astype(np.int32), hi[first].astype(np.int32), w[first].astype(np.float32))
