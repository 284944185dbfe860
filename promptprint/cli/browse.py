"""`promptprint campaign list|show`: browse the server's latest offline reconstruction."""

from __future__ import annotations

import argparse
import json
import sys

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.json_format import MessageToDict

from promptprint.cli.connect import connect, report_rpc_error
from promptprint.errors import InvalidArgument
from promptprint.records import format_timestamp, parse_timestamp


def _when(ts: timestamp_pb2.Timestamp) -> str:
    return format_timestamp(ts.seconds * 1000 + ts.nanos // 1_000_000)


def campaign(args: argparse.Namespace) -> int:
    """List campaigns (best first) or show one; 2 on a malformed --since/--until."""
    try:
        with connect(args) as client:
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
                              f"{_when(c.first_seen)[:10]}..{_when(c.last_seen)[:10]}  {c.template_text[:60]}")
                if not campaigns and not args.json:
                    print("no campaigns match")
            else:
                found = client.get_campaign(args.campaign_id, account_limit=args.accounts)
                if args.json:
                    print(json.dumps(MessageToDict(found, preserving_proto_field_name=True), ensure_ascii=False, indent=1))
                    return 0
                s = found.summary
                print(f"{s.campaign_id} (rank {s.rank}): score {s.score:.2f}; {s.account_count} accounts in {s.org_count} orgs, "
                      f"{s.prompt_count} prompts, {_when(s.first_seen)} .. {_when(s.last_seen)}")
                for reason in s.reasons:
                    print(f"  - {reason}")
                for t in found.templates:
                    print(f"template {t.template_id}: {t.prompt_count} prompts, {t.account_count} accounts\n  {t.text[:300]}")
                print("accounts (prompts here / all):")
                for a in found.accounts:
                    print(f"  {a.account_id:<24} {a.org_id or '-':<16} {a.prompt_count:>5} / {a.total_prompt_count}")
    except grpc.RpcError as error:
        return report_rpc_error(error)
    except InvalidArgument as error:
        print(f"promptprint campaign: {error.message}", file=sys.stderr)
        return 2
    return 0
