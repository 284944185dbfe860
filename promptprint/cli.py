"""The `promptprint` command: thin verbs over the library and the client.

    promptprint serve   [--data-dir D] [--listen HOST:PORT] ...
    promptprint ingest  FILE... [--target HOST:PORT]
    promptprint query   TEXT [--target HOST:PORT] [--k N] [--min-similarity S]
    promptprint replay  FILE --out VERDICTS.jsonl [--target HOST:PORT]
    promptprint stats   [--target HOST:PORT]
    promptprint bank    add (--allow | --deny) (TEXT | --file F) [--note N] | list [--allow | --deny] | remove ID
    promptprint campaigns (--data-dir D | SOURCE...) [--since T] [--until T] [--out DIR]
    promptprint campaign list [--min-score S] [--since T] [--until T] | show CAMPAIGN_ID [--json]
    promptprint token   NAME --role ROLE [--role ROLE]
    promptprint reindex [SOURCE...] --data-dir D [--from-store] [--strict] [--index KIND]
    promptprint reload  [--target HOST:PORT]
    promptprint delete-account ACCOUNT_ID [--target HOST:PORT]
    promptprint purge   --data-dir D --older-than-days N

Client verbs take --token (or $PROMPTPRINT_TOKEN) and --tls-ca/--tls-cert/--tls-key.

Exit codes: 0 success, 1 the server answered with an error, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Iterator, Sequence

DEFAULT_TARGET = "127.0.0.1:50051"


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"server host:port (default {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
    parser.add_argument("--token", default=None, help="bearer token (default: $PROMPTPRINT_TOKEN); prefer the variable, "
                        "a command line is visible to other users")
    parser.add_argument("--tls-ca", default=None, help="connect with TLS, trusting this CA (PEM)")
    parser.add_argument("--tls-cert", default=None, help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--tls-key", default=None, help="client key (PEM) for mutual TLS")
    parser.add_argument("--tls-server-name", default=None, help="name to verify the server certificate against")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptprint", description="Prompt-fingerprinting similarity index.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    serve = verbs.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--data-dir", default="var", help="record store and snapshots (default ./var)")
    serve.add_argument("--listen", default="127.0.0.1:50051", help="host:port to bind (default 127.0.0.1:50051; port 0 = any)")
    serve.add_argument("--model", default=None, help="local sentence-transformers model dir (default: packaged all-MiniLM-L6-v2)")
    serve.add_argument("--tier", choices=("fingerprint", "semantic"), default="fingerprint",
                       help="fingerprint (default): acknowledge once durable, embed behind, CheckPrompt from templates "
                       "(sub-ms); semantic: embed before acknowledging, CheckPrompt fan-out by transformer search")
    serve.add_argument("--max-vector-backlog", type=int, default=250_000,
                       help="most prompts waiting for their vector before writes get RESOURCE_EXHAUSTED")
    serve.add_argument("--vector-storage", choices=("fp16", "fp32"), default="fp16",
                       help="in-memory vector precision (default fp16: the store's precision, half the RAM)")
    _add_index_choice(serve)
    serve.add_argument("--reload-poll-seconds", type=float, default=5.0, help="how often to look for a rebuilt snapshot (0: only on ReloadIndex)")
    serve.add_argument("--reload-jitter-seconds", type=float, default=30.0, help="most random delay before an automatic reload")
    serve.add_argument("--malloc-trim-seconds", type=float, default=60.0,
                       help="how often freed heap memory is handed back to the OS (glibc malloc_trim; 0: never; default 60)")
    serve.add_argument("--snapshot-every", type=int, default=50_000, help="new records between snapshots (0 = only on shutdown)")
    serve.add_argument("--max-text-bytes", type=int, default=1 << 20, help="longest accepted prompt in bytes (default 1 MiB)")
    serve.add_argument("--workers", type=int, default=8, help="worker threads for library calls")
    serve.add_argument("--embed-batch", type=int, default=32, help="most texts per coalesced forward pass")
    serve.add_argument("--gil-switch-ms", type=float, default=5.0,
                       help="Python's thread switch interval (sys.setswitchinterval), in ms (default 5, Python's own)")
    serve.add_argument("--embedder-nice", type=int, default=10,
                       help="CPU priority (nice, 0-19) of forward passes, so request handling preempts the background "
                       "embedding of a backlog (default 10; 0 leaves it alone)")
    serve.add_argument("--threads", type=int, default=None, help="torch threads (default: number of cores)")
    serve.add_argument("--campaign-threshold", type=float, default=0.5, help="campaign score at which a prompt is flagged")
    serve.add_argument("--template-window-hours", type=float, default=24.0, help="sliding window of template activity")
    serve.add_argument("--no-builtin-allow-bank", action="store_true", help="do not seed a new data dir with public agent scaffolds")
    serve.add_argument("--port-file", default=None, help="write the bound port to this file once listening")
    serve.add_argument("--privacy-mode", action="store_true",
                       help="store fingerprints, metadata and a hash of each text, never the raw text (see README)")
    serve.add_argument("--retention-days", type=float, default=0.0,
                       help="purge records older than this (by created_at) at start and hourly; 0 keeps everything")
    serve.add_argument("--tokens-file", default=None, help="bearer tokens and roles, one 'NAME ROLES TOKEN' a line "
                       "(also read from $PROMPTPRINT_TOKENS); without tokens only a loopback --listen is allowed")
    serve.add_argument("--tls-cert", default=None, help="server certificate chain (PEM): serve TLS")
    serve.add_argument("--tls-key", default=None, help="server private key (PEM)")
    serve.add_argument("--tls-client-ca", default=None, help="require client certificates signed by this CA (mutual TLS)")
    serve.add_argument("--max-concurrent", type=int, default=64, help="FingerprintService calls running at once")
    serve.add_argument("--max-queued", type=int, default=128, help="calls waiting for a slot; past it RESOURCE_EXHAUSTED")
    serve.add_argument("--max-queue-wait", type=float, default=2.0, help="seconds a call may wait for a slot")
    serve.add_argument("--metrics-listen", default=None, help="host:port for Prometheus /metrics (default: off)")
    serve.add_argument("--max-staleness", type=float, default=0.0,
                       help="health NOT_SERVING while records are older than this many seconds in no snapshot (0: off)")
    serve.add_argument("--log-level", default="INFO")

    ingest = verbs.add_parser("ingest", help="stream prompt files (JSONL/CSV/Parquet) to the server")
    ingest.add_argument("files", nargs="+")
    ingest.add_argument("--batch-size", type=int, default=256, help="prompts per message")
    ingest.add_argument("--no-progress", action="store_true")
    ingest.add_argument("--no-wait", action="store_true",
                        help="return once every prompt is acknowledged, without waiting for the vectors the server "
                        "computes behind (semantic lookups see a prompt only once its vector is in)")
    _add_target(ingest)

    query = verbs.add_parser("query", help="print near-duplicates of a text")
    query.add_argument("text")
    query.add_argument("--k", type=int, default=10)
    query.add_argument("--min-similarity", type=float, default=None)
    query.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _add_target(query)

    replay = verbs.add_parser("replay", help="send records through CheckPrompt (recording) in created_at order")
    replay.add_argument("file")
    replay.add_argument("--out", required=True, help="verdicts, one JSON object per input line")
    replay.add_argument("--min-similarity", type=float, default=None)
    replay.add_argument("--lookback-hours", type=float, default=None)
    replay.add_argument("--tier", choices=("fingerprint", "semantic"), default=None,
                        help="CheckPrompt tier (default: the server's; semantic applies --min-similarity/--lookback-hours)")
    replay.add_argument(
        "--concurrency", type=int, default=1,
        help="calls in flight (default 1: each prompt sees every earlier one; N > 1 is faster but a prompt "
        "may not yet see the N-1 sent just before it)",
    )
    replay.add_argument("--no-progress", action="store_true")
    _add_target(replay)

    stats = verbs.add_parser("stats", help="print index statistics")
    _add_target(stats)

    token = verbs.add_parser("token", help="create a bearer token: prints it once, and the line for --tokens-file")
    token.add_argument("name", help="who the token is for (shown in logs; the token never is)")
    token.add_argument("--role", action="append", choices=("lookup", "ingest", "admin"), required=True,
                       help="a role of the token (repeat for several)")

    bank = verbs.add_parser("bank", help="manage the allow and deny banks")
    bank_verbs = bank.add_subparsers(dest="bank_verb", required=True)
    add = bank_verbs.add_parser("add", help="add a template to a bank")
    which = add.add_mutually_exclusive_group(required=True)
    which.add_argument("--allow", action="store_true", help="sanctioned/public template: suppresses the campaign score")
    which.add_argument("--deny", action="store_true", help="known campaign template: raises the campaign score")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="the template text")
    source.add_argument("--file", help="read the template text from this file")
    add.add_argument("--note", default="", help="where it comes from, why it is banked")
    _add_target(add)
    listing = bank_verbs.add_parser("list", help="list bank entries")
    only = listing.add_mutually_exclusive_group()
    only.add_argument("--allow", action="store_true")
    only.add_argument("--deny", action="store_true")
    listing.add_argument("--json", action="store_true", help="print JSON lines (full texts)")
    _add_target(listing)
    remove = bank_verbs.add_parser("remove", help="remove a bank entry")
    remove.add_argument("entry_id", type=int)
    _add_target(remove)

    campaigns = verbs.add_parser(
        "campaigns", help="reconstruct campaigns offline from a data dir or prompt files (writes JSONL, Parquet, report.html)"
    )
    campaigns.add_argument("sources", nargs="*", help="prompt files (JSONL/CSV/Parquet); embedded here")
    campaigns.add_argument("--data-dir", default=None, help="reuse the prompts and vectors of a data dir (published there for the server)")
    campaigns.add_argument("--since", default=None, help="only prompts at or after this time (ISO-8601)")
    campaigns.add_argument("--until", default=None, help="only prompts before this time (ISO-8601)")
    campaigns.add_argument("--out", default=None, help="output folder (default with --data-dir: DATA_DIR/reconstructions/<time>)")
    campaigns.add_argument("--model", default=None, help="local sentence-transformers model dir for SOURCE files (default: packaged MiniLM)")
    campaigns.add_argument("--threads", type=int, default=None, help="torch threads for embedding SOURCE files")
    campaigns.add_argument("--k", type=int, default=30, help="neighbours per prompt in the k-NN graph")
    campaigns.add_argument("--min-weight", type=float, default=0.04, help="lexical similarity at which a k-NN pair is an edge")
    campaigns.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (higher: smaller template clusters)")
    campaigns.add_argument("--min-accounts", type=int, default=3, help="fewest accounts a reported campaign has")
    campaigns.add_argument("--report-campaigns", type=int, default=50, help="campaigns given a full section in report.html")
    campaigns.add_argument("--log-level", default="WARNING")
    _add_ray_engine(campaigns, "embedding (SOURCE files) and the k-NN graph")

    campaign = verbs.add_parser("campaign", help="browse the server's latest reconstruction")
    campaign_verbs = campaign.add_subparsers(dest="campaign_verb", required=True)
    listed = campaign_verbs.add_parser("list", help="campaigns, best score first")
    listed.add_argument("--min-score", type=float, default=0.0)
    listed.add_argument("--since", default=None, help="only campaigns active at or after this time (ISO-8601)")
    listed.add_argument("--until", default=None, help="only campaigns active before this time (ISO-8601)")
    listed.add_argument("--limit", type=int, default=None, help="at most this many")
    listed.add_argument("--json", action="store_true", help="print JSON lines")
    _add_target(listed)
    show = campaign_verbs.add_parser("show", help="one campaign: templates, accounts, counts")
    show.add_argument("campaign_id")
    show.add_argument("--accounts", type=int, default=20, help="accounts to print (0 = all)")
    show.add_argument("--json", action="store_true", help="print the whole campaign as JSON")
    _add_target(show)

    _add_scale_verbs(verbs)
    return parser


def _add_index_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", choices=("auto", "flat", "hnsw", "ivfpq"), default="auto",
                        help="index kind (default auto: flat, HNSW past --hnsw-threshold, IVF-PQ past --ivf-threshold)")
    parser.add_argument("--hnsw-threshold", type=int, default=20_000)
    parser.add_argument("--ivf-threshold", type=int, default=2_000_000, help="size at which auto builds IVF-PQ (default 2,000,000)")
    parser.add_argument("--nlist", type=int, default=0, help="IVF lists (default: ~2*sqrt(n), a power of two)")
    parser.add_argument("--pq-m", type=int, default=64, help="IVF-PQ 4-bit sub-quantizers (default 64 = 32 bytes per prompt; must divide 384)")
    parser.add_argument("--nprobe", type=int, default=64, help="IVF lists scanned per lookup by default (default 64)")
    parser.add_argument("--rerank-factor", type=int, default=48, help="IVF-PQ candidates re-ranked per hit (default 48)")


def _add_ray_engine(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--ray-address", default=None,
        help=f"run {what} on a Ray cluster: its address (host:6379, ray://host:10001), 'auto' (the cluster this "
        "machine joined with `ray start`) or 'local' (a private instance here). Default: in-process, no Ray",
    )
    parser.add_argument("--ray-workers", type=int, default=None, help="Ray workers (default: one per cluster CPU)")


def _open_engine(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The executor the --ray-address flag asks for (in-process without it)."""
    from promptprint.executors import executor_for

    if args.ray_workers is not None and not args.ray_address:
        raise ValueError("--ray-workers needs --ray-address")
    return executor_for(args.ray_address, workers=args.ray_workers)


def _add_scale_verbs(verbs) -> None:  # type: ignore[no-untyped-def]
    reindex = verbs.add_parser("reindex", help="take prompt files (or the stored records) into a freshly built index")
    reindex.add_argument("sources", nargs="*", help="JSONL/CSV/Parquet files or globs (quote globs)")
    reindex.add_argument("--data-dir", required=True, help="data directory (a server may be serving it)")
    reindex.add_argument("--from-store", action="store_true", help="no sources: rebuild from the stored vectors (no embedding)")
    reindex.add_argument("--strict", action="store_true", help="the first bad line stops the job (exit 2)")
    reindex.add_argument("--batch-size", type=int, default=256, help="lines per embed + commit + checkpoint")
    reindex.add_argument("--model", default=None)
    reindex.add_argument("--threads", type=int, default=None, help="torch threads (default: number of cores)")
    reindex.add_argument("--max-text-bytes", type=int, default=1 << 20)
    reindex.add_argument("--no-progress", action="store_true")
    _add_ray_engine(reindex, "embedding and the IVF-PQ shard encoding")
    _add_index_choice(reindex)

    reload = verbs.add_parser("reload", help="make a server switch to the newest snapshot now")
    _add_target(reload)

    delete = verbs.add_parser("delete-account", help="delete every prompt of an account (store, index, stats)")
    delete.add_argument("account_id")
    _add_target(delete)

    purge = verbs.add_parser("purge", help="retention: delete prompts older than N days, then rebuild the index")
    purge.add_argument("--data-dir", required=True)
    purge.add_argument("--older-than-days", type=float, required=True)
    _add_index_choice(purge)


def _serve(args: argparse.Namespace) -> int:
    from promptprint.vectors.batching import BatchingEmbedder
    from promptprint.vectors.embedder import Embedder, SentenceTransformerEmbedder
    import os

    from promptprint.server.app import ServerConfig, serve
    from promptprint.server.auth import TokenTable
    from promptprint.server.limits import LimitSettings
    from promptprint.server.maintenance import MaintenanceSettings
    from promptprint.process import limit_malloc_arenas
    from promptprint.server.tls import TlsSettings

    limit_malloc_arenas(2)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0.1 <= args.gil_switch_ms <= 100:
        print("promptprint serve: --gil-switch-ms must be in 0.1..100", file=sys.stderr)
        return 2
    sys.setswitchinterval(args.gil_switch_ms / 1000)
    try:
        index_config = _index_config(
            args,
            max_text_bytes=args.max_text_bytes,
            vector_storage=args.vector_storage,
            tier=args.tier,
            max_vector_backlog=args.max_vector_backlog,
            snapshot_every=args.snapshot_every,
            campaign_threshold=args.campaign_threshold,
            template_window_ms=int(args.template_window_hours * 3_600_000),
            builtin_allow_bank=not args.no_builtin_allow_bank,
            privacy_mode=args.privacy_mode,
            retention_ms=int(args.retention_days * 86_400_000),
        )
        if (args.tls_cert is None) != (args.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if args.tls_client_ca and not args.tls_cert:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        tls = TlsSettings(Path(args.tls_cert), Path(args.tls_key), Path(args.tls_client_ca) if args.tls_client_ca else None) if args.tls_cert else None
        server_config = ServerConfig(
            listen=args.listen,
            workers=args.workers,
            tokens=TokenTable.load(args.tokens_file, os.environ),
            tls=tls,
            limits=LimitSettings(args.max_concurrent, args.max_queued, args.max_queue_wait),
            metrics_listen=args.metrics_listen,
            max_staleness_s=args.max_staleness,
            maintenance=MaintenanceSettings(
                poll_seconds=args.reload_poll_seconds, jitter_seconds=args.reload_jitter_seconds,
                trim_every_seconds=args.malloc_trim_seconds,
            ),
        )
        if tls is not None:
            tls.credentials()  # unreadable files fail here, with exit code 2
    except (ValueError, OSError) as error:
        print(f"promptprint serve: {error}", file=sys.stderr)
        return 2

    def on_listening(port: int) -> None:
        if args.port_file:
            tmp = Path(args.port_file + ".tmp")
            tmp.write_text(f"{port}\n")
            tmp.replace(args.port_file)

    def embedder() -> Embedder:
        return BatchingEmbedder(
            SentenceTransformerEmbedder(args.model, threads=args.threads), max_batch=args.embed_batch, nice=args.embedder_nice
        )

    return asyncio.run(serve(index_config, server_config, embedder, on_listening))


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import os

    from promptprint.client import PromptprintClient

    return PromptprintClient(
        args.target,
        timeout=args.timeout,
        token=args.token or os.environ.get("PROMPTPRINT_TOKEN") or None,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
    )


def _token(args: argparse.Namespace) -> int:
    from promptprint.server.auth import new_token, token_digest

    if any(c.isspace() or c in "#;" for c in args.name):
        print("promptprint token: the name may not contain spaces, '#' or ';'", file=sys.stderr)
        return 2
    token = new_token()
    roles = ",".join(sorted(set(args.role)))
    print(f"token (shown once; give it to the caller as PROMPTPRINT_TOKEN): {token}")
    print("line for --tokens-file (only the hash is stored):")
    print(f"{args.name} {roles} sha256:{token_digest(token)}")
    return 0


def _report_rpc_error(error: Exception) -> int:
    from promptprint.client import error_info

    code = error.code().name if hasattr(error, "code") else "ERROR"  # type: ignore[attr-defined]
    details = error.details() if hasattr(error, "details") else str(error)  # type: ignore[attr-defined]
    info = error_info(error)  # type: ignore[arg-type]
    reason = f" [{info.reason}]" if info is not None else ""
    print(f"promptprint: server answered {code}{reason}: {details}", file=sys.stderr)
    return 1


def _read_lines(files: Sequence[str]) -> Iterator:  # type: ignore[type-arg]
    from promptprint.readers import read_records

    for name in files:
        yield from read_records(name)


def _ingest(args: argparse.Namespace) -> int:
    import grpc
    from tqdm import tqdm

    from promptprint.readers import RecordLine

    origins: list[tuple[str, int]] = []  # position of each sent record -> (file, line)
    local_errors: list[RecordLine] = []

    def records() -> Iterator:  # type: ignore[type-arg]
        for line in _read_lines(args.files):
            if line.record is None:
                local_errors.append(line)
                continue
            origins.append((line.source, line.line))
            yield line.record

    bar = tqdm(unit="prompt", disable=args.no_progress, desc="ingest", dynamic_ncols=True)
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}

    def acknowledged(response) -> None:  # type: ignore[no-untyped-def]
        totals["accepted"] += response.accepted_count
        totals["duplicate"] += response.duplicate_count
        totals["rejected"] += response.rejected_count
        bar.set_postfix(totals | {"unreadable": len(local_errors)}, refresh=False)

    try:
        with _client(args) as client:
            summary = client.ingest(records(), batch_size=args.batch_size, on_sent=bar.update, on_acknowledged=acknowledged)
            bar.close()
            if not args.no_wait:
                _wait_for_vectors(client, args.no_progress)
    except grpc.RpcError as error:
        bar.close()
        return _report_rpc_error(error)
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


def _wait_for_vectors(client: "PromptprintClient", quiet: bool) -> None:
    """Wait until the server has embedded everything acknowledged, with a progress bar."""
    from tqdm import tqdm

    bar: tqdm | None = None  # type: ignore[type-arg]

    def progress(pending: int) -> None:
        nonlocal bar
        if bar is None and pending:
            bar = tqdm(total=pending, unit="prompt", disable=quiet, desc="embedding", dynamic_ncols=True)
        if bar is not None:
            bar.update(max(0, bar.total - pending - bar.n))

    try:
        client.wait_indexed(on_progress=progress)
    finally:
        if bar is not None:
            bar.close()


def _query(args: argparse.Namespace) -> int:
    import grpc

    from promptprint.records import format_timestamp

    try:
        with _client(args) as client:
            hits = client.find_near_duplicates(text=args.text, k=args.k, min_similarity=args.min_similarity, include_text=True)
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    if args.json:
        from google.protobuf.json_format import MessageToDict

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


def _replay(args: argparse.Namespace) -> int:
    import collections
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    import grpc
    from google.protobuf.json_format import MessageToDict
    from tqdm import tqdm

    lines = list(_read_lines([args.file]))
    order = sorted(range(len(lines)), key=lambda i: (lines[i].record.created_at_ms if lines[i].record else -1, i))
    options: dict[str, object] = {}
    if args.min_similarity is not None:
        options["min_similarity"] = args.min_similarity
    if args.lookback_hours is not None:
        options["lookback"] = timedelta(hours=args.lookback_hours)
    if args.tier is not None:
        options["tier"] = args.tier
    if args.concurrency < 1:
        print("promptprint replay: --concurrency must be >= 1", file=sys.stderr)
        return 2
    failures = 0

    def verdict_of(i: int) -> dict[str, object]:
        line = lines[i]
        if line.record is None:
            error = {"code": "INVALID_ARGUMENT", "reason": line.error.reason, "message": line.error.message}  # type: ignore[union-attr]
            return {"prompt_id": "", "line": line.line, "error": error}
        try:
            response = client.check_record(line.record, store=True, **options)
        except grpc.RpcError as rpc_error:
            if rpc_error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):  # type: ignore[attr-defined]
                raise
            error = {"code": rpc_error.code().name, "message": rpc_error.details()}  # type: ignore[attr-defined]
            return {"prompt_id": line.record.prompt_id, "line": line.line, "error": error}
        return {"prompt_id": line.record.prompt_id} | MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    with _client(args) as client, open(args.out, "w", encoding="utf-8") as out, ThreadPoolExecutor(args.concurrency) as pool:
        progress = tqdm(total=len(order), unit="prompt", disable=args.no_progress, desc="replay", dynamic_ncols=True)
        try:
            # a sliding window of calls in flight, written in send order
            pending: collections.deque = collections.deque()  # type: ignore[type-arg]
            for i in order:
                pending.append(pool.submit(verdict_of, i))
                if len(pending) >= args.concurrency:
                    verdict = pending.popleft().result()
                    failures += "error" in verdict
                    out.write(json.dumps(verdict, ensure_ascii=False) + "\n")
                    progress.update()
            while pending:
                verdict = pending.popleft().result()
                failures += "error" in verdict
                out.write(json.dumps(verdict, ensure_ascii=False) + "\n")
                progress.update()
        except grpc.RpcError as rpc_error:
            return _report_rpc_error(rpc_error)
        finally:
            progress.close()
    print(f"replayed {len(lines) - failures} prompts, {failures} with errors; verdicts in {args.out}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    try:
        with _client(args) as client:
            stats = client.stats()
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    print(json.dumps(MessageToDict(stats, preserving_proto_field_name=True, always_print_fields_with_no_presence=True), indent=2))
    return 0


def _bank(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    try:
        with _client(args) as client:
            if args.bank_verb == "add":
                text = Path(args.file).read_text(encoding="utf-8") if args.file else args.text
                entry = client.create_bank_entry("allow" if args.allow else "deny", text, args.note)
                print(f"added {'allow' if args.allow else 'deny'}-bank entry {entry.entry_id}")
            elif args.bank_verb == "list":
                kind = "allow" if args.allow else "deny" if args.deny else None
                for entry in client.list_bank_entries(kind):
                    if args.json:
                        print(json.dumps(MessageToDict(entry, preserving_proto_field_name=True), ensure_ascii=False))
                    else:
                        bank_name = "allow" if entry.kind == 1 else "deny"
                        text = " ".join(entry.text.split())
                        print(f"{entry.entry_id:>5}  {bank_name:<5}  {entry.source:<7}  {entry.note[:40]:<40}  {text[:60]}")
            else:
                entry = client.delete_bank_entry(args.entry_id)
                print(f"removed bank entry {entry.entry_id}")
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    except OSError as error:
        print(f"promptprint bank: {error}", file=sys.stderr)
        return 2
    return 0


def _campaigns(args: argparse.Namespace) -> int:
    try:
        engine = _open_engine(args)
    except (ValueError, ConnectionError, RuntimeError) as error:
        print(f"promptprint campaigns: {error}", file=sys.stderr)
        return 2
    try:
        return _run_campaigns(args, engine)
    finally:
        close = getattr(engine, "close", None)
        if close:
            close()


def _run_campaigns(args: argparse.Namespace, engine) -> int:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from promptprint.templates.banks import Banks
    from promptprint.errors import PromptprintError
    from promptprint.reconstruct.clustering import ClusterParams
    from promptprint.reconstruct.campaigns import CampaignParams
    from promptprint.reconstruct.corpus import corpus_from_files, corpus_from_store
    from promptprint.reconstruct.graph import GraphParams
    from promptprint.reconstruct.knn_graph import KnnParams
    from promptprint.reconstruct.outputs import RECONSTRUCTIONS_DIR, publish, write_reconstruction
    from promptprint.reconstruct.pipeline import ReconstructConfig, reconstruct
    from promptprint.reconstruct.report import write_report
    from promptprint.records import parse_timestamp

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.data_dir) == bool(args.sources):
        print("promptprint campaigns: give either --data-dir or SOURCE files (not both)", file=sys.stderr)
        return 2
    if args.sources and not args.out:
        print("promptprint campaigns: --out is required with SOURCE files", file=sys.stderr)
        return 2
    try:
        since = parse_timestamp(args.since, "since") if args.since else None
        until = parse_timestamp(args.until, "until") if args.until else None
        config = ReconstructConfig(
            knn=KnnParams(k=args.k),
            graph=GraphParams(min_weight=args.min_weight),
            clusters=ClusterParams(resolution=args.resolution),
            campaigns=CampaignParams(min_accounts=args.min_accounts),
        )
        if args.data_dir:
            corpus = corpus_from_store(args.data_dir, since_ms=since, until_ms=until)
            banks = Banks(Path(args.data_dir) / "records.sqlite", seed_builtin=False)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            out = Path(args.out) if args.out else Path(args.data_dir) / RECONSTRUCTIONS_DIR / stamp
        elif args.ray_address:
            from promptprint.vectors.embedder import ModelLoader, PooledEmbedder

            pooled = PooledEmbedder(engine, ModelLoader(args.model))
            try:
                corpus, unreadable = corpus_from_files(
                    args.sources, pooled, since_ms=since, until_ms=until, batch_size=256 * engine.workers
                )
            finally:
                pooled.close()
        else:
            from promptprint.vectors.embedder import SentenceTransformerEmbedder

            corpus, unreadable = corpus_from_files(
                args.sources, SentenceTransformerEmbedder(args.model, threads=args.threads), since_ms=since, until_ms=until
            )
        if args.sources:
            if unreadable:
                print(f"skipped {unreadable} unreadable or incomplete lines", file=sys.stderr)
            banks = Banks(Path(":memory:"))  # the built-in allow bank of public agent scaffolds
            out = Path(args.out)
    except (PromptprintError, ValueError, OSError) as error:
        print(f"promptprint campaigns: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    if not len(corpus):
        print("promptprint campaigns: no prompts in the given time range", file=sys.stderr)
        return 2
    try:
        result = reconstruct(corpus, config, bank_match=banks.match, executor=engine)
    finally:
        banks.close()
    write_reconstruction(result, out, since_ms=since, until_ms=until)
    report = write_report(result, out, max_campaigns=args.report_campaigns)
    if args.data_dir:
        publish(args.data_dir, out)
    print(f"{len(result.campaigns)} campaigns from {len(corpus)} prompts; wrote {out}/campaigns.jsonl, *.parquet and {report}")
    for c in result.campaigns[:10]:
        text = c.templates[0].template.render() if c.templates else ""
        print(f"  {c.campaign_id}  score {c.score:.2f}  {c.stats.accounts:>5} accounts  {c.stats.prompts:>6} prompts  {text[:70]}")
    return 0


def _campaign(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from promptprint.errors import InvalidArgument
    from promptprint.records import format_timestamp, parse_timestamp

    def when(ts) -> str:  # type: ignore[no-untyped-def]
        return format_timestamp(ts.seconds * 1000 + ts.nanos // 1_000_000)

    try:
        with _client(args) as client:
            if args.campaign_verb == "list":
                campaigns = client.list_campaigns(
                    min_score=args.min_score,
                    start=parse_timestamp(args.since, "since") if args.since else None,
                    end=parse_timestamp(args.until, "until") if args.until else None,
                    limit=args.limit,
                )
                for c in campaigns:
                    if args.json:
                        print(json.dumps(MessageToDict(c, preserving_proto_field_name=True), ensure_ascii=False))
                    else:
                        print(f"{c.campaign_id}  score {c.score:.2f}  {c.account_count:>5} accounts  {c.prompt_count:>6} prompts  "
                              f"{when(c.first_seen)[:10]}..{when(c.last_seen)[:10]}  {c.template_text[:60]}")
                if not campaigns and not args.json:
                    print("no campaigns match")
            else:
                c = client.get_campaign(args.campaign_id, account_limit=args.accounts)
                if args.json:
                    print(json.dumps(MessageToDict(c, preserving_proto_field_name=True), ensure_ascii=False, indent=1))
                    return 0
                s = c.summary
                print(f"{s.campaign_id} (rank {s.rank}): score {s.score:.2f}; {s.account_count} accounts in {s.org_count} orgs, "
                      f"{s.prompt_count} prompts, {when(s.first_seen)} .. {when(s.last_seen)}")
                for reason in s.reasons:
                    print(f"  - {reason}")
                for t in c.templates:
                    print(f"template {t.template_id}: {t.prompt_count} prompts, {t.account_count} accounts\n  {t.text[:300]}")
                print("accounts (prompts here / all):")
                for a in c.accounts:
                    print(f"  {a.account_id:<24} {a.org_id or '-':<16} {a.prompt_count:>5} / {a.total_prompt_count}")
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    except InvalidArgument as error:
        print(f"promptprint campaign: {error.message}", file=sys.stderr)
        return 2

def _index_config(args: argparse.Namespace, **extra: object):  # type: ignore[no-untyped-def]
    from promptprint.index.ivf_index import IvfParams
    from promptprint.index.config import IndexConfig

    return IndexConfig(
        data_dir=Path(args.data_dir),
        index_kind=args.index,
        hnsw_threshold=args.hnsw_threshold,
        ivf_threshold=args.ivf_threshold,
        ivf=IvfParams(nlist=args.nlist, pq_m=args.pq_m, nprobe=args.nprobe, k_factor=args.rerank_factor),
        **extra,  # type: ignore[arg-type]
    )


def _reindex(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from promptprint.errors import PromptprintError
    from promptprint.jobs.reindex import ReindexJob, open_job

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.sources) == args.from_store:
        print("promptprint reindex: give SOURCE files, or --from-store (not both)", file=sys.stderr)
        return 2
    bar = tqdm(unit="prompt", disable=args.no_progress, desc="reindex", dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    def bad(line) -> None:  # type: ignore[no-untyped-def]
        bar.clear()
        print(f"{line}", file=sys.stderr)

    engine = None
    try:
        config = _index_config(args, max_text_bytes=args.max_text_bytes)
        engine = _open_engine(args) if args.ray_address else None
        job: ReindexJob
        with open_job(config, sources=args.sources, model=args.model, threads=args.threads, strict=args.strict,
                      batch_size=args.batch_size, on_bad=bad, on_progress=progress, executor=engine) as job:
            summary = job.run(args.sources)
    except (PromptprintError, ValueError, OSError, RuntimeError) as error:
        bar.close()
        print(f"promptprint reindex: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    finally:
        if engine is not None:
            engine.close()
    bar.close()
    rate = f", {summary.prompts_per_second:.1f} prompts/s embedded" if summary.embedded else ""
    print(
        f"lines {summary.lines} (resumed after {summary.resumed_at_line}): recorded {summary.recorded}, "
        f"duplicate {summary.duplicates}, bad {summary.bad}{rate}; index {summary.index_description} of "
        f"{summary.indexed} prompts built in {summary.build_seconds:.1f}s; now serving snapshot {summary.snapshot}"
    )
    return 0


def _reload(args: argparse.Namespace) -> int:
    import grpc

    try:
        with _client(args) as client:
            answer = client.reload_index()
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    state = "reloaded" if answer.reloaded else "already serving"
    print(f"{state} snapshot {answer.snapshot}: {answer.index_type}, {answer.prompt_count} prompts")
    return 0


def _delete_account(args: argparse.Namespace) -> int:
    import grpc

    try:
        with _client(args) as client:
            deleted = client.delete_account_prompts(args.account_id)
    except grpc.RpcError as error:
        return _report_rpc_error(error)
    print(f"deleted {deleted} prompts of account {args.account_id}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from promptprint.errors import PromptprintError
    from promptprint.jobs.reindex import purge_data_dir
    from promptprint.records import now_ms

    if args.older_than_days <= 0:
        print("promptprint purge: --older-than-days must be positive", file=sys.stderr)
        return 2
    try:
        purged, snapshot = purge_data_dir(_index_config(args), now_ms() - int(args.older_than_days * 86_400_000))
    except (PromptprintError, ValueError, OSError) as error:
        print(f"promptprint purge: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    print(f"purged {purged} prompts older than {args.older_than_days:g} days; index rebuilt as snapshot {snapshot}")
    return 0


_VERBS = {
    "serve": _serve, "ingest": _ingest, "query": _query, "replay": _replay, "stats": _stats, "bank": _bank,
    "campaigns": _campaigns, "campaign": _campaign, "token": _token,
    "reindex": _reindex, "reload": _reload, "delete-account": _delete_account, "purge": _purge,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return _VERBS[args.verb](args)


if __name__ == "__main__":
    sys.exit(main())
