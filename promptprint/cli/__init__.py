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

Layout: promptprint.cli.parser holds every verb's flags; promptprint.cli.dispatch runs
one verb, importing only that verb's module (serve, reindex, purge and campaigns load
torch and FAISS; the client verbs load grpc and the client only).
"""

from promptprint.cli.dispatch import main

__all__ = ["main"]
