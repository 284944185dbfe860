"""FingerprintService: a thin adapter from promptprint.v1 onto promptprint.index.prompt_index.PromptIndex.

No detection logic lives here. Each handler converts the request (promptprint.server.convert),
runs the library call on a worker thread (embedding and FAISS release the GIL, and the
event loop must stay free for other calls), and converts the answer back. Domain
errors propagate to the interceptor, which turns them into statuses.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import dataclasses
import functools
from typing import AsyncIterator, Callable, TypeVar

import grpc

from promptprint.cancellation import CancelScope, current_scope
from promptprint.errors import InvalidArgument, NotFound, PromptprintError, Unavailable
from promptprint.index.prompt_index import PromptIndex
from promptprint.index.results import IngestOutcome, IngestStatus
from promptprint.reconstruct.catalog import CampaignCatalog
from promptprint.reconstruct.membership import CampaignMembership
from promptprint.text.skeleton import Signature, signature
from promptprint.records import PromptRecord, now_ms
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.server import check_stream, convert
from promptprint.server.maintenance import reload_now
from promptprint.process import resident_memory_bytes

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
DEFAULT_ACCOUNT_LIMIT = 1000


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    """How the ingest stream is cut into library calls.

    Attributes:
        batch_size: prompts per embed+commit (bigger amortizes fsync and FAISS adds;
            smaller bounds memory per stream).
        batches_in_flight: batches one stream (IngestPrompts, CheckPrompts) has in the
            library at once. With two, a batch's template signatures (computed without
            the GIL) overlap the previous batch's commit and tracker update, and the next
            messages' decoding. Batches still commit one after another, in stream order;
            each in flight holds its prompts in memory.
        max_rejections_listed: rejections itemized in one response; the rest are
            still counted in rejected_count.
    """

    batch_size: int = 128
    batches_in_flight: int = 2
    max_rejections_listed: int = 1000

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.batches_in_flight < 1:
            raise ValueError(f"batches_in_flight must be >= 1, got {self.batches_in_flight}")
        if self.max_rejections_listed < 0:
            raise ValueError(f"max_rejections_listed must be >= 0, got {self.max_rejections_listed}")


class IndexHolder:
    """The index once it is loaded; UNAVAILABLE before that (the server binds its port and
    answers health checks while a large snapshot loads and replays)."""

    def __init__(self) -> None:
        self._index: PromptIndex | None = None
        self._failure: str | None = None

    def set(self, index: PromptIndex) -> None:
        self._index = index

    def fail(self, message: str) -> None:
        self._failure = message

    def peek(self) -> PromptIndex | None:
        """The index if loaded, else None (for gauges, which must not raise)."""
        return self._index

    def get(self) -> PromptIndex:
        if self._index is not None:
            return self._index
        if self._failure is not None:
            raise Unavailable(f"the index failed to load: {self._failure}", reason="INDEX_LOAD_FAILED")
        raise Unavailable("the index is still loading; retry shortly", reason="INDEX_LOADING")


class FingerprintServicer(pb_grpc.FingerprintServiceServicer):
    """gRPC handlers over a PromptIndex held by an IndexHolder."""

    def __init__(
        self, holder: IndexHolder, executor: concurrent.futures.Executor, ingest: IngestSettings, reload_lock: asyncio.Lock
    ) -> None:
        self._holder = holder
        self._executor = executor
        self._ingest = ingest
        self._reload_lock = reload_lock
        self._catalog: CampaignCatalog | None = None
        self._membership: CampaignMembership | None = None

    def _reconstructed(self) -> Callable[[Signature], str] | None:
        """The reconstructed campaign of a prompt's signature, when the data directory has a
        published reconstruction (None: none, nothing to compute)."""
        if self._membership is None:
            self._membership = CampaignMembership(self._holder.get().config.data_dir)
        membership = self._membership
        if not membership.published():
            return None
        return lambda sig: membership.campaign_of(sig, None) or ""

    def _campaigns(self) -> CampaignCatalog:
        """The latest offline reconstruction of the index's data directory."""
        if self._catalog is None:
            self._catalog = CampaignCatalog(self._holder.get().config.data_dir)
        return self._catalog

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run a library call on a worker thread, in a copy of this call's context (request
        id) with a cancel scope: if the call is cancelled or its deadline passes, the
        scope is cancelled and queued embedding work for it is dropped (promptprint.vectors.batching)."""
        loop = asyncio.get_running_loop()
        scope = CancelScope()
        context = contextvars.copy_context()
        context.run(current_scope.set, scope)
        try:
            return await loop.run_in_executor(self._executor, functools.partial(context.run, fn, *args, **kwargs))
        except asyncio.CancelledError:
            scope.cancel()
            raise

    async def IngestPrompts(
        self, request_iterator: AsyncIterator[pb.IngestPromptsRequest], context: grpc.aio.ServicerContext
    ) -> pb.IngestPromptsResponse:
        index = self._holder.get()
        max_text = index.config.max_text_bytes
        response = pb.IngestPromptsResponse()
        pending: list[PromptRecord] = []
        pending_positions: list[int] = []
        position = 0

        def reject(pos: int, prompt_id: str, error: PromptprintError, code: grpc.StatusCode) -> None:
            response.rejected_count += 1
            if len(response.rejections) < self._ingest.max_rejections_listed:
                response.rejections.add(
                    position=pos, prompt_id=prompt_id[:256], code=code.value[0], reason=error.reason, message=error.message
                )

        async def ingest(records: list[PromptRecord], previous: asyncio.Future[list[IngestOutcome]] | None) -> list[IngestOutcome]:
            signed = await self._run(index.sign, records)
            if previous is not None:  # commit in stream order: a repeated prompt_id keeps its first text
                await asyncio.wait([previous])
            return await self._run(index.ingest, records, signatures=signed)

        # Batches handed to the library and not yet counted, oldest first.
        in_flight: collections.deque[tuple[asyncio.Future[list[IngestOutcome]], list[PromptRecord], list[int]]] = (
            collections.deque()
        )

        async def settle_oldest() -> None:
            future, records, positions = in_flight[0]
            outcomes = await future
            in_flight.popleft()
            for pos, record, outcome in zip(positions, records, outcomes):
                if outcome.status is IngestStatus.RECORDED:
                    response.accepted_count += 1
                elif outcome.status is IngestStatus.DUPLICATE:
                    response.duplicate_count += 1
                elif outcome.error is not None:
                    reject(pos, record.prompt_id, outcome.error, grpc.StatusCode.ALREADY_EXISTS)

        async def flush() -> None:
            while len(in_flight) >= self._ingest.batches_in_flight:
                await settle_oldest()
            records, positions = list(pending), list(pending_positions)
            previous = in_flight[-1][0] if in_flight else None
            in_flight.append((asyncio.ensure_future(ingest(records, previous)), records, positions))
            pending.clear()
            pending_positions.clear()

        try:
            async for request in request_iterator:
                convert.check_batch_size(len(request.prompts))
                receive = now_ms()
                for prompt in request.prompts:
                    try:
                        record = convert.prompt_to_record(prompt, max_text_bytes=max_text, receive_ms=receive)
                    except InvalidArgument as error:
                        reject(position, prompt.prompt_id, error, grpc.StatusCode.INVALID_ARGUMENT)
                    else:
                        pending.append(record)
                        pending_positions.append(position)
                    position += 1
                if len(pending) >= self._ingest.batch_size:
                    await flush()
            if pending:
                await flush()
            while in_flight:
                await settle_oldest()
        finally:
            # On an error or a cancellation, wait for the batches already handed over
            # (their worker threads run to the end either way) and drop their outcomes:
            # the stream fails, the client retries, and prompt_id makes the retry safe.
            for future, _, _ in in_flight:
                future.cancel()
            if in_flight:
                await asyncio.gather(*(f for f, _, _ in in_flight), return_exceptions=True)
        return response

    async def FindNearDuplicates(
        self, request: pb.FindNearDuplicatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.FindNearDuplicatesResponse:
        index = self._holder.get()
        query = convert.near_duplicate_query(request)
        hits = await self._run(index.find_near_duplicates, query)
        return pb.FindNearDuplicatesResponse(hits=[convert.hit_to_proto(h) for h in hits])

    async def CheckPrompt(self, request: pb.CheckPromptRequest, context: grpc.aio.ServicerContext) -> pb.CheckPromptResponse:
        index = self._holder.get()
        if not request.HasField("prompt"):
            raise InvalidArgument("prompt is required", reason="PROMPT_MISSING", field="prompt")
        record = convert.prompt_to_record(
            request.prompt, max_text_bytes=index.config.max_text_bytes, receive_ms=now_ms(), require_prompt_id=request.record
        )
        options = convert.check_options(request, index.config.tier)
        check = functools.partial(index.check, record, **options.kwargs())
        if options.tier == "fingerprint" and not request.record:
            # A lookup that neither embeds nor writes: a few hundred microseconds of
            # Python that waits on nothing (store reads don't wait for writers in WAL
            # mode). Run here, not through the worker pool: the hop cost ~0.3 ms of CPU
            # per call, and under the GIL a worker thread would not run it any sooner.
            verdict = check()
        else:
            verdict = await self._run(check)
        response = convert.verdict_to_proto(verdict, index.config.campaign_threshold)
        reconstructed = self._reconstructed()
        if reconstructed is not None:
            response.campaign.reconstructed_campaign_id = reconstructed(signature(record.text))
        return response

    async def GetAccountAssessment(
        self, request: pb.GetAccountAssessmentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAccountAssessmentResponse:
        index = self._holder.get()
        assessment = await self._run(index.assess_account, request.account_id)
        return pb.GetAccountAssessmentResponse(
            assessment=convert.account_assessment_to_proto(assessment, index.config.campaign_threshold)
        )

    async def CheckPrompts(
        self, request_iterator: AsyncIterator[pb.CheckPromptsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CheckPromptsResponse]:
        """Batches are checked in stream order, each signed while the one before it is
        checked, and answered as soon as they are (a client may wait for each answer
        before sending on). A batch holds one of ``batches_in_flight`` slots from before
        its request is read until its answer is handed to gRPC, which takes answers only
        as fast as the client reads them (HTTP/2 flow control): a client that stops
        reading stops the stream, and nothing here grows with it."""
        index = self._holder.get()
        slots = asyncio.Semaphore(self._ingest.batches_in_flight)
        answers: asyncio.Queue[asyncio.Future[pb.CheckPromptsResponse] | None] = asyncio.Queue()
        started: list[asyncio.Future[pb.CheckPromptsResponse]] = []

        async def check(batch: check_stream.CheckBatch, previous: asyncio.Future[pb.CheckPromptsResponse] | None) -> pb.CheckPromptsResponse:
            signed = await self._run(index.sign, batch.records)
            if previous is not None:  # check in stream order: each prompt sees the ones before it
                await asyncio.wait([previous])
            return await self._run(check_stream.answer, index, batch, signed, self._reconstructed())

        async def read() -> None:
            previous: asyncio.Future[pb.CheckPromptsResponse] | None = None
            position = 0
            try:
                while True:
                    await slots.acquire()
                    try:
                        request = await anext(request_iterator)
                    except StopAsyncIteration:
                        break
                    batch = check_stream.read_batch(request, index, position)
                    position += batch.size
                    previous = asyncio.ensure_future(check(batch, previous))
                    started.append(previous)
                    answers.put_nowait(previous)
            except Exception as error:  # noqa: BLE001 - raised in stream order, after the answers before it
                failed: asyncio.Future[pb.CheckPromptsResponse] = asyncio.get_running_loop().create_future()
                failed.set_exception(error)
                answers.put_nowait(failed)
            answers.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (answer := await answers.get()) is not None:
                yield await answer
                slots.release()
        finally:
            # As in IngestPrompts: batches already handed over finish on their worker
            # threads; their answers are dropped, and prompt_id makes a resend safe.
            reader.cancel()
            for future in started:
                future.cancel()
            await asyncio.gather(reader, *started, return_exceptions=True)

    async def GetIndexStats(self, request: pb.GetIndexStatsRequest, context: grpc.aio.ServicerContext) -> pb.GetIndexStatsResponse:
        index = self._holder.get()
        stats = await self._run(index.stats)
        return convert.stats_to_proto(stats, resident_memory_bytes())

    async def CreateBankEntry(self, request: pb.CreateBankEntryRequest, context: grpc.aio.ServicerContext) -> pb.CreateBankEntryResponse:
        index = self._holder.get()
        kind = convert.BANK_KIND_NAMES.get(request.kind)
        if kind is None:
            raise InvalidArgument("kind must be BANK_KIND_ALLOW or BANK_KIND_DENY", reason="BANK_KIND_INVALID", field="kind")
        entry = await self._run(index.add_bank_entry, kind, request.text, request.note)
        return pb.CreateBankEntryResponse(entry=convert.bank_entry_to_proto(entry))

    async def ListBankEntries(self, request: pb.ListBankEntriesRequest, context: grpc.aio.ServicerContext) -> pb.ListBankEntriesResponse:
        index = self._holder.get()
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page_size must be in 0..{MAX_PAGE_SIZE}", reason="PAGE_SIZE_OUT_OF_RANGE", field="page_size")
        size = request.page_size or DEFAULT_PAGE_SIZE
        after = 0
        if request.page_token:
            if not request.page_token.startswith("after:") or not request.page_token[6:].isdigit():
                raise InvalidArgument("page_token is not one this server issued", reason="PAGE_TOKEN_INVALID", field="page_token")
            after = int(request.page_token[6:])
        kind = convert.BANK_KIND_NAMES.get(request.kind)
        entries = [e for e in index.bank_entries(kind) if e.entry_id > after]
        page = entries[:size]
        token = f"after:{page[-1].entry_id}" if len(entries) > size else ""
        return pb.ListBankEntriesResponse(entries=[convert.bank_entry_to_proto(e) for e in page], next_page_token=token)

    async def DeleteBankEntry(self, request: pb.DeleteBankEntryRequest, context: grpc.aio.ServicerContext) -> pb.DeleteBankEntryResponse:
        index = self._holder.get()
        if request.entry_id <= 0:
            raise NotFound(f"no bank entry {request.entry_id}", reason="BANK_ENTRY_NOT_FOUND", field="entry_id")
        entry = await self._run(index.remove_bank_entry, request.entry_id)
        return pb.DeleteBankEntryResponse(entry=convert.bank_entry_to_proto(entry))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context: grpc.aio.ServicerContext) -> pb.ListCampaignsResponse:
        catalog = self._campaigns()
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page_size must be in 0..{MAX_PAGE_SIZE}", reason="PAGE_SIZE_OUT_OF_RANGE", field="page_size")
        start = end = None
        if request.HasField("window"):
            if request.window.HasField("start_time"):
                start = convert.timestamp_to_ms(request.window.start_time, "window.start_time")
            if request.window.HasField("end_time"):
                end = convert.timestamp_to_ms(request.window.end_time, "window.end_time")
        page = await self._run(
            catalog.list,
            page_size=request.page_size or DEFAULT_PAGE_SIZE,
            page_token=request.page_token,
            min_score=request.min_score,
            start_ms=start,
            end_ms=end,
        )
        return pb.ListCampaignsResponse(
            campaigns=[convert.reconstructed_summary_to_proto(c) for c in page.campaigns],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
            reconstruction_time=convert.ms_to_timestamp(page.reconstruction_time_ms),
        )

    async def GetCampaign(self, request: pb.GetCampaignRequest, context: grpc.aio.ServicerContext) -> pb.GetCampaignResponse:
        catalog = self._campaigns()
        if request.account_limit < 0:
            raise InvalidArgument("account_limit must be >= 0", reason="ACCOUNT_LIMIT_OUT_OF_RANGE", field="account_limit")
        campaign = await self._run(catalog.get, request.campaign_id)
        return pb.GetCampaignResponse(campaign=convert.reconstructed_campaign_to_proto(campaign, request.account_limit or DEFAULT_ACCOUNT_LIMIT))

    async def ReloadIndex(self, request: pb.ReloadIndexRequest, context: grpc.aio.ServicerContext) -> pb.ReloadIndexResponse:
        index = self._holder.get()
        async with self._reload_lock:
            reloaded = await self._run(reload_now, index)
        stats = await self._run(index.stats)
        return pb.ReloadIndexResponse(
            reloaded=reloaded, snapshot=index.snapshot_name, index_type=stats.index_type, prompt_count=stats.prompt_count
        )

    async def DeleteAccountPrompts(
        self, request: pb.DeleteAccountPromptsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteAccountPromptsResponse:
        index = self._holder.get()
        deleted = await self._run(index.delete_account, request.account_id)
        return pb.DeleteAccountPromptsResponse(deleted_count=deleted)
