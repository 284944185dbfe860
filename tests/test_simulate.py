"""The traffic simulator: reproducible, well-formed, and its ground truth means what it says."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from evaluation.simulate import run_simulation, simulate
from evaluation.simulate.config import ACCOUNT_KINDS, LOOKALIKE_KINDS, PROMPT_KINDS, SimulationConfig
from evaluation.simulate.noise import NOISE_KINDS, apply_noise
from evaluation.simulate.templates import CAMPAIGN_FAMILIES

from conftest import SHARED_DATA as DATA_DIR

PROMPTS = 3_000


@pytest.fixture(autouse=True)
def _shared_data_present() -> None:
    if not DATA_DIR.is_dir():
        pytest.fail(f"shared datasets not found at {DATA_DIR}; set PROMPTPRINT_SHARED_DATA to the shared/data folder")

FILES = ("traffic.jsonl", "truth.jsonl", "prompts_truth.jsonl", "summary.json")
ZERO_WIDTH = set("\u200b\u200c\u200d\u2060\ufeff")
CYRILLIC = set("\u0430\u0435\u043e\u0440\u0441\u0410\u0415\u041e\u0420\u0421")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    run_simulation(SimulationConfig(prompts=PROMPTS, seed=11), out, DATA_DIR)
    return out


@pytest.fixture(scope="module")
def run(run_dir: Path) -> dict[str, Any]:
    return {
        "traffic": _read_jsonl(run_dir / "traffic.jsonl"),
        "truth": _read_jsonl(run_dir / "truth.jsonl"),
        "prompts": _read_jsonl(run_dir / "prompts_truth.jsonl"),
        "summary": json.loads((run_dir / "summary.json").read_text(encoding="utf-8")),
    }


def test_same_seed_same_bytes_other_seed_differs(run_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    other = tmp_path / "other"
    run_simulation(SimulationConfig(prompts=PROMPTS, seed=11), again, DATA_DIR)
    run_simulation(SimulationConfig(prompts=PROMPTS, seed=12), other, DATA_DIR)
    for name in FILES:
        assert (run_dir / name).read_bytes() == (again / name).read_bytes(), name
    assert (run_dir / "traffic.jsonl").read_bytes() != (other / "traffic.jsonl").read_bytes()


def test_traffic_records_are_well_formed_and_sorted(run: dict[str, Any]) -> None:
    traffic = run["traffic"]
    assert len(traffic) == PROMPTS
    ids = [r["prompt_id"] for r in traffic]
    assert len(set(ids)) == len(ids)
    times = [r["created_at"] for r in traffic]
    assert times == sorted(times)
    for record in traffic:
        assert set(record) <= {"prompt_id", "account_id", "org_id", "created_at", "text"}
        assert record["created_at"].endswith("Z") and len(record["created_at"]) == 20
        assert record["text"].strip()
        assert "campaign" not in record["account_id"] and "campaign" not in record.get("org_id", "")
    assert times[0] >= "2026-02-01T00:00:00Z" and times[-1] < "2026-02-04T00:00:00Z"
    assert any("org_id" not in r for r in traffic), "some benign accounts have no org"


def test_every_account_has_exactly_one_truth_row(run: dict[str, Any]) -> None:
    truth = run["truth"]
    by_account = Counter(row["account_id"] for row in truth)
    assert max(by_account.values()) == 1
    assert {r["account_id"] for r in run["traffic"]} == set(by_account)
    org_in_traffic = {r["account_id"]: r.get("org_id") for r in run["traffic"]}
    for row in truth:
        assert row["label"] in ("campaign", "benign")
        assert row["kind"] in ACCOUNT_KINDS
        assert (row["label"] == "campaign") == (row["kind"] in ("campaign", "hydra"))
        assert (row["campaign_id"] is not None) == (row["label"] == "campaign")
        assert org_in_traffic[row["account_id"]] == row["org_id"]


def test_prompt_truth_matches_traffic(run: dict[str, Any]) -> None:
    prompts = run["prompts"]
    assert [p["prompt_id"] for p in prompts] == [r["prompt_id"] for r in run["traffic"]]
    account_label = {row["account_id"]: row for row in run["truth"]}
    for p, record in zip(prompts, run["traffic"]):
        assert p["account_id"] == record["account_id"]
        assert p["kind"] in PROMPT_KINDS
        assert p["label"] == ("campaign" if p["kind"] == "campaign" else "benign")
        if p["kind"] == "campaign":
            assert p["campaign_id"] == account_label[p["account_id"]]["campaign_id"]
            assert p["template_id"] == f"{p['family_id']}/{p['variant']}"
        if p["kind"] in ("campaign", "hydra_relay"):
            assert account_label[p["account_id"]]["label"] == "campaign"
        else:
            assert account_label[p["account_id"]]["label"] == "benign"
        if p["kind"] in ("ordinary", "hydra_relay"):
            assert p["template_id"] is None
        else:
            assert p["template_id"]


def test_campaigns_use_many_accounts_with_noise_and_variants(run: dict[str, Any]) -> None:
    config = SimulationConfig(**run["summary"]["config"])
    low, high = config.campaign_account_range()
    text = {r["prompt_id"]: r["text"] for r in run["traffic"]}
    per_campaign: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in run["prompts"]:
        if p["kind"] == "campaign":
            per_campaign[p["campaign_id"]].append(p)
    assert len(per_campaign) == config.campaigns
    for campaign_id, prompts in per_campaign.items():
        accounts = {p["account_id"] for p in prompts}
        assert low <= len(accounts) <= high, campaign_id
        variants = {p["variant"] for p in prompts}
        assert any(v.startswith("para") for v in variants), campaign_id
        assert any(v in ("es", "fr", "de") for v in variants), campaign_id
        texts = [text[p["prompt_id"]] for p in prompts]
        assert any(ZERO_WIDTH & set(t) for t in texts), campaign_id
        assert any(CYRILLIC & set(t) for t in texts), campaign_id
    share = sum(len(v) for v in per_campaign.values()) / PROMPTS
    assert 0.15 <= share <= 0.25


def test_campaign_payloads_are_diverse(run: dict[str, Any]) -> None:
    per_family: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in run["prompts"]:
        if p["kind"] == "campaign":
            per_family[(p["campaign_id"], p["family_id"])].append(p["payload_ref"])
    assert sum(len(refs) for refs in per_family.values()) > 0
    for key, refs in per_family.items():
        assert len(set(refs)) >= 0.9 * len(refs), key
    families = {family for _, family in per_family}
    assert len(families) >= min(12, len(CAMPAIGN_FAMILIES))


def test_hydra_and_pivot_are_present(run: dict[str, Any]) -> None:
    kinds = Counter(row["kind"] for row in run["truth"])
    assert kinds["hydra"] > 0
    relays = {p["account_id"] for p in run["prompts"] if p["kind"] == "hydra_relay"}
    hydra = {row["account_id"] for row in run["truth"] if row["kind"] == "hydra"}
    assert relays == hydra
    pivots = [c for c in run["summary"]["campaigns"] if c["pivot"]]
    assert pivots
    first_seen: dict[str, str] = {}
    last_seen: dict[str, str] = {}
    created = {r["prompt_id"]: r["created_at"] for r in run["traffic"]}
    for p in run["prompts"]:
        if p["campaign_id"] == pivots[0]["campaign_id"]:
            first_seen.setdefault(p["family_id"], created[p["prompt_id"]])
            last_seen[p["family_id"]] = created[p["prompt_id"]]
    (new_family,) = pivots[0]["pivot"]["to"]
    assert first_seen[new_family] >= pivots[0]["pivot"]["at"]
    for old in pivots[0]["pivot"]["from"]:
        if old in last_seen:
            assert last_seen[old] <= pivots[0]["pivot"]["transition_end"]


def test_every_lookalike_is_present_and_benign(run: dict[str, Any]) -> None:
    by_kind = Counter(row["kind"] for row in run["truth"])
    for kind in LOOKALIKE_KINDS:
        assert by_kind[kind] > 0, kind
    apps = [row for row in run["truth"] if row["kind"] == "org_app"]
    for org, members in Counter(row["org_id"] for row in apps).items():
        assert 2 <= members <= 5, org
    agents = [row for row in run["truth"] if row["kind"] == "agent_framework"]
    assert len({row["org_id"] for row in agents}) == len(agents)
    public = Counter(p["template_id"].rsplit("/", 1)[0] for p in run["prompts"] if p["kind"] == "popular_public")
    assert public.most_common(1)[0][1] >= 5, "some public prompt is pasted by many accounts"


def test_campaign_orgs_never_hold_benign_accounts(run: dict[str, Any]) -> None:
    campaign_orgs = {row["org_id"] for row in run["truth"] if row["label"] == "campaign"}
    benign_orgs = {row["org_id"] for row in run["truth"] if row["label"] == "benign"}
    assert None not in campaign_orgs
    assert not campaign_orgs & benign_orgs


def test_summary_counts_add_up(run: dict[str, Any]) -> None:
    summary = run["summary"]
    assert summary["prompts"]["total"] == PROMPTS
    assert sum(summary["prompts"]["by_kind"].values()) == PROMPTS
    assert sum(summary["accounts"]["by_kind"].values()) == len(run["truth"])


def test_noise_changes_bytes_not_words() -> None:
    import random

    text = "Please compare the apples and the oranges.\n\nTask: count them"
    for kind in NOISE_KINDS:
        noisy = apply_noise(text, [kind], random.Random(3))
        assert noisy != text or kind == "whitespace", kind
    stripped = "".join(ch for ch in apply_noise(text, ["zero_width"], random.Random(1)) if ch not in ZERO_WIDTH)
    assert stripped == text
    with pytest.raises(ValueError, match="unknown noise kind"):
        apply_noise(text, ["emoji"], random.Random(1))  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompts": -5}, "prompts must be at least"),
        ({"prompts": 1000.0}, "did you mean 1000"),
        ({"campaigns": -1}, "campaigns must be at least 0"),
        ({"campaign_share": 1.5}, "between 0 and 1"),
        ({"campaign_share": 20}, "did you mean 0.2"),
        ({"noise_share": -0.1}, "between 0 and 1"),
        ({"org_app_share": 0.5, "campaign_share": 0.5}, "must leave at least 5%"),
        ({"paraphrase_share": 0.8, "translation_share": 0.3}, "paraphrase_share \\+ translation_share"),
        ({"min_accounts_per_campaign": 0}, "min_accounts_per_campaign must be at least 1"),
        ({"min_accounts_per_campaign": 50, "max_accounts_per_campaign": 10}, "did you swap them"),
        ({"min_accounts_per_campaign": 400, "prompts": 1000}, "cannot give every campaign"),
        ({"benign_accounts": 10**9}, "benign_accounts"),
        ({"days": 0}, "days must be between"),
        ({"start": "yesterday"}, "not an ISO-8601 timestamp"),
        ({"start": "2026-02-01T00:00:00"}, "no time zone"),
    ],
)
def test_config_rejects_nonsense(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**overrides)


def test_benign_only_run_and_fixed_benign_accounts(tmp_path: Path) -> None:
    config = SimulationConfig(prompts=400, campaigns=0, benign_accounts=50, seed=3)
    result = simulate(config, DATA_DIR)
    assert len(result.traffic) == 400
    assert all(row["label"] == "benign" for row in result.accounts)
    assert sum(1 for row in result.accounts if row["kind"] == "ordinary") == 50


def test_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        simulate(SimulationConfig(prompts=300), tmp_path / "nowhere")
