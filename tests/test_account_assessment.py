"""Account-level campaign verdicts: the library on a real template tracker fed real texts,
then GetAccountAssessment through a real server and `promptprint account` against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from promptprint.client import PromptprintClient, error_info
from promptprint.errors import InvalidArgument, NotFound
from promptprint.records import PromptRecord, now_ms
from promptprint.server.auth import required_role
from promptprint.templates.account_assessment import AccountAssessment, assess_account
from promptprint.templates.scoring import BankHit
from promptprint.templates.tracker import Event, TemplateTracker
from promptprint.text.skeleton import signature
from promptprint.v1 import fingerprint_pb2 as pb

from conftest import ServerThread

REPO = Path(__file__).resolve().parents[1]
T0 = 1_770_000_000_000
MIN = 60_000
HOUR = 60 * MIN

ANALYST = "You are an expert data analyst. Reason step by step about the following task and give your final answer after 'ANSWER:'.\n\nTask: {}"
ASSIGNMENT = (
    "ENG 101, assignment 3: read the passage below and write a critical response of about 300 words on its argument, "
    "its structure and its use of evidence. Submit before Friday.\n\n{}"
)


def _record(tracker: TemplateTracker, text: str, account: str, t: int, org: str = "") -> None:
    tracker.record(signature(text), Event(t, account, org))


@pytest.fixture(scope="module")
def traffic(alpaca_texts: list[str]) -> TemplateTracker:
    """One day of mixed traffic in one tracker:

    * a campaign: 20 accounts in 20 orgs, 5 prompts each over five rounds 70 minutes apart,
      every prompt the analyst wrapper around a new payload, and nothing else;
    * a class: 31 students without an org, each pasting the assignment with 2 essays of
      their own within 20 minutes, the whole class within 90 minutes;
    * a bystander: 40 prompts of its own over the day and one of the campaign's wrapper.
    """
    tracker = TemplateTracker()
    payloads = iter(alpaca_texts)
    for i in range(100):
        _record(tracker, ANALYST.format(next(payloads)), f"c{i % 20}", T0 + (i % 20) * 1000 + (i // 20) * 70 * MIN, org=f"co{i % 20}")
    essays = iter(t for t in alpaca_texts[2000:] if len(t) > 120)
    for s in range(31):
        for k in range(2):
            _record(tracker, ASSIGNMENT.format(next(essays)), f"s{s}", T0 + 8 * HOUR + s * 2 * MIN + k * 15 * MIN)
    own = alpaca_texts[3000:3040]
    for k, text in enumerate(own):
        _record(tracker, text, "bystander", T0 + k * 30 * MIN, org="bo")
    _record(tracker, ANALYST.format(next(payloads)), "bystander", T0 + 6 * HOUR, org="bo")
    return tracker


def _assess(tracker: TemplateTracker, account: str, bank: BankHit | None = None, now: int | None = T0 + 21 * HOUR) -> AccountAssessment:
    return assess_account(tracker, account, now, lambda _: bank, threshold=0.5, window_ms=tracker.window_ms)


def test_a_committed_campaign_account_is_flagged_with_its_group_and_share(traffic: TemplateTracker) -> None:
    verdict = _assess(traffic, "c3")
    assert verdict.flagged and verdict.level == "flagged" and verdict.score >= 0.5
    assert verdict.prompts == 5
    assert (verdict.first_seen_ms, verdict.last_seen_ms) == (T0 + 3000, T0 + 3000 + 4 * 70 * MIN)
    group = verdict.groups[0]
    assert group.level == "flagged" and group.share == 1.0 and group.prompts == 5
    assert group.campaign.template_id in group.template_ids and group.group_id in group.template_ids
    assert (group.first_use_ms, group.last_use_ms) == (verdict.first_seen_ms, verdict.last_seen_ms)
    assert any("dedicated" in r for r in group.campaign.reasons)
    assert any("100% of its prompts (5)" in r for r in verdict.reasons)
    # by default the window ends at the account's latest prompt: the same verdict
    assert _assess(traffic, "c3", now=None) == _assess(traffic, "c3", now=verdict.last_seen_ms)


def test_a_student_of_a_class_pasting_one_assignment_is_at_most_watched(traffic: TemplateTracker) -> None:
    for student in ("s0", "s17", "s30"):
        verdict = _assess(traffic, student)
        assert not verdict.flagged and verdict.level in ("none", "watch"), verdict
        assert verdict.prompts == 2
        assert verdict.groups and verdict.groups[0].share == 1.0 and verdict.groups[0].campaign.features is not None
        assert verdict.groups[0].campaign.features.accounts == 31


def test_a_bystander_on_a_campaign_template_is_watched_not_flagged(traffic: TemplateTracker) -> None:
    campaign = _assess(traffic, "c3").groups[0]
    verdict = _assess(traffic, "bystander")
    assert verdict.prompts == 41
    assert not verdict.flagged and verdict.level == "watch"
    (group,) = [g for g in verdict.groups if g.group_id == campaign.group_id]
    assert group.prompts == 1 and group.share == pytest.approx(1 / 41)
    assert group.level == "watch" and group.score < 0.5
    assert any("bystander" in r for r in group.campaign.reasons)
    assert any("watched rather than flagged" in r for r in verdict.reasons)


def test_an_instruction_line_campaign_flags_its_accounts_and_watches_a_bystander(alpaca_texts: list[str]) -> None:
    """Nearly all payload: a short instruction line over a different long paste every time."""
    tracker = TemplateTracker()
    passages = [t for t in alpaca_texts if len(t) > 150]
    documents = iter(" ".join(passages[i : i + 3]) for i in range(0, 900, 3))
    for i in range(120):  # 24 accounts in 24 orgs, 5 prompts each over five rounds 70 minutes apart
        _record(tracker, "Summarize the key risks:\n\n" + next(documents), f"c{i % 24}", T0 + (i % 24) * 1000 + (i // 24) * 70 * MIN, org=f"o{i % 24}")
    for k in range(40):
        _record(tracker, alpaca_texts[3000 + k], "bystander", T0 + k * 20 * MIN, org="bo")
    _record(tracker, "Summarize the key risks:\n\n" + next(documents), "bystander", T0 + 5 * HOUR, org="bo")
    member = _assess(tracker, "c5")
    assert member.flagged and member.groups[0].share == 1.0
    line = member.groups[0].campaign
    assert line.features is not None and line.features.kind == "line" and line.level == "flagged"
    assert any(f"to instruction line {line.template_id}" in r for r in member.reasons)
    bystander = _assess(tracker, "bystander")
    assert not bystander.flagged and bystander.level == "watch"
    assert bystander.groups[0].group_id == line.template_id and bystander.groups[0].campaign.level == "none"


def test_banks_apply_to_the_account(traffic: TemplateTracker) -> None:
    allowed = _assess(traffic, "c3", BankHit(1, "allow", "our own eval harness"))
    assert not allowed.flagged and allowed.level == "none" and allowed.score <= 0.05
    assert any("allow-bank entry 1" in r for r in allowed.groups[0].campaign.reasons)
    # a deny match floors the template's score, but a bystander's small share still weighs it down
    denied = _assess(traffic, "bystander", BankHit(2, "deny", "known campaign"))
    assert not denied.flagged and denied.level == "watch"
    assert _assess(traffic, "c3", BankHit(2, "deny", "known campaign")).flagged


def test_an_unknown_account_is_not_found(traffic: TemplateTracker) -> None:
    for now in (None, T0 + HOUR):
        with pytest.raises(NotFound) as caught:
            _assess(traffic, "nobody", now=now)
        assert caught.value.reason == "ACCOUNT_NOT_FOUND" and caught.value.field == "account_id"


def _traffic_records(alpaca_texts: list[str]) -> list[PromptRecord]:
    """The campaign of :func:`traffic` and a bystander with 10 prompts of its own and one
    of the campaign's wrapper, as records."""
    records = [
        PromptRecord(f"c-{i}", f"c{i % 20}", f"co{i % 20}", T0 + (i % 20) * 1000 + (i // 20) * 70 * MIN, ANALYST.format(alpaca_texts[i]))
        for i in range(100)
    ]
    records += [PromptRecord(f"b-{k}", "bystander", "bo", T0 + k * 30 * MIN, alpaca_texts[3000 + k]) for k in range(10)]
    records.append(PromptRecord("b-campaign", "bystander", "bo", T0 + 6 * HOUR, ANALYST.format(alpaca_texts[500])))
    return records


def _refusal(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    info = error_info(caught.value)
    return caught.value.code(), info.reason if info else ""  # type: ignore[attr-defined]


def test_get_account_assessment_over_grpc(client: PromptprintClient, server: ServerThread, alpaca_texts: list[str]) -> None:
    summary = client.ingest(_traffic_records(alpaca_texts), batch_size=64)
    assert (summary.accepted, summary.rejected) == (111, 0)
    verdict = client.get_account_assessment("c3")
    assert verdict.account_id == "c3" and verdict.level == pb.CAMPAIGN_LEVEL_FLAGGED and verdict.flagged
    assert verdict.threshold == pytest.approx(0.5) and verdict.score >= 0.5 and verdict.prompt_count == 5
    assert verdict.first_seen.ToMilliseconds() == T0 + 3000 and verdict.last_seen.ToMilliseconds() == T0 + 3000 + 4 * 70 * MIN
    group = verdict.groups[0]
    assert group.level == pb.CAMPAIGN_LEVEL_FLAGGED and group.share == 1.0 and group.prompt_count == 5
    assert group.campaign.template_id in group.template_ids and group.campaign.level == pb.CAMPAIGN_LEVEL_FLAGGED
    assert group.campaign.activity.accounts == 21 and group.first_use.ToMilliseconds() == T0 + 3000
    # the same as the library says
    assert server.index is not None
    library = server.index.assess_account("c3")
    assert (library.score, library.reasons) == (pytest.approx(verdict.score), tuple(verdict.reasons))
    bystander = client.get_account_assessment("bystander")
    assert bystander.level == pb.CAMPAIGN_LEVEL_WATCH and not bystander.flagged and bystander.prompt_count == 11
    # errors: NOT_FOUND with its reason, INVALID_ARGUMENT for no account
    assert _refusal(lambda: client.get_account_assessment("nobody")) == (grpc.StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND")
    assert _refusal(lambda: client.get_account_assessment("")) == (grpc.StatusCode.INVALID_ARGUMENT, "ACCOUNT_ID_MISSING")
    with pytest.raises(InvalidArgument):
        server.index.assess_account("")
    assert required_role("/promptprint.v1.FingerprintService/GetAccountAssessment") == "lookup"
    # CheckPrompt's assessment carries the level
    checked = client.check_prompt(text=ANALYST.format(alpaca_texts[600]), account_id="c3", created_at=T0 + 6 * HOUR)
    assert checked.campaign.flagged and checked.campaign.level == pb.CAMPAIGN_LEVEL_FLAGGED
    plain = client.check_prompt(text=alpaca_texts[4000], account_id="someone", created_at=T0 + 6 * HOUR)
    assert plain.campaign.level == pb.CAMPAIGN_LEVEL_NONE and not plain.campaign.flagged
    # an allow-bank entry for the wrapper applies to the account at once
    entry = client.create_bank_entry("allow", ANALYST.format("Summarize the quarterly figures in a table."), note="our eval harness")
    allowed = client.get_account_assessment("c3")
    assert allowed.level == pb.CAMPAIGN_LEVEL_NONE and not allowed.flagged and allowed.score == pytest.approx(0.05)
    assert allowed.groups[0].campaign.bank_entry_id == entry.entry_id


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptprint.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=120,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )


def test_promptprint_account_prints_the_verdict(client: PromptprintClient, server: ServerThread, alpaca_texts: list[str]) -> None:
    client.ingest(_traffic_records(alpaca_texts), batch_size=64)
    shown = _cli("account", "c3", "--target", server.target)
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert first.startswith("account c3: FLAGGED (score ") and "5 prompts in the window" in first
    assert "100% of its prompts (5)" in shown.stdout and "dedicated" in shown.stdout
    raw = _cli("account", "bystander", "--target", server.target, "--json")
    assert raw.returncode == 0, raw.stderr
    message = json.loads(raw.stdout)
    assert message["account_id"] == "bystander" and message["level"] == "CAMPAIGN_LEVEL_WATCH" and message["prompt_count"] == "11"
    assert {g["level"] for g in message["groups"]} >= {"CAMPAIGN_LEVEL_WATCH"}
    missing = _cli("account", "nobody", "--target", server.target)
    assert missing.returncode == 1 and "NOT_FOUND [ACCOUNT_NOT_FOUND]" in missing.stderr
