"""Write simulated traffic with ground truth: thin CLI over :mod:`evaluation.simulate`.

    python scripts/simulate.py --out-dir /tmp/sim --prompts 50000 --seed 7
    python scripts/simulate.py --out-dir /tmp/tune --preset adversarial --split tune --prompts 20000 --seed 101

Every field of :class:`evaluation.simulate.config.SimulationConfig` is a flag
(``campaign_share`` -> ``--campaign-share``); ``--preset`` starts from a named set of values
(:mod:`evaluation.simulate.presets`) that the other flags override; see ``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import typing
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.datasets import DEFAULT_DATA_DIR  # noqa: E402
from evaluation.simulate import run_simulation  # noqa: E402
from evaluation.simulate.config import SimulationConfig  # noqa: E402
from evaluation.simulate.presets import PRESETS, preset_config  # noqa: E402


def _flag_type(hint: object) -> type:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return typing.cast(type, args[0] if args else hint)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", required=True, type=Path, help="folder for the four output files")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"the shared/data folder with the public datasets (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from a named set of values (the flags below override it); "
        "'adversarial' adds every adversarial family and benign trap over 14 days",
    )
    hints = typing.get_type_hints(SimulationConfig)
    for field in dataclasses.fields(SimulationConfig):
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_flag_type(hints[field.name]),
            default=None,
            help=f"{field.metadata.get('help', '')} (default: {field.default})",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(SimulationConfig)
        if getattr(args, f.name) is not None
    }
    try:
        config = preset_config(args.preset, **overrides)
    except ValueError as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    try:
        summary = run_simulation(config, args.out_dir, args.data_dir)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    elapsed = time.perf_counter() - started
    prompts = summary["prompts"]
    kinds = ", ".join(f"{k}={v}" for k, v in prompts["by_kind"].items() if v)
    print(
        f"wrote {prompts['total']} prompts from {summary['accounts']['total']} accounts to {args.out_dir} "
        f"in {elapsed:.1f}s\n  campaign prompts: {prompts['by_label']['campaign']} "
        f"({prompts['by_label']['campaign'] / prompts['total']:.1%}); {kinds}"
    )
    holdout = summary["holdout"]
    if holdout["names"]:
        print(f"  held out: {', '.join(holdout['names'])} (split {holdout['split']}: "
              f"{'left out' if holdout['left_out'] else 'included, reported apart'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
