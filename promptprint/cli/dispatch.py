"""Run one `promptprint` verb: parse the command line, import the verb's module, call it.

Verb modules are imported here, when their verb runs, and nowhere else: that is what
keeps a client verb (ingest, query, bank, ...) from paying for torch, sentence-transformers
and FAISS, which only serve, reindex, purge and campaigns need. It is lazy loading of
heavy optional dependencies by design, not a way around an import circle.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Callable, Mapping, Sequence

from promptprint.cli.parser import build_parser

#: verb -> (module, function): the function takes the parsed arguments and returns the exit code.
VERBS: Mapping[str, tuple[str, str]] = {
    "serve": ("promptprint.cli.serve", "serve"),
    "ingest": ("promptprint.cli.traffic", "ingest"),
    "query": ("promptprint.cli.traffic", "query"),
    "replay": ("promptprint.cli.traffic", "replay"),
    "stats": ("promptprint.cli.traffic", "stats"),
    "account": ("promptprint.cli.account", "account"),
    "bank": ("promptprint.cli.bank", "bank"),
    "campaigns": ("promptprint.cli.reconstruct", "campaigns"),
    "campaign": ("promptprint.cli.browse", "campaign"),
    "token": ("promptprint.cli.tokens", "make_token"),
    "reindex": ("promptprint.cli.datadir", "reindex"),
    "reload": ("promptprint.cli.admin", "reload"),
    "delete-account": ("promptprint.cli.admin", "delete_account"),
    "purge": ("promptprint.cli.datadir", "purge"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """The `promptprint` command; returns its exit code (0, 1 server error, 2 usage)."""
    args = build_parser().parse_args(argv)
    module, function = VERBS[args.verb]
    verb: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), function)
    return verb(args)
