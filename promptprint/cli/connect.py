"""What every client verb shares: a client from the --target/--token/--tls flags, and
one way to report the server's error. Light: grpc and the client, no library."""

from __future__ import annotations

import argparse
import os
import sys

import grpc

from promptprint.client import PromptprintClient, error_info


def connect(args: argparse.Namespace) -> PromptprintClient:
    """A client for the flags of promptprint.cli.parser's target options."""
    return PromptprintClient(
        args.target,
        timeout=args.timeout,
        token=args.token or os.environ.get("PROMPTPRINT_TOKEN") or None,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
    )


def report_rpc_error(error: grpc.RpcError) -> int:
    """Print the server's answer (code, reason, message) to stderr; the exit code 1."""
    code = error.code().name if hasattr(error, "code") else "ERROR"
    details = error.details() if hasattr(error, "details") else str(error)
    info = error_info(error)
    reason = f" [{info.reason}]" if info is not None else ""
    print(f"promptprint: server answered {code}{reason}: {details}", file=sys.stderr)
    return 1
