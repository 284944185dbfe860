"""Offline reconstruction end to end: a data dir filled through a real server, the
`promptprint campaigns` CLI, its files, ListCampaigns/GetCampaign and the `campaign`
CLI against the server, and report.html as headless Chromium renders it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pyarrow.parquet as pq
import pytest

from promptprint.index.config import IndexConfig
from promptprint.records import PromptRecord, format_timestamp
from promptprint.reconstruct.corpus import corpus_from_records, corpus_from_store
from promptprint.reconstruct.membership import CampaignMembership
from promptprint.reconstruct.outputs import latest
from promptprint.text.skeleton import signature
from promptprint.client import error_info
from promptprint.v1 import fingerprint_pb2 as pb

from conftest import REPO, ServerThread

T0 = 1_770_000_000_000  # 2026-02-02
MIN = 60_000
GRADER = (
    "Rate the following response from 1-10 for helpfulness, correctness and clarity. First explain your reasoning "
    "in two or three sentences, then output the score on the last line as 'Score: N'.\nQuestion: {}\nResponse: {}"
)
PIVOT = "You are a meticulous teacher. Write a model answer to the exercise below, show every step, and end with FINAL: and the answer.\nExercise: {}"
PUBLIC = "I want you to act as a travel guide. I will write you my location and you will suggest a place to visit near my location."


def _traffic(texts: list[str]) -> list[PromptRecord]:
    records = []
    for i in range(36):  # 12 throw-away accounts in 12 orgs, three synchronized rounds...
        a = i % 12
        records.append(PromptRecord(f"c-{i}", f"acct-{a}", f"org-{a}", T0 + (i // 12) * 30 * MIN + a * 2000,
                                    GRADER.format(texts[2 * i], texts[2 * i + 1])))
    for i in range(24):  # ... then the same accounts pivot to a new template the next day
        a = i % 12
        records.append(PromptRecord(f"v-{i}", f"acct-{a}", f"org-{a}", T0 + 24 * 60 * MIN + i * 7 * MIN, PIVOT.format(texts[100 + i])))
    for i in range(20):  # 20 people paste a popular public prompt, and mostly send other things
        records.append(PromptRecord(f"pub-{i}", f"person-{i}", "", T0 + i * 37 * MIN, PUBLIC))
        for j in range(3):
            records.append(PromptRecord(f"o-{i}-{j}", f"person-{i}", "", T0 + i * 37 * MIN + (j + 1) * 5 * MIN, texts[200 + 3 * i + j]))
    return records


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "promptprint.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=os.environ | {"HF_HUB_OFFLINE": "1"})


def _png_colours(path: Path) -> set[tuple[int, int, int]]:
    """Distinct RGB colours of a screenshot."""
    from PIL import Image

    with Image.open(path) as image:
        return {c[:3] for _, c in image.convert("RGB").getcolors(maxcolors=1 << 24)}


@pytest.fixture(scope="module")
def reconstructed(tmp_path_factory, embedder, alpaca_texts):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("rec") / "data"
    server = ServerThread(IndexConfig(data_dir=data_dir), embedder).start()
    with server.client() as client:
        assert client.ingest(_traffic(alpaca_texts)).accepted == 140
        client.wait_indexed(600)  # the reconstruction reuses stored vectors, embedded behind the acknowledgement
        with pytest.raises(grpc.RpcError) as before:
            client.list_campaigns()
        assert before.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(before.value).reason == "NO_RECONSTRUCTION"  # type: ignore[union-attr]
    run = _cli("campaigns", "--data-dir", str(data_dir))  # the server keeps running meanwhile
    assert run.returncode == 0, run.stderr
    yield server, data_dir, latest(data_dir), run.stdout, run.stderr
    server.stop()


def _top_id(out: Path) -> str:
    return json.loads((out / "campaigns.jsonl").read_text().splitlines()[0])["campaign_id"]


def test_cli_writes_every_output(reconstructed) -> None:  # type: ignore[no-untyped-def]
    _, data_dir, out, stdout, stderr = reconstructed
    assert out is not None and out.parent == (data_dir / "reconstructions").resolve()
    top_id = _top_id(out)
    assert top_id in stdout and "under score 0.30" in stdout  # the campaigns under the threshold, in one line
    for stage in ("loading", "replay", "k-NN", "attribution"):  # a progress bar per long stage, on stderr
        assert stage in stderr, stage
    for name in ("campaigns.jsonl", "campaigns.parquet", "templates.parquet", "campaign_accounts.parquet",
                 "campaign_prompts.parquet", "campaign_templates.parquet", "manifest.json", "report.html"):
        assert (out / name).is_file(), name
    campaigns = [json.loads(line) for line in (out / "campaigns.jsonl").read_text().splitlines()]
    top = campaigns[0]
    assert top["campaign_id"] == top_id and top["rank"] == 1 and top["score"] >= 0.5
    assert all(c["score"] >= 0.3 for c in campaigns)  # the default --min-score
    assert "unreported" in json.loads((out / "manifest.json").read_text())
    assert {a["account_id"] for a in top["account_list"]} == {f"acct-{a}" for a in range(12)}
    assert top["prompts"] == 60 and len(top["templates"]) == 2  # the pivot is part of the campaign
    grader, pivot = top["templates"]
    assert grader["text"].startswith("rate the following response from {1:num} - {2:num} for helpfulness")
    assert "question: {3} response: {4}" in grader["text"] and "exercise: {1}" in pivot["text"]
    assert all(a["total_prompts"] == a["prompts"] for a in top["account_list"])  # dedicated accounts
    assert all(a["share"] == 1.0 and a["confidence"] > 0.9 for a in top["account_list"])
    public = [c for c in campaigns if any("travel guide" in t["text"] for t in c["templates"])]
    assert not public  # 20 people who pasted it once among other things are incidental, not a campaign
    prompts = pq.read_table(out / "campaign_prompts.parquet").to_pylist()
    assert sum(p["campaign_id"] == top_id for p in prompts) == 60
    assert {p["prompt_id"][:2] for p in prompts if p["campaign_id"] == top_id} == {"c-", "v-"}
    accounts = pq.read_table(out / "campaign_accounts.parquet").to_pylist()
    assert sum(a["campaign_id"] == top_id for a in accounts) == 12
    assert all(a["share"] == 1.0 for a in accounts if a["campaign_id"] == top_id)
    templates = pq.read_table(out / "templates.parquet").to_pylist()
    assert [t["slot_count"] for t in templates if t["campaign_id"] == top_id] == [4, 1]
    assert pq.read_table(out / "campaigns.parquet").column("campaign_id").to_pylist() == [c["campaign_id"] for c in campaigns]


def test_both_sources_embed_the_same_text_and_keep_ids(reconstructed, embedder, alpaca_texts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One recipe: the same prompts read from the data dir (stored vectors) and from a
    file (embedded here) give the same vectors bit for bit, and the same campaign id."""
    _, data_dir, out, _, _ = reconstructed
    stored = corpus_from_store(data_dir)
    from_file = corpus_from_records(_traffic(alpaca_texts), embedder.embed)
    assert stored.prompt_ids == from_file.prompt_ids
    assert np.array_equal(stored.vectors, from_file.vectors)
    source = tmp_path / "traffic.jsonl"
    source.write_text("".join(json.dumps({"prompt_id": r.prompt_id, "account_id": r.account_id, "org_id": r.org_id,
                                          "created_at": format_timestamp(r.created_at_ms), "text": r.text}) + "\n"
                              for r in _traffic(alpaca_texts)))
    run = _cli("campaigns", str(source), "--out", str(tmp_path / "rec"), "--no-progress")
    assert run.returncode == 0, run.stderr
    assert "k-NN" not in run.stderr and "embedding" not in run.stderr  # --no-progress: no bars
    assert _top_id(tmp_path / "rec") == _top_id(out)


def test_membership_names_the_campaign_of_a_new_prompt(reconstructed, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    _, data_dir, out, _, _ = reconstructed
    membership = CampaignMembership(data_dir)
    assert membership.campaign_of(signature(GRADER.format(alpaca_texts[400], alpaca_texts[401])), None) == _top_id(out)
    assert membership.campaign_of(signature(PIVOT.format(alpaca_texts[402])), None) == _top_id(out)
    assert membership.campaign_of(signature(PUBLIC), None) is None
    assert membership.campaign_of(signature(alpaca_texts[403]), None) is None


def test_check_prompt_names_the_reconstructed_campaign(reconstructed, alpaca_texts) -> None:  # type: ignore[no-untyped-def]
    """Once a reconstruction is published, the running server's CheckPrompt (and its
    stream) names the campaign a prompt's template belongs to; other prompts name none."""
    server, _, out, _, _ = reconstructed
    time.sleep(1.1)  # the server looks for a newly published reconstruction at most once a second
    with server.client() as client:
        campaign = GRADER.format(alpaca_texts[410], alpaca_texts[411])
        assert client.check_prompt(text=campaign, account_id="probe").campaign.reconstructed_campaign_id == _top_id(out)
        assert client.check_prompt(text=PUBLIC, account_id="probe").campaign.reconstructed_campaign_id == ""
        probes = [PromptRecord(f"probe-{i}", "probe", "", T0 + 3 * 24 * 60 * MIN, text) for i, text in enumerate((campaign, PUBLIC))]
        named = [r.verdict.campaign.reconstructed_campaign_id for r in client.check_prompts(probes, record=False)]
        assert named == [_top_id(out), ""]


def test_list_and_get_campaigns_over_grpc(reconstructed) -> None:  # type: ignore[no-untyped-def]
    server, _, out, _, _ = reconstructed
    top_id = _top_id(out)
    with server.client() as client:
        everything = client.list_campaigns()
        assert everything[0].campaign_id == top_id and everything[0].account_count == 12
        assert [c.score for c in everything] == sorted((c.score for c in everything), reverse=True)
        assert len(client.list_campaigns(page_size=1)) == len(everything)  # pages followed
        assert [c.campaign_id for c in client.list_campaigns(min_score=0.5)] == [top_id]
        assert client.list_campaigns(end=T0 - 1) == []  # nothing ran before the traffic
        assert len(client.list_campaigns(start=T0 + 24 * 60 * MIN)) >= 1  # the pivot ran then
        campaign = client.get_campaign(top_id, account_limit=5)
        assert campaign.summary.prompt_count == 60 and len(campaign.accounts) == 5
        assert campaign.repeat_account_count == 12 and campaign.burst_account_count == 12
        assert [d.prompt_count for d in campaign.volume_per_day] == [36, 24]
        parts = campaign.templates[0].parts
        assert [p.slot_type for p in parts if p.slot] == ["num", "num", "text", "text"]
        assert parts[0].text.startswith("rate the following response") and campaign.templates[0].examples
        cases = [
            (lambda: client.get_campaign("c-9999"), grpc.StatusCode.NOT_FOUND, "CAMPAIGN_NOT_FOUND"),
            (lambda: client.get_campaign(""), grpc.StatusCode.INVALID_ARGUMENT, "CAMPAIGN_ID_MISSING"),
            (lambda: client.list_campaigns(min_score=2.0), grpc.StatusCode.INVALID_ARGUMENT, "MIN_SCORE_OUT_OF_RANGE"),
            (lambda: client._stub.ListCampaigns(pb.ListCampaignsRequest(page_token="nope")), grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID"),
            (lambda: client._stub.ListCampaigns(pb.ListCampaignsRequest(page_size=5000)), grpc.StatusCode.INVALID_ARGUMENT, "PAGE_SIZE_OUT_OF_RANGE"),
        ]
        for call, code, reason in cases:
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == code and error_info(caught.value).reason == reason  # type: ignore[union-attr]


def test_campaign_cli_verbs(reconstructed) -> None:  # type: ignore[no-untyped-def]
    server, _, out, _, _ = reconstructed
    top_id = _top_id(out)
    listing = _cli("campaign", "list", "--min-score", "0.5", "--target", server.target, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0].startswith(f"{top_id}  score") and "12 accounts" in listing.stdout
    shown = _cli("campaign", "show", top_id, "--target", server.target, timeout=60)
    assert shown.returncode == 0 and "template t-" in shown.stdout and "acct-" in shown.stdout
    missing = _cli("campaign", "show", "c-9999", "--target", server.target, timeout=60)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


def test_report_as_chromium_renders_it(reconstructed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, out, _, _ = reconstructed
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed; `make test` installs it (make chromium)")
    report = (out / "report.html").resolve()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--blink-settings=imagesEnabled=true"]
    dom = subprocess.run([*flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert "<title>promptprint — campaign reconstruction</title>" in html
    assert "140 prompts from 32 accounts" in html and "Campaigns by score" in html
    assert f"#1 · Campaign {_top_id(out)} — score" in html and "Why this score" in html
    assert html.count('<mark class="slot"') >= 5 and html.count("<circle") >= 60  # slots and timeline dots
    assert "acct-0" in html and format_timestamp(T0)[:10] in html
    shot = tmp_path / "report.png"
    run = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,3200", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.is_file(), run.stderr
    colours = _png_colours(shot)
    assert (255, 213, 79) in colours  # a highlighted slot is on screen
    assert (214, 39, 40) in colours  # the score bars
    assert len(colours) > 50  # text, charts and dots, not a blank page
