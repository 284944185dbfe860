"""`promptprint token`: make a bearer token and the line to paste into --tokens-file."""

from __future__ import annotations

import argparse
import sys

from promptprint.server.auth import new_token, token_digest


def make_token(args: argparse.Namespace) -> int:
    """Print a new token once, and its hashed --tokens-file line; 2 on a bad name."""
    if any(c.isspace() or c in "#;" for c in args.name):
        print("promptprint token: the name may not contain spaces, '#' or ';'", file=sys.stderr)
        return 2
    token = new_token()
    roles = ",".join(sorted(set(args.role)))
    print(f"token (shown once; give it to the caller as PROMPTPRINT_TOKEN): {token}")
    print("line for --tokens-file (only the hash is stored):")
    print(f"{args.name} {roles} sha256:{token_digest(token)}")
    return 0

