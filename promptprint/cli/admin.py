"""Admin client verbs on a running server: `promptprint reload` and `promptprint delete-account`."""

from __future__ import annotations

import argparse

import grpc

from promptprint.cli.connect import connect, report_rpc_error


def reload(args: argparse.Namespace) -> int:
    """Make the server switch to the newest snapshot (after a reindex) now."""
    try:
        with connect(args) as client:
            answer = client.reload_index()
    except grpc.RpcError as error:
        return report_rpc_error(error)
    state = "reloaded" if answer.reloaded else "already serving"
    print(f"{state} snapshot {answer.snapshot}: {answer.index_type}, {answer.prompt_count} prompts")
    return 0


def delete_account(args: argparse.Namespace) -> int:
    """Delete every prompt of an account (store, index, stats)."""
    try:
        with connect(args) as client:
            deleted = client.delete_account_prompts(args.account_id)
    except grpc.RpcError as error:
        return report_rpc_error(error)
    print(f"deleted {deleted} prompts of account {args.account_id}")
    return 0
