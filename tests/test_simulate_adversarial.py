"""The adversarial families and benign traps of the simulator: each has the shape it claims, and held-out
ones leave a tuning run entirely."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from evaluation.simulate import run_simulation, simulate
from evaluation.simulate.config import ACCOUNT_KINDS, ADVERSARIAL_FAMILIES, TRAP_KINDS, SimulationConfig
from evaluation.simulate.presets import PRESETS, preset_config
from evaluation.simulate.templates import ADVERSARIAL

from conftest import SHARED_DATA as DATA_DIR

PROMPTS = 6_000
SEED = 5
HELD_OUT = PRESETS["adversarial"]["holdout"].split(",")


@pytest.fixture(autouse=True)
def _shared_data_present() -> None:
    if not DATA_DIR.is_dir():
        pytest.fail(f"shared datasets not found at {DATA_DIR}; set PROMPTPRINT_SHARED_DATA to the shared/data folder")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Run:
    """One written run, indexed the ways the tests look at it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.traffic = _read_jsonl(directory / "traffic.jsonl")
        self.truth = {row["account_id"]: row for row in _read_jsonl(directory / "truth.jsonl")}
        self.prompts = _read_jsonl(directory / "prompts_truth.jsonl")
        self.summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
        self.record = {r["prompt_id"]: r for r in self.traffic}

    def group(self, account_id: str) -> str:
        row = self.truth[account_id]
        return row["family"] if row["label"] == "campaign" else row["kind"]

    def by_account(self, group: str) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
        """(truth, record) of every prompt of the accounts of a family or benign kind, in time order."""
        out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
        for p in self.prompts:
            if self.group(p["account_id"]) == group:
                out[p["account_id"]].append((p, self.record[p["prompt_id"]]))
        return out

    def campaigns(self, family: str) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
        out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
        for prompts in self.by_account(family).values():
            for p, r in prompts:
                out[p["campaign_id"]].append((p, r))
        return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("adversarial")
    run_simulation(preset_config("adversarial", prompts=PROMPTS, seed=SEED), out, DATA_DIR)
    return Run(out)


def _bursts(times: Iterable[float], gap: float) -> int:
    ordered = sorted(times)
    return 1 + sum(1 for a, b in zip(ordered, ordered[1:]) if b - a > gap)


def test_every_family_and_trap_is_there_with_the_budget_it_was_given(run: Run) -> None:
    config = SimulationConfig(**run.summary["config"])
    budgets = config.budgets()
    assert len(run.traffic) == PROMPTS
    groups = Counter(run.group(p["account_id"]) for p in run.prompts)
    for family in ADVERSARIAL_FAMILIES:
        assert groups[family] == budgets[family], family
    for trap in TRAP_KINDS:
        assert groups[trap] == budgets[trap], trap
    assert groups["templated"] > 0
    for row in run.truth.values():
        assert row["kind"] in ACCOUNT_KINDS
        assert (row["family"] is not None) == (row["label"] == "campaign")
    assert set(run.summary["accounts"]["by_family"]) >= set(ADVERSARIAL_FAMILIES)
    assert run.summary["holdout"] == {"names": HELD_OUT, "split": "test", "left_out": []}


def test_short_wrapper_is_a_short_line_a_blank_line_and_a_long_paste_in_bursts(run: Run) -> None:
    config = SimulationConfig(**run.summary["config"])
    refs = []
    accounts = run.by_account("short_wrapper")
    assert accounts
    for prompts in accounts.values():
        assert config.short_wrapper_min_prompts <= len(prompts) <= config.short_wrapper_max_prompts
        assert all(p["kind"] == "campaign" for p, _ in prompts), "short_wrapper accounts send nothing else"
        assert _bursts((_seconds(r["created_at"]) for _, r in prompts), gap=3_600) <= 3
        for p, r in prompts:
            first, blank, rest = r["text"].split("\n", 2)
            assert 3 <= len(first.split()) <= 6 and blank == "" and len(rest) >= 600
            refs.append(p["payload_ref"])
    assert len(set(refs)) == len(refs), "every pasted document differs"
    for prompts in run.campaigns("short_wrapper").values():
        assert len({r["text"].split("\n", 1)[0] for _, r in prompts}) == 1, "one instruction per campaign"


def test_tail_instruction_puts_the_instruction_on_the_last_line(run: Run) -> None:
    for campaign, prompts in run.campaigns("tail_instruction").items():
        last_lines = {r["text"].rsplit("\n", 1)[1] for _, r in prompts}
        assert len(last_lines) == 1 and last_lines <= set(ADVERSARIAL.tail_instruction), campaign
        assert all(len(r["text"].rsplit("\n\n", 1)[0]) >= 600 for _, r in prompts)


def test_per_account_paraphrase_gives_each_account_its_own_wording_of_one_instruction(run: Run) -> None:
    campaigns = run.campaigns("per_account_paraphrase")
    assert campaigns
    for campaign, prompts in campaigns.items():
        wording: dict[str, set[str]] = defaultdict(set)
        for p, r in prompts:
            wording[p["account_id"]].add(p["variant"])
            assert p["payload_ref"].startswith("gsm8k/")
        assert all(len(w) == 1 for w in wording.values()), "one fixed paraphrase per account"
        assert len({next(iter(w)) for w in wording.values()}) == len(wording), "no two accounts word it alike"
        assert len({p["family_id"] for p, _ in prompts}) == 1, campaign


def test_pivot_accounts_switch_template_within_the_switch_window(run: Run) -> None:
    config = SimulationConfig(**run.summary["config"])
    infos = {c["campaign_id"]: c for c in run.summary["campaigns"] if c["family"] == "pivot"}
    assert infos
    for campaign, prompts in run.campaigns("pivot").items():
        pivot = infos[campaign]["pivot"]
        old, new = f"pivot:{pivot['from'][0]}", f"pivot:{pivot['to'][0]}"
        switch = _seconds(pivot["transition_end"]) - _seconds(pivot["at"])
        assert switch == pytest.approx(config.pivot_switch_hours * 3600, abs=1)
        per_account: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for p, r in prompts:
            assert p["family_id"] in (old, new)
            per_account[p["account_id"]].append((r["created_at"], p["family_id"]))
        both = 0
        for sent in per_account.values():
            families = [family for _, family in sorted(sent)]
            assert families == sorted(families, key=lambda f: f == new), "old template, then the new one"
            olds = [t for t, f in sent if f == old]
            news = [t for t, f in sent if f == new]
            if olds and news:
                both += 1
            assert all(t <= pivot["transition_end"] for t in olds) and all(t >= pivot["at"] for t in news)
        assert both >= 0.8 * len(per_account), "the same accounts send both templates"


def test_translated_variants_spread_one_template_over_accounts(run: Run) -> None:
    for campaign, prompts in run.campaigns("translated_variants").items():
        per_account: dict[str, set[str]] = defaultdict(set)
        for p, _ in prompts:
            per_account[p["account_id"]].add(p["variant"])
        assert all(len(v) == 1 for v in per_account.values())
        variants = {next(iter(v)) for v in per_account.values()}
        assert any(v.startswith("para") for v in variants) and variants - {"base"} - {
            v for v in variants if v.startswith("para")
        }, campaign
        assert len({p["family_id"] for p, _ in prompts}) == 1


def test_low_and_slow_sends_a_prompt_or_two_a_day_for_two_weeks(run: Run) -> None:
    infos = {c["campaign_id"]: c for c in run.summary["campaigns"] if c["family"] == "low_and_slow"}
    for campaign, prompts in run.campaigns("low_and_slow").items():
        info = infos[campaign]
        assert info["days"] == 14
        start = _seconds(info["window"][0])
        per_account: dict[str, Counter[int]] = defaultdict(Counter)
        for p, r in prompts:
            per_account[p["account_id"]][int((_seconds(r["created_at"]) - start) // 86_400)] += 1
        for days in per_account.values():
            assert set(days) == set(range(14)) and set(days.values()) <= {1, 2}


def test_campaign_and_benign_pastes_never_share_a_document(run: Run) -> None:
    short = run.by_account("short_wrapper").values()
    tail = run.by_account("tail_instruction").values()
    documents = [r["text"].split("\n\n", 1)[1] for prompts in short for _, r in prompts]
    documents += [r["text"].rsplit("\n\n", 1)[0] for prompts in tail for _, r in prompts]
    pasted = [run.record[p["prompt_id"]]["text"] for p in run.prompts if p["kind"] in TRAP_KINDS]
    assert documents and pasted
    assert not any(document in text for document in documents for text in pasted)


def test_paste_instruction_is_one_prompt_at_a_time_among_other_traffic(run: Run) -> None:
    accounts = run.by_account("paste_instruction")
    assert len(accounts) >= 10
    wrapped = total = 0
    phrases = (*ADVERSARIAL.paste_head, *ADVERSARIAL.paste_tail)
    for prompts in accounts.values():
        kinds = [p["kind"] for p, _ in prompts]
        assert "paste_instruction" in kinds
        wrapped += kinds.count("paste_instruction")
        total += len(kinds)
        for p, r in prompts:
            if p["kind"] == "paste_instruction":
                assert r["text"].startswith(phrases) or r["text"].endswith(phrases)
            else:
                assert p["kind"] == "ordinary"
    assert 0.1 <= wrapped / total <= 0.4
    assert sum(1 for p in accounts.values() if any(x["kind"] == "ordinary" for x, _ in p)) >= 0.8 * len(accounts)


@pytest.mark.parametrize("kind", ["classroom_school_org", "classroom_personal_orgs"])
def test_a_class_pastes_one_assignment_within_the_class_window(run: Run, kind: str) -> None:
    config = SimulationConfig(**run.summary["config"])
    classes: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for prompts in run.by_account(kind).values():
        for p, r in prompts:
            if p["kind"] == kind:
                classes[p["family_id"]].append((p, r))
    assert classes
    for family, prompts in classes.items():
        students = Counter(p["account_id"] for p, _ in prompts)
        assert config.class_min_students <= len(students) <= config.class_max_students, family
        assert set(students.values()) <= {1, 2, 3}
        times = [_seconds(r["created_at"]) for _, r in prompts]
        assert max(times) - min(times) <= config.class_minutes * 60
        first_lines = Counter(line for _, r in prompts for line in r["text"].split("\n") if "Rubric" in line
                              or "Graded on" in line or "Success criteria" in line or "Late papers" in line
                              or "Length:" in line)
        assert first_lines.most_common(1)[0][1] == len(prompts), "every prompt has the class's assignment"
        orgs = {run.truth[a]["org_id"] for a in students}
        if kind == "classroom_school_org":
            assert len(orgs) == 1 and None not in orgs
        else:
            assert len(orgs) > 0.5 * len(students)


def test_power_users_reuse_their_own_wrapper_over_days(run: Run) -> None:
    accounts = run.by_account("power_user_wrapper")
    assert len(accounts) >= 3
    for prompts in accounts.values():
        wrapped = [(p, r) for p, r in prompts if p["kind"] == "power_user_wrapper"]
        assert len(wrapped) >= 3 and len({p["family_id"] for p, _ in wrapped}) == 1
        assert any(p["kind"] == "ordinary" for p, _ in prompts)
        times = [_seconds(r["created_at"]) for _, r in wrapped]
        assert max(times) - min(times) > 86_400


def test_shared_tool_users_are_unrelated_accounts_with_other_traffic(run: Run) -> None:
    users: dict[str, set[str]] = defaultdict(set)
    for account, prompts in run.by_account("shared_tool").items():
        tool = [p for p, _ in prompts if p["kind"] == "shared_tool"]
        assert tool and len({p["family_id"] for p in tool}) == 1
        assert len(prompts) - len(tool) >= len(tool), "plenty of other traffic"
        users[tool[0]["family_id"]].add(account)
    busiest = max(users.values(), key=len)
    assert len(busiest) >= 5
    assert len({run.truth[a]["org_id"] for a in busiest}) > 0.5 * len(busiest)


def test_tuning_split_leaves_the_holdout_out_and_test_split_keeps_it(run: Run) -> None:
    tune = simulate(preset_config("adversarial", prompts=PROMPTS, seed=SEED + 1, split="tune"), DATA_DIR)
    groups = {row["family"] if row["label"] == "campaign" else row["kind"] for row in tune.accounts}
    assert not groups & set(HELD_OUT)
    assert {"short_wrapper", "per_account_paraphrase", "classroom_personal_orgs"} <= groups
    assert len(tune.traffic) == PROMPTS
    assert tune.summary["holdout"]["left_out"] == HELD_OUT
    tested = {run.group(a) for a in run.truth}
    assert set(HELD_OUT) <= tested


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"split": "tune", "holdout": "short_wrapper,pivot,shared_tool"}, "at least 2 campaign families and 2"),
        ({"holdout": "short_wrapper,nonsense"}, "nonsense, which is no family"),
        ({"split": "train"}, "split must be one of"),
        ({"short_wrapper_min_prompts": 40}, "did you swap them"),
        ({"class_minutes": 0}, "class_minutes must be a positive number"),
        ({"short_wrapper_share": 2}, "did you mean 0.02"),
    ],
)
def test_adversarial_config_rejects_nonsense(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset_config("adversarial", **overrides)


def test_preset_values_yield_to_explicit_overrides_and_unknown_presets_fail() -> None:
    config = preset_config("adversarial", days=20.0)
    assert config.days == 20.0 and config.short_wrapper_share == PRESETS["adversarial"]["short_wrapper_share"]
    assert preset_config(None) == SimulationConfig()
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("hard")


def test_adversarial_run_is_reproducible(run: Run, tmp_path: Path) -> None:
    run_simulation(preset_config("adversarial", prompts=PROMPTS, seed=SEED), tmp_path, DATA_DIR)
    for name in ("traffic.jsonl", "truth.jsonl", "prompts_truth.jsonl", "summary.json"):
        assert (tmp_path / name).read_bytes() == (run.dir / name).read_bytes(), name


def test_per_prompt_paraphrase_words_the_instruction_afresh_in_every_prompt(tmp_path: Path) -> None:
    """Outside the adversarial preset (a family its splits never saw): asked for, every
    prompt of a campaign carries its own combination of the campaign's phrase parts, so no
    wording repeats as a template would, and it shares no wording with per_account_paraphrase."""
    run_simulation(preset_config("adversarial", prompts=3_000, seed=SEED, per_prompt_paraphrase_share=0.05), tmp_path, DATA_DIR)
    fresh = Run(tmp_path)
    campaigns = fresh.campaigns("per_prompt_paraphrase")
    assert len(campaigns) == 2
    own = {c.concept_id for c in ADVERSARIAL.fresh_paraphrase_concepts}
    assert not own & {c.concept_id for c in ADVERSARIAL.paraphrase_concepts}
    for campaign, prompts in campaigns.items():
        assert len({p["family_id"] for p, _ in prompts}) == 1 and prompts[0][0]["family_id"].split(":")[1] in own
        assert len(prompts) >= 20 and len({p["variant"] for p, _ in prompts}) >= 0.8 * len(prompts), campaign
        assert len({p["account_id"] for p, _ in prompts}) >= 3
        assert all(p["payload_ref"].startswith("gsm8k/") for p, _ in prompts)


def test_reworded_requests_ask_one_common_thing_in_their_own_words_every_time(tmp_path: Path) -> None:
    """Outside the adversarial preset (a trap its splits never saw): asked for, new users each
    come for one common request over pastes of their own, within a day, nearly every prompt
    worded afresh; the first request is the most common."""
    run_simulation(preset_config("adversarial", prompts=3_000, seed=SEED, reworded_requests_share=0.1), tmp_path, DATA_DIR)
    trap = Run(tmp_path)
    accounts = trap.by_account("reworded_requests")
    assert len(accounts) >= 15
    requests: Counter[str] = Counter()
    for prompts in accounts.values():
        asked = [(p, r) for p, r in prompts if p["kind"] == "reworded_requests"]
        assert 5 <= len(prompts) <= 15 and len(asked) >= 0.5 * len(prompts)
        assert len({p["family_id"] for p, _ in asked}) == 1
        assert len({r["text"].split("\n")[0][:40] for _, r in asked}) >= 0.5 * len(asked), "worded afresh"
        times = [_seconds(r["created_at"]) for _, r in prompts]
        assert max(times) - min(times) < 2 * 86_400
        requests[asked[0][0]["family_id"]] += 1
    assert requests.most_common(1)[0][0] == f"request:{ADVERSARIAL.reworded_requests[0].concept_id}"
