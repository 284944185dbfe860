"""Named sets of config values: the runs people ask for by name rather than by twenty flags.

The defaults of :class:`~evaluation.simulate.config.SimulationConfig` stay the run they always
were (same seed, same bytes); a preset changes only the fields it names, and explicit
overrides win over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from evaluation.simulate.config import SimulationConfig

__all__ = ["PRESETS", "preset_config"]

#: ``adversarial``: two weeks of traffic with every adversarial family and benign trap next to the
#: templated campaigns and look-alikes; tail_instruction, translated_variants, power_user_wrapper and
#: shared_tool held out (``split="tune"`` leaves them out, the default ``"test"`` keeps them).
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "adversarial": MappingProxyType(
            {
                "days": 14.0,
                "campaigns": 4,
                "campaign_share": 0.08,
                "short_wrapper_share": 0.025,
                "tail_instruction_share": 0.025,
                "per_account_paraphrase_share": 0.025,
                "pivot_family_share": 0.025,
                "translated_variants_share": 0.025,
                "low_and_slow_share": 0.025,
                "paste_instruction_share": 0.05,
                "classroom_school_org_share": 0.025,
                "classroom_personal_orgs_share": 0.025,
                "power_user_wrapper_share": 0.04,
                "shared_tool_share": 0.04,
                "holdout": "tail_instruction,translated_variants,power_user_wrapper,shared_tool",
            }
        ),
    }
)


def preset_config(preset: str | None, **overrides: Any) -> SimulationConfig:
    """The config of ``preset`` (None: the defaults) with ``overrides`` on top.

    Raises:
        ValueError: an unknown preset, or values the config rejects.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    values = dict(PRESETS[preset]) if preset is not None else {}
    return SimulationConfig(**(values | overrides))
