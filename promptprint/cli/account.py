"""`promptprint account ID`: the server's campaign verdict on one account."""

from __future__ import annotations

import argparse
import json

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.json_format import MessageToDict

from promptprint.cli.connect import connect, report_rpc_error
from promptprint.records import format_timestamp
from promptprint.v1 import fingerprint_pb2 as pb


def _when(ts: timestamp_pb2.Timestamp) -> str:
    return format_timestamp(ts.ToMilliseconds())


def _level(level: "pb.CampaignLevel") -> str:
    return pb.CampaignLevel.Name(level).removeprefix("CAMPAIGN_LEVEL_")


def account(args: argparse.Namespace) -> int:
    """Print the account's level, score and reasons, then each template group it used
    (strongest first) with its share and the group's own reasons; --json: the message."""
    try:
        with connect(args) as client:
            found = client.get_account_assessment(args.account_id)
    except grpc.RpcError as error:
        return report_rpc_error(error)
    if args.json:
        print(json.dumps(MessageToDict(found, preserving_proto_field_name=True), ensure_ascii=False, indent=1))
        return 0
    print(f"account {found.account_id}: {_level(found.level)} (score {found.score:.2f}, threshold {found.threshold:.2f}); "
          f"{found.prompt_count} prompts in the window; seen {_when(found.first_seen)} .. {_when(found.last_seen)}")
    for reason in found.reasons:
        print(f"  - {reason}")
    for group in found.groups:
        templates = ", ".join(str(t) for t in group.template_ids[:8]) + (", ..." if len(group.template_ids) > 8 else "")
        print(f"group {group.group_id} (templates {templates}): {group.share:.0%} of its prompts ({group.prompt_count}), "
              f"{_when(group.first_use)} .. {_when(group.last_use)}; {_level(group.level)}, score {group.score:.2f}")
        campaign = group.campaign
        print(f"  template {campaign.template_id}: campaign score {campaign.score:.2f} ({_level(campaign.level)})")
        for reason in campaign.reasons:
            print(f"    - {reason}")
    return 0
