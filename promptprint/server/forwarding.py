"""Several serving processes, one template view: route each prompt to the process that
owns its template state.

Every member accepts every call. A call about one prompt (CheckPrompt, each prompt of an
IngestPrompts stream) goes to the *owner* of the prompt's routing key
(:mod:`promptprint.cluster`): handled here when this process owns it, otherwise sent on
over gRPC, with the caller's deadline (at most ``forward_timeout_s`` for one prompt), its
request id and its bearer token, and marked with ``x-promptprint-forwarded`` so that the
owner handles it itself instead of routing again (a caller that sets the mark itself
only gets its call handled where it entered; the roles its token has still apply). Every member keeps its own data
directory: the owner records, scores and stores the prompt. Questions about all prompts
(FindNearDuplicates by text, GetIndexStats, DeleteAccountPrompts) ask every member and
merge the answers. Admin and bank calls act on the member they reach (docs/scaling.md).

Failure: an owner that does not answer (down, restarting, unreachable within the
deadline) fails *its* keys at once with UNAVAILABLE, reason SHARD_UNAVAILABLE and the
member in the ErrorInfo's ``shard``; in an ingest stream its prompts are rejected one by
one with that reason while the other members' prompts are recorded. Peer channels
reconnect within a second of a member's return (short reconnect backoff), and the member
comes back from its own store. An owner's own error answers (INVALID_ARGUMENT,
RESOURCE_EXHAUSTED, ...) reach the caller unchanged, with their details.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
from typing import Any, AsyncIterator, Callable, NoReturn, Sequence, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from promptprint.cluster.placement import Member, Placement
from promptprint.cluster.routing import routing_key
from promptprint.errors import NotFound
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.server import convert
from promptprint.server.errors import ShardUnavailable
from promptprint.server.interceptors import REQUEST_ID_KEY
from promptprint.server.servicer import FingerprintServicer
from promptprint.server.status import request_id

log = logging.getLogger(__name__)

FORWARDED_KEY = "x-promptprint-forwarded"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_PASSED_ON = ("authorization",)  # the caller's credentials: every member checks the same tokens
_QUEUED_MESSAGES = 4  # per member of an ingest stream: how far the split runs ahead of a slow member
_CHANNEL_OPTIONS = [
    # a member that comes back is reconnected to within a second (gRPC's default backoff
    # grows to two minutes, during which its keys would keep failing)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
]


@dataclasses.dataclass(frozen=True)
class ClusterSettings:
    """How this process finds the other members and talks to them.

    Attributes:
        membership: resolves the members (a configured list, or DNS); blocking.
        refresh_seconds: how often to resolve again (0: once, at start).
        forward_timeout_s: the longest a forwarded prompt (CheckPrompt) or a fanned-out
            lookup (FindNearDuplicates, GetIndexStats) may take on another member, when the
            caller's own deadline is later or absent: how long a caller waits on a member
            that does not answer at all.
    """

    membership: Callable[[], Placement]
    refresh_seconds: float = 0.0
    forward_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.refresh_seconds < 0:
            raise ValueError(f"refresh_seconds must be >= 0, got {self.refresh_seconds}")
        if self.forward_timeout_s <= 0:
            raise ValueError(f"forward_timeout_s must be positive, got {self.forward_timeout_s}")


class Peers:
    """The current placement, and one channel per other member (opened on first use)."""

    def __init__(self, settings: ClusterSettings, executor: concurrent.futures.Executor) -> None:
        self._settings = settings
        self._executor = executor
        self._placement = settings.membership()
        self._stubs: dict[str, tuple[grpc.aio.Channel, pb_grpc.FingerprintServiceStub]] = {}

    @property
    def placement(self) -> Placement:
        return self._placement

    async def run(self) -> None:
        """Resolve the members again every ``refresh_seconds`` (forever; cancel to stop)."""
        if self._settings.refresh_seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._settings.refresh_seconds)
            try:
                placement = await loop.run_in_executor(self._executor, self._settings.membership)
            except (OSError, ValueError) as error:
                log.warning("could not resolve the members, keeping %d: %s", len(self._placement.members), error)
                continue
            if placement.members != self._placement.members:
                log.info("members now %s", ", ".join(m.name for m in placement.members))
                self._placement = placement

    def stub(self, member: Member) -> pb_grpc.FingerprintServiceStub:
        entry = self._stubs.get(member.address)
        if entry is None:
            channel = grpc.aio.insecure_channel(member.address, options=_CHANNEL_OPTIONS)
            entry = self._stubs[member.address] = (channel, pb_grpc.FingerprintServiceStub(channel))
        return entry[1]

    def timeout(self, context: grpc.aio.ServicerContext, *, bounded: bool) -> float | None:
        """The forwarded call's deadline: the caller's, and for a short call (one prompt,
        a lookup) at most ``forward_timeout_s``."""
        remaining = context.time_remaining()
        if not bounded:
            return remaining
        limit = self._settings.forward_timeout_s
        return limit if remaining is None else min(remaining, limit)

    def metadata(self, context: grpc.aio.ServicerContext) -> tuple[tuple[str, str], ...]:
        """What a forwarded call carries: the mark, the request id, the caller's token."""
        passed = tuple((k, v) for k, v in context.invocation_metadata() or () if k in _PASSED_ON and isinstance(v, str))
        return ((FORWARDED_KEY, self._placement.self_name), (REQUEST_ID_KEY, request_id.get()), *passed)

    async def close(self) -> None:
        for channel, _ in self._stubs.values():
            await channel.close()
        self._stubs.clear()


def is_forwarded(context: grpc.aio.ServicerContext) -> bool:
    return any(k == FORWARDED_KEY for k, _ in context.invocation_metadata() or ())


def _answered(error: grpc.aio.AioRpcError) -> bool:
    """Whether the member itself answered with an error (promptprint attaches status
    details to every error it sends), rather than the call failing on the way."""
    return any(k == _STATUS_DETAILS_KEY for k, _ in error.trailing_metadata() or ())


def _reason(error: grpc.aio.AioRpcError) -> str | None:
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]  # AioRpcError has the methods it reads
    except ValueError:
        return None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return None


async def relay(context: grpc.aio.ServicerContext, member: Member, error: grpc.aio.AioRpcError) -> NoReturn:
    """Fail this call as the forwarded one failed: the member's own error answer unchanged
    (code, message, details), a call that got no answer as SHARD_UNAVAILABLE."""
    if _answered(error) or error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        passed = tuple((k, v) for k, v in error.trailing_metadata() or () if k in (_STATUS_DETAILS_KEY, REQUEST_ID_KEY))
        await context.abort(error.code(), error.details() or "", passed)
    raise ShardUnavailable(member.name, f"{error.code().name}: {error.details()}")


def routing_keys(texts: Sequence[str]) -> list[int]:
    return [routing_key(t) for t in texts]


@dataclasses.dataclass
class _Route:
    """One member's share of an ingest stream: its messages, in stream order, and the
    stream positions of its prompts (to put its rejections back in the caller's order)."""

    member: Member
    queue: asyncio.Queue[pb.IngestPromptsRequest | None]
    positions: list[int]
    call: asyncio.Future[pb.IngestPromptsResponse]


_M = TypeVar("_M")


async def _drain(queue: asyncio.Queue[_M | None]) -> AsyncIterator[_M]:
    while (message := await queue.get()) is not None:
        yield message


async def _put(route: _Route, message: pb.IngestPromptsRequest | None) -> None:
    """Queue a message for a member, waiting while its queue is full (backpressure from a
    slow member), unless its call has ended (a failed member's prompts are rejected)."""
    if route.call.done():
        return
    if not route.queue.full():
        route.queue.put_nowait(message)
        return
    put = asyncio.ensure_future(route.queue.put(message))
    waiting: set[asyncio.Future[Any]] = {put, route.call}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if not put.done():
        put.cancel()


@dataclasses.dataclass
class _CheckRoute:
    """One member's share of a CheckPrompts stream: the sub-batches sent to it and its
    answers, one per sub-batch, in order; ``failed`` once it stopped answering."""

    member: Member
    queue: asyncio.Queue[pb.CheckPromptsRequest | None]
    answers: AsyncIterator[pb.CheckPromptsResponse]
    call: Any = None  # the forwarded call (None for this member)
    failed: str = ""


def _unavailable(route: _CheckRoute, count: int) -> pb.CheckPromptsResponse:
    """A failed member's prompts, each refused as IngestPrompts refuses them."""
    response = pb.CheckPromptsResponse()
    for _ in range(count):
        response.results.add(
            rejection=pb.IngestRejection(
                code=grpc.StatusCode.UNAVAILABLE.value[0], reason="SHARD_UNAVAILABLE",
                message=f"shard {route.member.name} is unavailable ({route.failed}); resend later",
            )
        )
    return response


class RoutingServicer(FingerprintServicer):
    """FingerprintService on one member of several: routes, fans out, or handles here."""

    def __init__(self, peers: Peers, *args: Any) -> None:
        super().__init__(*args)
        self._peers = peers
        self._told: tuple[int, int] | None = None  # (index, members) last told

    def _tell_members(self, placement: Placement) -> None:
        """Tell the index how many members share the traffic when that (or the index,
        after a reload) changed: its accounts' volumes are estimated from it."""
        index = self._holder.get()
        told = (id(index), len(placement.members))
        if told != self._told:
            index.set_cluster_size(told[1])
            self._told = told

    async def CheckPrompt(self, request: pb.CheckPromptRequest, context: grpc.aio.ServicerContext) -> pb.CheckPromptResponse:
        placement = self._peers.placement
        self._tell_members(placement)
        if placement.single or is_forwarded(context) or not request.HasField("prompt"):
            return await super().CheckPrompt(request, context)
        owner = placement.owner(routing_key(request.prompt.text))
        if placement.is_self(owner):
            return await super().CheckPrompt(request, context)
        try:
            answer: pb.CheckPromptResponse = await self._peers.stub(owner).CheckPrompt(
                request, timeout=self._peers.timeout(context, bounded=True), metadata=self._peers.metadata(context)
            )
        except grpc.aio.AioRpcError as error:
            await relay(context, owner, error)
        return answer

    async def IngestPrompts(
        self, request_iterator: AsyncIterator[pb.IngestPromptsRequest], context: grpc.aio.ServicerContext
    ) -> pb.IngestPromptsResponse:
        placement = self._peers.placement
        self._tell_members(placement)
        if placement.single or is_forwarded(context):
            return await super().IngestPrompts(request_iterator, context)
        routes: dict[str, _Route] = {}

        def route_of(member: Member) -> _Route:
            route = routes.get(member.name)
            if route is None:
                queue: asyncio.Queue[pb.IngestPromptsRequest | None] = asyncio.Queue(_QUEUED_MESSAGES)
                if placement.is_self(member):
                    call = asyncio.ensure_future(super(RoutingServicer, self).IngestPrompts(_drain(queue), context))
                else:
                    call = asyncio.ensure_future(self._forward_stream(member, _drain(queue), context))
                route = routes[member.name] = _Route(member, queue, [], call)
            return route

        position = 0
        try:
            async for request in request_iterator:
                convert.check_batch_size(len(request.prompts))
                keys = await self._run(routing_keys, [p.text for p in request.prompts])
                parts: dict[str, list[pb.Prompt]] = {}
                for prompt, key in zip(request.prompts, keys):
                    route = route_of(placement.owner(key))
                    route.positions.append(position)
                    parts.setdefault(route.member.name, []).append(prompt)
                    position += 1
                for name, prompts in parts.items():
                    await _put(routes[name], pb.IngestPromptsRequest(prompts=prompts))
            for route in routes.values():
                await _put(route, None)
            if routes:
                await asyncio.wait([r.call for r in routes.values()])
            return self._merge(list(routes.values()))
        finally:
            for route in routes.values():
                route.call.cancel()
            if routes:
                await asyncio.gather(*(r.call for r in routes.values()), return_exceptions=True)

    async def CheckPrompts(
        self, request_iterator: AsyncIterator[pb.CheckPromptsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CheckPromptsResponse]:
        """Each batch split by owner into sub-batches (in order), each owner's answer put
        back at its prompts' places. One batch at a time: the next is read once every owner
        answered this one, so a slow owner slows the stream rather than piling up here. A
        member that does not answer has its prompts refused (SHARD_UNAVAILABLE), the
        others are answered."""
        placement = self._peers.placement
        self._tell_members(placement)
        if placement.single or is_forwarded(context):
            async for answer in super().CheckPrompts(request_iterator, context):
                yield answer
            return
        routes: dict[str, _CheckRoute] = {}

        def route_of(member: Member) -> _CheckRoute:
            route = routes.get(member.name)
            if route is None:
                queue: asyncio.Queue[pb.CheckPromptsRequest | None] = asyncio.Queue()
                if placement.is_self(member):
                    route = _CheckRoute(member, queue, super(RoutingServicer, self).CheckPrompts(_drain(queue), context))
                else:
                    call = self._peers.stub(member).CheckPrompts(
                        _drain(queue), timeout=self._peers.timeout(context, bounded=False), metadata=self._peers.metadata(context)
                    )
                    route = _CheckRoute(member, queue, call.__aiter__(), call)
                routes[member.name] = route
            return route

        async def answer_of(route: _CheckRoute, sub: pb.CheckPromptsRequest) -> pb.CheckPromptsResponse:
            if not route.failed:
                route.queue.put_nowait(sub)
                try:
                    answer: pb.CheckPromptsResponse = await anext(route.answers)
                    return answer
                except grpc.aio.AioRpcError as error:
                    if _answered(error):
                        await relay(context, route.member, error)
                    route.failed = error.code().name
                except StopAsyncIteration:
                    route.failed = "its stream ended"
            return _unavailable(route, len(sub.prompts))

        position = 0
        try:
            async for request in request_iterator:
                convert.check_batch_size(len(request.prompts))
                keys = await self._run(routing_keys, [p.text for p in request.prompts])
                slots: dict[str, list[int]] = {}
                for slot, key in enumerate(keys):
                    slots.setdefault(route_of(placement.owner(key)).member.name, []).append(slot)
                subs = []
                for name, owned in slots.items():
                    sub = pb.CheckPromptsRequest()
                    sub.CopyFrom(request)
                    del sub.prompts[:]
                    sub.prompts.extend(request.prompts[i] for i in owned)
                    subs.append((name, owned, sub))
                answers = await asyncio.gather(*(answer_of(routes[name], sub) for name, _, sub in subs))
                results: dict[int, pb.CheckPromptsResult] = {}
                for (_, owned, _), answer in zip(subs, answers):
                    for slot, result in zip(owned, answer.results):
                        if result.HasField("rejection"):
                            result.rejection.position = position + slot
                            result.rejection.prompt_id = request.prompts[slot].prompt_id[:256]
                        results[slot] = result
                response = pb.CheckPromptsResponse()
                response.results.extend(results[slot] for slot in range(len(request.prompts)))
                yield response
                position += len(request.prompts)
        finally:
            for route in routes.values():
                route.queue.put_nowait(None)
                if route.call is not None:
                    route.call.cancel()
                else:
                    await route.answers.aclose()  # type: ignore[attr-defined]

    async def _forward_stream(
        self, member: Member, messages: AsyncIterator[pb.IngestPromptsRequest], context: grpc.aio.ServicerContext
    ) -> pb.IngestPromptsResponse:
        response: pb.IngestPromptsResponse = await self._peers.stub(member).IngestPrompts(
            messages, timeout=self._peers.timeout(context, bounded=False), metadata=self._peers.metadata(context)
        )
        return response

    def _merge(self, routes: list[_Route]) -> pb.IngestPromptsResponse:
        """One response for the caller: counts summed, rejections at the caller's positions;
        a member whose stream failed has all its prompts rejected with the failure's reason
        (none of them was acknowledged; resending them is safe)."""
        response = pb.IngestPromptsResponse()
        listed: list[pb.IngestRejection] = []
        for route in routes:
            error = route.call.exception()
            if isinstance(error, grpc.aio.AioRpcError):
                answered = _answered(error)
                reason = (_reason(error) if answered else None) or "SHARD_UNAVAILABLE"
                message = f"shard {route.member.name}: {error.details()}" if answered else (
                    f"shard {route.member.name} is unavailable ({error.code().name}); resend later"
                )
                code = error.code().value[0] if answered else grpc.StatusCode.UNAVAILABLE.value[0]
                response.rejected_count += len(route.positions)
                listed.extend(pb.IngestRejection(position=p, code=code, reason=reason, message=message) for p in route.positions)
                continue
            if error is not None:
                raise error  # this process's own part failed: the stream fails, as on one process
            part = route.call.result()
            response.accepted_count += part.accepted_count
            response.duplicate_count += part.duplicate_count
            response.rejected_count += part.rejected_count
            for rejection in part.rejections:
                moved = pb.IngestRejection()
                moved.CopyFrom(rejection)
                moved.position = route.positions[rejection.position]
                listed.append(moved)
        listed.sort(key=lambda r: r.position)
        response.rejections.extend(listed[: self._ingest.max_rejections_listed])
        return response

    async def _everyone(
        self, method: str, request: Any, context: grpc.aio.ServicerContext, local: Any, *, bounded: bool = True
    ) -> list[Any]:
        """Ask every member (this one through ``local``); each answer or, for a member that
        answered with an error, that error. A member that did not answer fails the call.
        ``bounded``: each member gets at most ``forward_timeout_s`` (lookups)."""
        placement = self._peers.placement
        others = placement.others()
        calls = [
            getattr(self._peers.stub(m), method)(
                request, timeout=self._peers.timeout(context, bounded=bounded), metadata=self._peers.metadata(context)
            )
            for m in others
        ]
        answers = await asyncio.gather(local, *calls, return_exceptions=True)
        for member, answer in zip(others, answers[1:]):
            if isinstance(answer, grpc.aio.AioRpcError) and not _answered(answer):
                raise ShardUnavailable(member.name, f"{answer.code().name}: {answer.details()}")
        for member, answer in zip(others, answers[1:]):
            if isinstance(answer, grpc.aio.AioRpcError) and answer.code() != grpc.StatusCode.NOT_FOUND:
                await relay(context, member, answer)
        if isinstance(answers[0], BaseException) and not isinstance(answers[0], NotFound):
            raise answers[0]
        return list(answers)

    async def FindNearDuplicates(
        self, request: pb.FindNearDuplicatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindNearDuplicatesResponse:
        """By text: every member's hits, best first, the top k. By prompt_id: the member
        that holds the prompt answers (from its own prompts); NOT_FOUND when none does."""
        if self._peers.placement.single or is_forwarded(context):
            return await super().FindNearDuplicates(request, context)
        answers = await self._everyone("FindNearDuplicates", request, context, super().FindNearDuplicates(request, context))
        found = [a for a in answers if isinstance(a, pb.FindNearDuplicatesResponse)]
        if not found:
            raise answers[0]  # this process's NOT_FOUND
        hits = sorted((h for a in found for h in a.hits), key=lambda h: (-h.similarity, h.prompt_id))
        return pb.FindNearDuplicatesResponse(hits=hits[: request.k or convert.DEFAULT_K])

    async def GetAccountAssessment(
        self, request: pb.GetAccountAssessmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAccountAssessmentResponse:
        """An account's prompts are spread over the members by their templates: each member
        assesses the groups it owns; the verdict is the strongest member's, with every
        member's groups and the prompts summed. NOT_FOUND only when no member knows it."""
        if self._peers.placement.single or is_forwarded(context):
            return await super().GetAccountAssessment(request, context)
        answers = await self._everyone(
            "GetAccountAssessment", request, context, super().GetAccountAssessment(request, context)
        )
        found = [a.assessment for a in answers if isinstance(a, pb.GetAccountAssessmentResponse)]
        if not found:
            raise answers[0]  # this process's NOT_FOUND
        return pb.GetAccountAssessmentResponse(assessment=merge_account_assessments(found))

    async def GetIndexStats(self, request: pb.GetIndexStatsRequest, context: grpc.aio.ServicerContext) -> pb.GetIndexStatsResponse:
        """Counts summed over the members (accounts and orgs: the sum of each member's
        distinct count, an upper bound, since an account's prompts spread over members);
        the oldest snapshot time and watermark; index kind and model of this member."""
        if self._peers.placement.single or is_forwarded(context):
            return await super().GetIndexStats(request, context)
        answers = await self._everyone("GetIndexStats", request, context, super().GetIndexStats(request, context))
        return merge_stats(answers)

    async def DeleteAccountPrompts(
        self, request: pb.DeleteAccountPromptsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteAccountPromptsResponse:
        """An account's prompts are spread over the members: each deletes its own. If one
        does not answer the call fails, and repeating it is safe."""
        if self._peers.placement.single or is_forwarded(context):
            return await super().DeleteAccountPrompts(request, context)
        answers = await self._everyone(
            "DeleteAccountPrompts", request, context, super().DeleteAccountPrompts(request, context), bounded=False
        )
        return pb.DeleteAccountPromptsResponse(deleted_count=sum(a.deleted_count for a in answers))


_SUMMED = (
    "prompt_count", "indexed_count", "account_count", "org_count", "disk_bytes", "resident_memory_bytes",
    "index_memory_bytes", "template_count", "pending_vectors", "skipped_vectors",
)


def merge_account_assessments(parts: list[pb.AccountAssessment]) -> pb.AccountAssessment:
    """One account's assessments by several members: the strongest verdict (level, then
    score) with its reasons, every member's groups strongest first, the prompts summed and
    the earliest first / latest last seen."""
    strongest = max(parts, key=lambda a: (a.level, a.score))
    merged = pb.AccountAssessment()
    merged.CopyFrom(strongest)
    merged.prompt_count = sum(a.prompt_count for a in parts)
    del merged.groups[:]
    merged.groups.extend(sorted((g for a in parts for g in a.groups), key=lambda g: -g.campaign.score))
    for group in merged.groups:  # each member knew only its share of the account's prompts
        group.share = min(1.0, group.prompt_count / max(1, merged.prompt_count))
    seen = [a for a in parts if a.HasField("first_seen")]
    if seen:
        merged.first_seen.CopyFrom(min((a.first_seen for a in seen), key=lambda t: (t.seconds, t.nanos)))
        merged.last_seen.CopyFrom(max((a.last_seen for a in seen), key=lambda t: (t.seconds, t.nanos)))
    return merged


def merge_stats(answers: list[pb.GetIndexStatsResponse]) -> pb.GetIndexStatsResponse:
    """GetIndexStats over the members; the first answer is this member's."""
    merged = pb.GetIndexStatsResponse()
    merged.CopyFrom(answers[0])
    for name in _SUMMED:
        setattr(merged, name, sum(getattr(a, name) for a in answers))
    merged.snapshot_watermark = min(a.snapshot_watermark for a in answers)
    with_time = [a for a in answers if a.HasField("snapshot_time")]
    if with_time:
        merged.snapshot_time.CopyFrom(min(with_time, key=lambda a: (a.snapshot_time.seconds, a.snapshot_time.nanos)).snapshot_time)
    lagging = max(answers, key=lambda a: a.embedding_lag.ToNanoseconds())
    merged.embedding_lag.CopyFrom(lagging.embedding_lag)
    return merged
