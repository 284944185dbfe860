"""The promptprint command end to end: a real server process, real files, SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptprint.cli.dispatch import VERBS
from promptprint.records import PromptRecord, format_timestamp
from promptprint.local_server import LocalServer

REPO = Path(__file__).resolve().parents[1]
PROMPTPRINT = [sys.executable, "-m", "promptprint.cli"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PROMPTPRINT, *args], cwd=REPO, capture_output=True, text=True, timeout=300, env=os.environ | {"HF_HUB_OFFLINE": "1"})


def _write_jsonl(path: Path, records: list[PromptRecord], extra_lines: list[str] = []) -> None:  # noqa: B006
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            row = {"prompt_id": r.prompt_id, "account_id": r.account_id, "created_at": format_timestamp(r.created_at_ms), "text": r.text}
            if r.org_id:
                row["org_id"] = r.org_id
            fh.write(json.dumps(row) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")


@pytest.mark.slow
def test_serve_ingest_query_replay_restart(tmp_path: Path, corpus: list[PromptRecord]) -> None:
    data = tmp_path / "data"
    batch = tmp_path / "batch.jsonl"
    bad_account = json.dumps({"prompt_id": "bad-1", "account_id": "", "created_at": "2026-02-01T00:00:00Z", "text": "x"})
    _write_jsonl(batch, corpus[:120], ["{broken", bad_account])
    # policy all: this test checks that every prompt gets its vector across a restart
    server = LocalServer(data, ["--embedding-policy", "all"], log_path=tmp_path / "server.log").start()
    try:
        ingest = _cli("ingest", str(batch), "--target", server.target, "--no-progress")
        assert ingest.returncode == 0, ingest.stderr
        assert "accepted 120, duplicate 0, rejected 2 (1 unreadable, 1 refused by the server)" in ingest.stdout
        assert f"{batch}:121: unreadable [MALFORMED_JSON]" in ingest.stderr
        assert f"{batch}:122: rejected [ACCOUNT_ID_MISSING]" in ingest.stderr

        query = _cli("query", corpus[5].text, "--target", server.target, "--k", "3")
        assert query.returncode == 0, query.stderr
        header, first = query.stdout.splitlines()[:2]
        assert header.split()[:3] == ["similarity", "prompt_id", "account_id"]
        assert first.split()[1] == corpus[5].prompt_id

        live = tmp_path / "live.jsonl"
        _write_jsonl(live, list(reversed(corpus[120:160])) + corpus[:2])  # out of order; two already known
        verdicts = tmp_path / "verdicts.jsonl"
        replay = _cli("replay", str(live), "--out", str(verdicts), "--target", server.target, "--no-progress")
        assert replay.returncode == 0, replay.stderr
        rows = [json.loads(line) for line in verdicts.read_text().splitlines()]
        assert len(rows) == 42
        created = [r["window_end"] for r in rows]
        assert created == sorted(created)  # sent in created_at order
        outcomes = {r["prompt_id"]: r["record_outcome"] for r in rows}
        assert outcomes[corpus[0].prompt_id] == "RECORD_OUTCOME_DUPLICATE"
        assert outcomes[corpus[150].prompt_id] == "RECORD_OUTCOME_RECORDED"
        assert {"fanout", "examples", "min_similarity", "window_start"} <= set(rows[0])
    finally:
        assert server.stop() == 0  # SIGTERM: graceful, final snapshot written

    assert (data / "snapshots" / "CURRENT").exists()
    restarted = LocalServer(data, ["--embedding-policy", "all"], log_path=tmp_path / "server.log").start()
    try:
        stats = json.loads(_cli("stats", "--target", restarted.target).stdout)
        # prompts recorded by the replay may still wait for their vectors (embedded behind)
        assert stats["prompt_count"] == "160"
        assert int(stats["indexed_count"]) + int(stats.get("pending_vectors", 0)) == 160
        again = _cli("query", corpus[5].text, "--target", restarted.target, "--k", "3")
        assert again.stdout == query.stdout
    finally:
        restarted.stop()


def test_server_refuses_a_data_dir_of_another_model(tmp_path: Path) -> None:
    from promptprint.storage.store import RecordStore
    from promptprint.storage.identity import StoreIdentity

    data = tmp_path / "data"
    RecordStore(data / "records.sqlite", StoreIdentity("another-model", 384, "norm-1", "skel-1")).close()
    result = subprocess.run(
        [*PROMPTPRINT, "serve", "--data-dir", str(data), "--listen", "127.0.0.1:0"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert "another-model" in result.stderr and "other fingerprint settings" in result.stderr


def test_client_verbs_report_an_unreachable_server() -> None:
    result = _cli("stats", "--target", "127.0.0.1:1", "--timeout", "2")
    assert result.returncode == 1 and "UNAVAILABLE" in result.stderr


@pytest.mark.slow
def test_reindex_killed_then_resumed_and_strict(tmp_path: Path, corpus: list[PromptRecord]) -> None:
    """A real `promptprint reindex` process is SIGKILLed mid-way; the rerun continues from
    its checkpoint and ends with every record, the bad lines reported as file:line."""
    import signal
    import time

    source = tmp_path / "in.jsonl"
    bad_text = json.dumps({"prompt_id": "no-text", "account_id": "a-1", "created_at": "2026-02-01T00:00:00Z", "text": ""})
    _write_jsonl(source, corpus[:120], ["{broken", bad_text])
    data = tmp_path / "data"
    checkpoint = data / "reindex.checkpoint.json"
    job = subprocess.Popen([*PROMPTPRINT, "reindex", str(source), "--data-dir", str(data), "--batch-size", "16", "--no-progress"],
                           cwd=REPO, env=os.environ | {"HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and job.poll() is None:
            if checkpoint.exists() and json.loads(checkpoint.read_text() or "{}").get("line", 0) >= 48:
                break
            time.sleep(0.05)
        assert job.poll() is None, "the job ended before it could be killed"
        job.send_signal(signal.SIGKILL)
    finally:
        job.wait(30)
    done = json.loads(checkpoint.read_text())["line"]
    assert 48 <= done < 120

    again = _cli("reindex", str(source), "--data-dir", str(data), "--no-progress")
    assert again.returncode == 0, again.stderr
    resumed = int(again.stdout.split("(resumed after ")[1].split(")")[0])
    assert resumed >= done
    assert "lines 122 " in again.stdout and "recorded 120, duplicate 0, bad 2" in again.stdout, again.stdout
    assert f"{source}:121: [MALFORMED_JSON]" in again.stderr and f"{source}:122: [TEXT_EMPTY]" in again.stderr
    assert "index IDMap,SQfp16 of 120 prompts" in again.stdout and not checkpoint.exists()

    rebuilt = _cli("reindex", "--data-dir", str(data), "--from-store", "--index", "ivfpq", "--pq-m", "16", "--no-progress")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "index IVF" in rebuilt.stdout and "of 120 prompts" in rebuilt.stdout

    small = tmp_path / "small.jsonl"
    _write_jsonl(small, corpus[:1], ["{broken"])
    strict = _cli("reindex", str(small), "--data-dir", str(tmp_path / "strict"), "--strict", "--no-progress")
    assert strict.returncode == 2 and f"{small}:2: [MALFORMED_JSON]" in strict.stderr
    usage = _cli("reindex", "--data-dir", str(data))
    assert usage.returncode == 2 and "--from-store" in usage.stderr


HEAVY = ("torch", "faiss", "numpy", "sentence_transformers")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (nothing else imported)."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


def test_the_client_and_the_client_verbs_load_no_torch_or_faiss() -> None:
    in_process = ("promptprint.cli.serve", "promptprint.cli.reconstruct", "promptprint.cli.datadir")
    client_verbs = sorted({module for module, _ in VERBS.values()} - set(in_process))
    loaded = _modules_after("import promptprint.client, promptprint.cli\n" + "\n".join(f"import {m}" for m in client_verbs))
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_the_server_imports_neither_the_client_nor_the_cli() -> None:
    loaded = _modules_after("import promptprint.server.app")
    assert not {m for m in loaded if m == "promptprint.client" or m.startswith("promptprint.cli")}


def test_promptprint_token_prints_a_token_and_its_hashed_line() -> None:
    result = _cli("token", "pipeline", "--role", "ingest", "--role", "lookup")
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[0].rsplit(" ", 1)[1]
    name, roles, digest = result.stdout.splitlines()[2].split()
    assert (name, roles) == ("pipeline", "ingest,lookup")
    assert digest == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
