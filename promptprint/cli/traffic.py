"""Client verbs over traffic: ingest (stream files), query, replay (CheckPrompts in time
order) and stats. They import the client, never the library's heavy parts."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import timedelta
from typing import Iterator, Sequence

import grpc
from google.protobuf.json_format import MessageToDict
from tqdm import tqdm

from promptprint.cli.connect import connect, report_rpc_error
from promptprint.cli.pacing import TokenBucket
from promptprint.client import MAX_PROMPTS_PER_MESSAGE, PromptprintClient
from promptprint.readers import RecordLine, read_records
from promptprint.records import PromptRecord, format_timestamp
from promptprint.v1 import fingerprint_pb2 as pb

_STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def _read_lines(files: Sequence[str]) -> Iterator[RecordLine]:
    """Every line of the files, in order, parsed or with its error."""
    for name in files:
        yield from read_records(name)


def ingest(args: argparse.Namespace) -> int:
    """Stream the files to the server (paced to ``--rate`` when given); report refused and
    unreadable lines by file:line."""
    try:
        bucket = TokenBucket(args.rate) if args.rate is not None else None
    except ValueError as error:
        print(f"promptprint ingest: --rate: {error}", file=sys.stderr)
        return 2
    origins: list[tuple[str, int]] = []  # position of each sent record -> (file, line)
    local_errors: list[RecordLine] = []

    def records() -> Iterator[PromptRecord]:
        for line in _read_lines(args.files):
            if line.record is None:
                local_errors.append(line)
                continue
            origins.append((line.source, line.line))
            if bucket is not None:
                bucket.take()
            yield line.record

    bar = tqdm(unit="prompt", disable=args.no_progress, desc="ingest", dynamic_ncols=True)
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}

    def acknowledged(response) -> None:  # type: ignore[no-untyped-def]
        totals["accepted"] += response.accepted_count
        totals["duplicate"] += response.duplicate_count
        totals["rejected"] += response.rejected_count
        bar.set_postfix(totals | {"unreadable": len(local_errors)}, refresh=False)

    try:
        with connect(args) as client:
            summary = client.ingest(records(), batch_size=args.batch_size, on_sent=bar.update, on_acknowledged=acknowledged)
            bar.close()
            if not args.no_wait:
                _wait_for_vectors(client, args.no_progress)
    except grpc.RpcError as error:
        bar.close()
        return report_rpc_error(error)
    except TimeoutError as error:
        print(f"promptprint ingest: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        bar.close()
        print(f"promptprint ingest: {error}", file=sys.stderr)
        return 2
    bar.close()
    for line in local_errors:
        print(f"{line.source}:{line.line}: unreadable [{line.error.reason}]: {line.error.message}", file=sys.stderr)  # type: ignore[union-attr]
    for rejection in summary.rejections:
        source, number = origins[rejection.position]
        print(f"{source}:{number}: rejected [{rejection.reason}]: {rejection.message}", file=sys.stderr)
    unreadable = len(local_errors)
    print(
        f"accepted {summary.accepted}, duplicate {summary.duplicates}, "
        f"rejected {summary.rejected + unreadable} ({unreadable} unreadable, {summary.rejected} refused by the server)"
    )
    return 0


def _wait_for_vectors(client: PromptprintClient, quiet: bool) -> None:
    """Wait until the server has embedded everything acknowledged, with a progress bar."""
    bar: tqdm | None = None

    def progress(pending: int) -> None:
        nonlocal bar
        if bar is None and pending:
            bar = tqdm(total=pending, unit="prompt", disable=quiet, desc="embedding", dynamic_ncols=True)
        if bar is not None:
            bar.update(max(0, (bar.total or 0) - pending - bar.n))

    try:
        client.wait_indexed(on_progress=progress)
    finally:
        if bar is not None:
            bar.close()


def query(args: argparse.Namespace) -> int:
    """Print the near-duplicates of a text, as a table or JSON lines."""
    try:
        with connect(args) as client:
            hits = client.find_near_duplicates(text=args.text, k=args.k, min_similarity=args.min_similarity, include_text=True)
    except grpc.RpcError as error:
        return report_rpc_error(error)
    if args.json:
        for hit in hits:
            print(json.dumps(MessageToDict(hit, preserving_proto_field_name=True), ensure_ascii=False))
        return 0
    if not hits:
        print("no near-duplicates")
        return 0
    rows = [
        (
            f"{hit.similarity:.3f}",
            hit.prompt_id,
            hit.account_id,
            hit.org_id or "-",
            format_timestamp(hit.created_at.seconds * 1000 + hit.created_at.nanos // 1_000_000),
            " ".join(hit.text.split()),
        )
        for hit in hits
    ]
    header = ("similarity", "prompt_id", "account_id", "org_id", "created_at", "text")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(5)]
    text_width = max(20, shutil.get_terminal_size((120, 20)).columns - sum(widths) - 12)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    print(fmt.format(*header))
    for row in rows:
        text = row[5] if len(row[5]) <= text_width else row[5][: text_width - 1] + "…"
        print(fmt.format(*row[:5], text))
    return 0


def replay(args: argparse.Namespace) -> int:
    """CheckPrompt (recording) every line in created_at order over one CheckPrompts stream,
    ``--batch-size`` to a message; one verdict line per input line, in that order."""
    lines = list(_read_lines([args.file]))
    created = [line.record.created_at_ms if line.record is not None else -1 for line in lines]
    order = sorted(range(len(lines)), key=lambda i: (created[i], i))
    options: dict[str, object] = {}
    if args.min_similarity is not None:
        options["min_similarity"] = args.min_similarity
    if args.lookback_hours is not None:
        options["lookback"] = timedelta(hours=args.lookback_hours)
    if args.tier is not None:
        options["tier"] = args.tier
    if not 1 <= args.batch_size <= MAX_PROMPTS_PER_MESSAGE:
        print(f"promptprint replay: --batch-size must be in 1..{MAX_PROMPTS_PER_MESSAGE}", file=sys.stderr)
        return 2
    failures = 0

    def unreadable(line: RecordLine) -> dict[str, object]:
        error = {"code": "INVALID_ARGUMENT", "reason": line.error.reason, "message": line.error.message}  # type: ignore[union-attr]
        return {"prompt_id": "", "line": line.line, "error": error}

    def answered(record: PromptRecord, line: int, result: pb.CheckPromptsResult) -> dict[str, object]:
        if result.HasField("rejection"):
            error = {"code": _STATUS_NAMES[result.rejection.code], "message": result.rejection.message}
            return {"prompt_id": record.prompt_id, "line": line, "error": error}
        return {"prompt_id": record.prompt_id} | MessageToDict(
            result.verdict, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    with connect(args) as client, open(args.out, "w", encoding="utf-8") as out:
        progress = tqdm(total=len(order), unit="prompt", disable=args.no_progress, desc="replay", dynamic_ncols=True)
        try:
            readable = (lines[i].record for i in order if lines[i].record is not None)
            results = client.check_prompts(readable, record=True, batch_size=args.batch_size, **options)  # type: ignore[arg-type]
            for i in order:
                line = lines[i]
                verdict = unreadable(line) if line.record is None else answered(line.record, line.line, next(results))
                failures += "error" in verdict
                out.write(json.dumps(verdict, ensure_ascii=False) + "\n")
                progress.update()
        except grpc.RpcError as rpc_error:
            return report_rpc_error(rpc_error)
        finally:
            progress.close()
    print(f"replayed {len(lines) - failures} prompts, {failures} with errors; verdicts in {args.out}")
    return 0


def stats(args: argparse.Namespace) -> int:
    """Print the index statistics as JSON."""
    try:
        with connect(args) as client:
            answer = client.stats()
    except grpc.RpcError as error:
        return report_rpc_error(error)
    print(json.dumps(MessageToDict(answer, preserving_proto_field_name=True, always_print_fields_with_no_presence=True), indent=2))
    return 0
