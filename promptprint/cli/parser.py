"""The `promptprint` command line: every verb's flags, and nothing that runs them.

Building the parser imports nothing heavy, so `promptprint --help` and the client verbs
stay fast; the verbs live in their own modules (see promptprint.cli.dispatch).
"""

from __future__ import annotations

import argparse

from promptprint.client import DEFAULT_TARGET


def _add_target(parser: argparse.ArgumentParser) -> None:
    """The flags of every verb that talks to a server: address, deadline, token, TLS."""
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"server host:port (default {DEFAULT_TARGET})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
    parser.add_argument("--token", default=None, help="bearer token (default: $PROMPTPRINT_TOKEN); prefer the variable, "
                        "a command line is visible to other users")
    parser.add_argument("--tls-ca", default=None, help="connect with TLS, trusting this CA (PEM)")
    parser.add_argument("--tls-cert", default=None, help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--tls-key", default=None, help="client key (PEM) for mutual TLS")
    parser.add_argument("--tls-server-name", default=None, help="name to verify the server certificate against")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb; ``args.verb`` names the one given."""
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
                       help="most prompts waiting for their vector; past it the oldest are skipped (policy 'all': "
                       "writes get RESOURCE_EXHAUSTED instead)")
    serve.add_argument("--embedding-policy", choices=("templates", "all", "sample", "none"), default="templates",
                       help="which prompts get a transformer vector when the embedder cannot keep up: templates "
                       "(default: the first few of every template and all of busy ones), all, sample, none")
    serve.add_argument("--embed-sample-rate", type=float, default=0.02,
                       help="fraction embedded by 'sample', and of prompts too short for a template by 'templates'")
    serve.add_argument("--embed-representatives", type=int, default=3, help="'templates': first members of each template embedded")
    serve.add_argument("--embed-min-volume", type=int, default=50, help="'templates': members from which all of a template is embedded")
    serve.add_argument("--embed-workers", type=int, default=1,
                       help="worker processes that compute the vectors behind the acknowledgement (default 1; 0: this "
                       "process does, in a background thread); --ray-address puts them on a Ray cluster instead")
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
    serve.add_argument(
        "--no-semantic-links", action="store_true",
        help="do not link templates by the embedded wording of their instructions (links by accounts stay; "
        "verdicts then do not depend on how far the background embedding has got)",
    )
    serve.add_argument(
        "--link-lag-seconds", type=float, default=60.0,
        help="seconds of the traffic's own clock (its prompts' times) a template may wait for its link by wording "
        "before a check waits for it (default 60: live traffic never waits, a fast replay keeps its links about "
        "when live traffic would have them; 0: checks never wait, the fastest replay)",
    )
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
    _add_ray_engine(serve, "the background embedding")
    _add_cluster(serve)
    serve.add_argument("--log-level", default="INFO")

    ingest = verbs.add_parser("ingest", help="stream prompt files (JSONL/CSV/Parquet) to the server")
    ingest.add_argument("files", nargs="+")
    ingest.add_argument("--batch-size", type=int, default=256, help="prompts per message")
    ingest.add_argument("--no-progress", action="store_true")
    ingest.add_argument("--no-wait", action="store_true",
                        help="return once every prompt is acknowledged, without waiting for the vectors the server "
                        "computes behind (semantic lookups see a prompt only once its vector is in)")
    ingest.add_argument("--rate", type=float, default=None,
                        help="send at most this many prompts per second on average (a client token bucket holding "
                        "2 s of prompts, starting empty); default: as fast as the server acknowledges")
    _add_target(ingest)

    query = verbs.add_parser("query", help="print near-duplicates of a text")
    query.add_argument("text")
    query.add_argument("--k", type=int, default=10)
    query.add_argument("--min-similarity", type=float, default=None)
    query.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _add_target(query)

    replay = verbs.add_parser("replay", help="send records through CheckPrompts (recording) in created_at order")
    replay.add_argument("file")
    replay.add_argument("--out", required=True, help="verdicts, one JSON object per input line")
    replay.add_argument("--min-similarity", type=float, default=None)
    replay.add_argument("--lookback-hours", type=float, default=None)
    replay.add_argument("--tier", choices=("fingerprint", "semantic"), default=None,
                        help="CheckPrompt tier (default: the server's; semantic applies --min-similarity/--lookback-hours)")
    replay.add_argument("--batch-size", type=int, default=256,
                        help="prompts per CheckPrompts message, 1..1024 (default 256); each prompt sees every earlier one")
    replay.add_argument("--no-progress", action="store_true")
    _add_target(replay)

    account = verbs.add_parser("account", help="the campaign verdict on one account: its template groups, share, level")
    account.add_argument("account_id")
    account.add_argument("--json", action="store_true", help="print the whole assessment as JSON")
    _add_target(account)

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
    campaigns.add_argument("--model", default=None, help="local sentence-transformers model dir for SOURCE files, and for stored prompts without a vector (default: packaged MiniLM)")
    campaigns.add_argument("--threads", type=int, default=None, help="torch threads for embedding SOURCE files")
    campaigns.add_argument("--k", type=int, default=30, help="neighbours per prompt in the k-NN graph")
    campaigns.add_argument("--min-weight", type=float, default=0.04, help="lexical similarity at which a k-NN pair is an edge")
    campaigns.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (higher: smaller template clusters)")
    campaigns.add_argument("--min-accounts", type=int, default=3, help="fewest accounts a reported campaign has")
    campaigns.add_argument("--min-score", type=float, default=0.3,  # ReconstructConfig.min_score (not imported: heavy)
                           help="campaigns scoring less are counted in one line, not reported (default: %(default)s)")
    campaigns.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
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


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    """Several serving processes with one template view (docs/scaling.md)."""
    parser.add_argument("--peers", default=None,
                        help="every serving process, this one included, as HOST:PORT,HOST:PORT,...: each owns the "
                        "templates whose routing key it wins and the others forward those prompts to it")
    parser.add_argument("--peers-dns", default=None,
                        help="NAME:PORT: the members are NAME's A records (a headless service), re-resolved every "
                        "--peers-refresh-seconds and named by their reverse-DNS names")
    parser.add_argument("--self", dest="self_address", default=None,
                        help="this process as the members list it (with --peers: one of them; with --peers-dns: IP:PORT)")
    parser.add_argument("--peers-refresh-seconds", type=float, default=10.0, help="how often --peers-dns is resolved again")
    parser.add_argument("--forward-timeout", type=float, default=2.0,
                        help="longest wait, in seconds, for the member that owns a prompt (CheckPrompt; default 2)")


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


def _add_scale_verbs(verbs: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """reindex, reload, delete-account and purge: the data-lifecycle verbs."""
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
