"""CheckPrompts, one request at a time: read a batch, check it, answer it.

A request's prompts are converted one by one; an invalid prompt is answered with its
rejection, as IngestPrompts lists it, and the others are checked together through
PromptIndex.check_many, which gives each the verdict of a CheckPrompt sent after the
prompts before it. The answers keep the request's order. The servicer pipelines the
batches (promptprint.server.servicer.FingerprintServicer.CheckPrompts).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from promptprint.errors import InvalidArgument, PromptprintError
from promptprint.index.prompt_index import PromptIndex
from promptprint.records import PromptRecord, now_ms
from promptprint.server import convert
from promptprint.server.status import status_code_for
from promptprint.text.skeleton import Signature
from promptprint.v1 import fingerprint_pb2 as pb


@dataclasses.dataclass(frozen=True)
class CheckBatch:
    """One CheckPromptsRequest, read.

    Attributes:
        options: the options its prompts share.
        records: its valid prompts, in order.
        slots: each record's position in the request.
        rejections: the invalid prompts' answers, by position in the request.
        size: the request's prompts.
        first_position: the stream position of its first prompt.
    """

    options: convert.CheckOptions
    records: list[PromptRecord]
    slots: list[int]
    rejections: dict[int, pb.IngestRejection]
    size: int
    first_position: int


def _rejection(position: int, prompt_id: str, error: PromptprintError) -> pb.IngestRejection:
    return pb.IngestRejection(
        position=position, prompt_id=prompt_id[:256], code=status_code_for(error).value[0], reason=error.reason,
        message=error.message,
    )


def read_batch(request: pb.CheckPromptsRequest, index: PromptIndex, first_position: int) -> CheckBatch:
    """Convert a request; ``first_position`` is the stream position of its first prompt.

    Raises:
        InvalidArgument: too many prompts for one message, or invalid shared options
            (what would fail a CheckPrompt whatever its prompt).
    """
    convert.check_batch_size(len(request.prompts))
    options = convert.check_options(request, index.config.tier)
    receive = now_ms()
    records: list[PromptRecord] = []
    slots: list[int] = []
    rejections: dict[int, pb.IngestRejection] = {}
    for slot, prompt in enumerate(request.prompts):
        try:
            record = convert.prompt_to_record(
                prompt, max_text_bytes=index.config.max_text_bytes, receive_ms=receive, require_prompt_id=request.record
            )
        except InvalidArgument as error:
            rejections[slot] = _rejection(first_position + slot, prompt.prompt_id, error)
        else:
            records.append(record)
            slots.append(slot)
    return CheckBatch(options, records, slots, rejections, len(request.prompts), first_position)


def answer(
    index: PromptIndex, batch: CheckBatch, signatures: list[Signature], reconstructed: Callable[[Signature], str] | None = None
) -> pb.CheckPromptsResponse:
    """Check a batch's records (``signatures``: theirs, from PromptIndex.sign) and answer
    every prompt of the request, in order: a verdict, its rejection when it was invalid,
    or a prompt_id CONFLICT's rejection (ALREADY_EXISTS). ``reconstructed``: the
    reconstructed campaign of a signature ("" none), when a reconstruction is published."""
    checked = index.check_many(batch.records, signatures=signatures, **batch.options.kwargs())
    threshold = index.config.campaign_threshold
    rejections = dict(batch.rejections)
    verdicts: dict[int, pb.CheckPromptResponse] = {}
    for slot, record, result, sig in zip(batch.slots, batch.records, checked, signatures):
        if isinstance(result, PromptprintError):
            rejections[slot] = _rejection(batch.first_position + slot, record.prompt_id, result)
        else:
            verdicts[slot] = convert.verdict_to_proto(result, threshold)
            if reconstructed is not None:
                verdicts[slot].campaign.reconstructed_campaign_id = reconstructed(sig)
    response = pb.CheckPromptsResponse()
    for slot in range(batch.size):
        if slot in verdicts:
            response.results.add(verdict=verdicts[slot])
        else:
            response.results.add(rejection=rejections[slot])
    return response
