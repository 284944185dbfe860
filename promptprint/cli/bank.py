"""`promptprint bank add|list|remove`: the allow and deny banks, through the server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict

from promptprint.cli.connect import connect, report_rpc_error


def bank(args: argparse.Namespace) -> int:
    """Add, list or remove bank entries; 2 when --file cannot be read."""
    try:
        with connect(args) as client:
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
        return report_rpc_error(error)
    except OSError as error:
        print(f"promptprint bank: {error}", file=sys.stderr)
        return 2
    return 0
