"""Campaign detection through a real server: CheckPrompt's campaign verdict, banks over
gRPC and the CLI, and template state surviving a restart."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest

from promptprint.index.config import IndexConfig
from promptprint.records import PromptRecord
from promptprint.client import PromptprintClient, error_info
from promptprint.v1 import fingerprint_pb2 as pb

from conftest import REPO, ServerThread

T0 = 1_770_000_000_000
MIN = 60_000
GRADER = (
    "Rate the following response from 1-10 for helpfulness, correctness and clarity. First explain your reasoning "
    "in two or three sentences, then output the score on the last line as 'Score: N'.\nQuestion: {}\nResponse: {}"
)
PUBLIC = "I want you to act as a travel guide. I will write you my location and you will suggest a place to visit near my location."


def _traffic(alpaca_texts: list[str]) -> list[PromptRecord]:
    records = []
    for i in range(45):  # 15 accounts in 15 orgs, three rounds of synchronized bursts over more than one sitting
        account = i % 15
        records.append(
            PromptRecord(f"c-{i}", f"acct-{account}", f"org-{account}", T0 + (i // 15) * 70 * MIN + account * 2000,
                         GRADER.format(alpaca_texts[2 * i], alpaca_texts[2 * i + 1]))
        )
    for i in range(30):  # 30 unrelated people paste the same public prompt
        records.append(PromptRecord(f"pub-{i}", f"person-{i}", "", T0 + i * 17 * MIN, PUBLIC))
    return records


def _check(client: PromptprintClient, text: str, account: str = "newcomer", t: int = T0 + 20 * 3600 * 1000) -> pb.CheckPromptResponse:
    return client.check_prompt(text=text, account_id=account, created_at=t)


def test_campaign_is_flagged_and_lookalike_is_not(index_config: IndexConfig, embedder, alpaca_texts: list[str]) -> None:  # type: ignore[no-untyped-def]
    server = ServerThread(index_config, embedder).start()
    try:
        with server.client() as client:
            summary = client.ingest(_traffic(alpaca_texts))
            assert summary.accepted == 75
            verdict = _check(client, GRADER.format(alpaca_texts[200], alpaca_texts[201]))
            c = verdict.campaign
            assert c.flagged and c.score >= 0.5 and c.threshold == 0.5 and c.template_id > 0
            assert c.level == pb.CAMPAIGN_LEVEL_FLAGGED
            assert (c.activity.accounts, c.activity.orgs, c.activity.volume, c.activity.repeat_accounts) == (15, 15, 45, 15)
            assert c.activity.burst_accounts == 15
            assert any("15 accounts in 15 orgs used this template 45 times" in r for r in c.reasons)
            popular = _check(client, PUBLIC)
            assert not popular.campaign.flagged and popular.campaign.score < 0.1
            assert popular.fanout.distinct_other_accounts >= 20  # wide reach, yet no campaign
            assert not _check(client, "continue").campaign.flagged
            assert client.stats().template_count >= 2
        server.stop()
        # the template state is rebuilt from the record store on restart
        restarted = ServerThread(index_config, embedder).start()
        with restarted.client() as client:
            again = _check(client, GRADER.format(alpaca_texts[200], alpaca_texts[201]))
            assert again.campaign.flagged and again.campaign.score == pytest.approx(verdict.campaign.score, abs=1e-4)
        restarted.stop()
    finally:
        if server.running is not None and server._thread.is_alive():  # noqa: SLF001
            server.stop()


def test_banks_over_grpc(client: PromptprintClient, alpaca_texts: list[str]) -> None:
    template = "Translate the following passage into formal legal English, preserving every clause number: {}"
    probe = template.format(alpaca_texts[3])
    assert not _check(client, probe).campaign.flagged
    entry = client.create_bank_entry("deny", template.format("{passage}"), note="seen in campaign 42")
    assert entry.entry_id > 0 and entry.kind == pb.BANK_KIND_DENY and entry.source == "user"
    denied = _check(client, probe).campaign
    assert denied.flagged and denied.score >= 0.95 - 1e-6  # float32 on the wire
    assert (denied.bank_entry_id, denied.bank_kind) == (entry.entry_id, pb.BANK_KIND_DENY)
    assert any("deny-bank entry" in r and "campaign 42" in r for r in denied.reasons)

    everything = client.list_bank_entries()
    assert everything[-1].entry_id == entry.entry_id and any(e.source == "builtin" for e in everything)
    assert [e.entry_id for e in client.list_bank_entries("deny")] == [entry.entry_id]
    assert len(client.list_bank_entries(page_size=2)) == len(everything)  # pages followed to the end

    assert client.delete_bank_entry(entry.entry_id).entry_id == entry.entry_id
    assert not _check(client, probe).campaign.flagged


def test_create_bank_entry_retried_over_grpc_returns_the_same_entry(client: PromptprintClient) -> None:
    text = "Rewrite the following product review so that it sounds enthusiastic and mentions free shipping: {review}"
    first = client.create_bank_entry("deny", text, note="first")
    retried = client.create_bank_entry("deny", text, note="retry")
    assert retried.entry_id == first.entry_id and retried.note == "first"
    assert [e.entry_id for e in client.list_bank_entries("deny")] == [first.entry_id]


@pytest.mark.parametrize(
    "call, code, reason",
    [
        (lambda c: c.create_bank_entry("sideways", "a perfectly long enough template text for the bank here"), grpc.StatusCode.INVALID_ARGUMENT, "BANK_KIND_INVALID"),
        (lambda c: c.create_bank_entry("deny", "too short"), grpc.StatusCode.INVALID_ARGUMENT, "BANK_TEXT_TOO_SHORT"),
        (lambda c: c.create_bank_entry("allow", ""), grpc.StatusCode.INVALID_ARGUMENT, "TEXT_EMPTY"),
        (lambda c: c.delete_bank_entry(999_999), grpc.StatusCode.NOT_FOUND, "BANK_ENTRY_NOT_FOUND"),
        (lambda c: c._stub.ListBankEntries(pb.ListBankEntriesRequest(page_token="garbage")), grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID"),
        (lambda c: c._stub.ListBankEntries(pb.ListBankEntriesRequest(page_size=5000)), grpc.StatusCode.INVALID_ARGUMENT, "PAGE_SIZE_OUT_OF_RANGE"),
    ],
)
def test_bank_bad_input(client: PromptprintClient, call, code: grpc.StatusCode, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(client)
    assert caught.value.code() == code
    assert error_info(caught.value).reason == reason  # type: ignore[union-attr]


def test_bank_cli_verbs(server: ServerThread) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "promptprint.cli", "bank", *args, "--target", server.target],
            cwd=REPO, capture_output=True, text=True, timeout=60, env=os.environ | {"HF_HUB_OFFLINE": "1"},
        )

    added = cli("add", "--deny", "Summarize the following contract clause by clause and list every obligation: {clause}", "--note", "cli test")
    assert added.returncode == 0, added.stderr
    entry_id = int(added.stdout.split()[-1])
    listing = cli("list", "--deny")
    assert str(entry_id) in listing.stdout and "cli test" in listing.stdout
    assert cli("remove", str(entry_id)).returncode == 0
    missing = cli("remove", str(entry_id))
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
