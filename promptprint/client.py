"""A small typed Python client for promptprint.v1.FingerprintService.

What an abuse system in Python imports::

    from promptprint.client import PromptprintClient

    with PromptprintClient("127.0.0.1:50051") as client:
        verdict = client.check_prompt(text=prompt, account_id="a-123", record=True, prompt_id="p-1")
        if verdict.fanout.distinct_other_accounts > 50: ...

Arguments are plain Python values; answers are the generated protobuf messages (typed
by the ``.pyi`` stubs). Errors surface as ``grpc.RpcError`` with the status code;
``error_details(err)`` reads the rich details the server attaches (the machine-readable
reason, the offending field, when to retry), ``error_info(err)`` just the reason's ErrorInfo.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from promptprint.records import PromptRecord
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.wire import to_timestamp

DEFAULT_TARGET = "127.0.0.1:50051"
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
MAX_PROMPTS_PER_MESSAGE = 1024  # the server's limit per streamed message
TIERS = {None: pb.TIER_UNSPECIFIED, "fingerprint": pb.TIER_FINGERPRINT, "semantic": pb.TIER_SEMANTIC}


def record_to_proto(record: PromptRecord) -> pb.Prompt:
    return pb.Prompt(
        prompt_id=record.prompt_id,
        account_id=record.account_id,
        org_id=record.org_id,
        created_at=to_timestamp(record.created_at_ms),
        text=record.text,
    )


@dataclasses.dataclass(frozen=True)
class ErrorDetails:
    """The rich details of a failed call (google.rpc.Status details, AIP-193).

    Attributes:
        info: the ErrorInfo: stable ``reason``, ``domain`` and metadata (``request_id``,
            ``field``); None when the answer carried none (e.g. a transport failure).
        field_violations: BadRequest's field violations (INVALID_ARGUMENT about a field).
        retry_delay: RetryInfo's delay (RESOURCE_EXHAUSTED): wait at least this long.
    """

    info: error_details_pb2.ErrorInfo | None = None
    field_violations: tuple[error_details_pb2.BadRequest.FieldViolation, ...] = ()
    retry_delay: timedelta | None = None


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """The rich details of a failed call; empty when it carried none (or inconsistent ones)."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]  # a failed call's RpcError is a grpc.Call
    except ValueError:  # the status proto disagrees with the call's code or message
        return ErrorDetails()
    if status is None:
        return ErrorDetails()
    info: error_details_pb2.ErrorInfo | None = None
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    delay: timedelta | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(bad_request.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.ToTimedelta()
    return ErrorDetails(info, tuple(violations), delay)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The google.rpc.ErrorInfo detail of a failed call (reason, domain, metadata)."""
    return error_details(error).info


def retry_delay_s(error: grpc.RpcError, attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...) of a refused call:
    exponential backoff (1 s, 2 s, 4 s, ... at most 10 s), but never less than the
    server's RetryInfo delay when it sent one."""
    backoff = min(10.0, 0.5 * 2**attempt)
    advised = error_details(error).retry_delay
    return max(backoff, advised.total_seconds()) if advised is not None else backoff


@dataclasses.dataclass
class IngestSummary:
    """Totals of an ingest; rejections carry positions in the caller's input order."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[pb.IngestRejection] = dataclasses.field(default_factory=list)

    def add(self, response: pb.IngestPromptsResponse, offset: int) -> None:
        self.accepted += response.accepted_count
        self.duplicates += response.duplicate_count
        self.rejected += response.rejected_count
        for rejection in response.rejections:
            shifted = pb.IngestRejection()
            shifted.CopyFrom(rejection)
            shifted.position += offset
            self.rejections.append(shifted)


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call (plaintext loopback channels
    included, where gRPC's call credentials are refused)."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return details._replace(metadata=metadata)  # type: ignore[attr-defined]

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(client_call_details), request_iterator)


def make_channel(
    target: str,
    *,
    token: str | None = None,
    tls_ca: str | Path | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    tls_server_name: str | None = None,
) -> grpc.Channel:
    """A channel to ``target``: TLS when ``tls_ca`` is given (with a client certificate
    for mutual TLS when ``tls_cert``/``tls_key`` are), and the bearer ``token`` on every call.

    Args:
        tls_server_name: the name to check the server certificate against, when it is not
            the host of ``target`` (e.g. a certificate for "localhost" reached by IP).
    """
    options: list[tuple[str, object]] = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("tls_cert and tls_key go together")
    if tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(tls_ca).read_bytes(),
            private_key=Path(tls_key).read_bytes() if tls_key else None,
            certificate_chain=Path(tls_cert).read_bytes() if tls_cert else None,
        )
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        channel = grpc.secure_channel(target, credentials, options=options)
    elif tls_cert is not None:
        raise ValueError("a client certificate needs tls_ca (the CA of the server certificate)")
    else:
        channel = grpc.insecure_channel(target, options=options)
    if token:
        channel = grpc.intercept_channel(channel, _BearerToken(token))
    return channel


class PromptprintClient:
    """Blocking client over one gRPC channel.

    Args:
        target: host:port of the server.
        timeout: default deadline per call, in seconds (ingest streams get
            ``timeout`` per 1,000 prompts, since embedding takes time).
        channel: an existing channel (TLS, interceptors, ...); ``target`` is then ignored.
        token: bearer token sent with every call (servers started with tokens).
        tls_ca / tls_cert / tls_key / tls_server_name: TLS, see :func:`make_channel`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 30.0,
        channel: grpc.Channel | None = None,
        token: str | None = None,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._channel = channel or make_channel(
            target, token=token, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key, tls_server_name=tls_server_name
        )
        self._stub = pb_grpc.FingerprintServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._timeout = timeout

    def __enter__(self) -> "PromptprintClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def wait_until_serving(self, timeout: float = 120.0) -> None:
        """Block until health says SERVING (the index is loaded); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)  # type: ignore[attr-defined]  # types-grpcio-health-checking's HealthStub declares no methods
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not SERVING after {timeout:.0f}s")
            time.sleep(0.2)

    # -- ingest ------------------------------------------------------------------------------
    def ingest(
        self,
        records: Iterable[PromptRecord],
        *,
        batch_size: int = 256,
        stream_size: int = 4096,
        retries: int = 5,
        on_sent: Callable[[int], object] | None = None,
        on_acknowledged: Callable[[pb.IngestPromptsResponse], None] | None = None,
    ) -> IngestSummary:
        """Stream records to the server in streams of ``stream_size``, each acknowledged
        once durable. A stream that fails with UNAVAILABLE or RESOURCE_EXHAUSTED is resent
        (ingest is idempotent on prompt_id), up to ``retries`` times, after
        :func:`retry_delay_s` (backoff, honouring the server's RetryInfo).

        Args:
            on_sent: called with the number of prompts just handed to the channel.
            on_acknowledged: called with each stream's response.
        """
        if batch_size < 1 or stream_size < 1:
            raise ValueError("batch_size and stream_size must be >= 1")
        summary = IngestSummary()
        offset = 0
        for chunk in _chunks(records, stream_size):
            response = self._ingest_stream(chunk, batch_size, retries, on_sent)
            summary.add(response, offset)
            if on_acknowledged is not None:
                on_acknowledged(response)
            offset += len(chunk)
        return summary

    def _ingest_stream(
        self, chunk: list[PromptRecord], batch_size: int, retries: int, on_sent: Callable[[int], object] | None
    ) -> pb.IngestPromptsResponse:
        attempt = 0
        while True:
            first_try = attempt == 0

            def messages() -> Iterator[pb.IngestPromptsRequest]:
                for start in range(0, len(chunk), batch_size):
                    batch = chunk[start : start + batch_size]
                    yield pb.IngestPromptsRequest(prompts=[record_to_proto(r) for r in batch])
                    if on_sent is not None and first_try:
                        on_sent(len(batch))

            try:
                return self._stub.IngestPrompts(messages(), timeout=max(self._timeout, self._timeout * len(chunk) / 1000))
            except grpc.RpcError as error:
                attempt += 1
                if error.code() not in _RETRYABLE or attempt > retries:
                    raise
                time.sleep(retry_delay_s(error, attempt))

    # -- lookups -----------------------------------------------------------------------------
    def find_near_duplicates(
        self,
        *,
        text: str | None = None,
        prompt_id: str | None = None,
        k: int = 10,
        min_similarity: float | None = None,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        exclude_account_id: str = "",
        exclude_org_id: str = "",
        include_text: bool = False,
        search: pb.SearchOptions | None = None,
    ) -> Sequence[pb.NearDuplicate]:
        """Most similar indexed prompts to ``text`` or to the indexed ``prompt_id``
        (``search``: per-request nprobe / ef_search / rerank_factor)."""
        request = pb.FindNearDuplicatesRequest(
            k=k, exclude_account_id=exclude_account_id, exclude_org_id=exclude_org_id, include_text=include_text
        )
        if text is not None:
            request.text = text
        if prompt_id is not None:
            request.prompt_id = prompt_id
        if min_similarity is not None:
            request.min_similarity = min_similarity
        if start is not None or end is not None:
            window = pb.TimeWindow(start_time=to_timestamp(start), end_time=to_timestamp(end))
            request.window.CopyFrom(window)
        if search is not None:
            request.search.CopyFrom(search)
        return self._stub.FindNearDuplicates(request, timeout=self._timeout).hits

    def check_prompt(
        self,
        *,
        text: str,
        account_id: str,
        org_id: str = "",
        prompt_id: str = "",
        created_at: datetime | int | None = None,
        record: bool = False,
        min_similarity: float | None = None,
        lookback: timedelta | None = None,
        example_count: int = 0,
        tier: str | None = None,
    ) -> pb.CheckPromptResponse:
        """Fan-out of one live prompt; with ``record=True`` it is also recorded.
        ``tier``: ``"fingerprint"``, ``"semantic"`` or None for the server's default."""
        prompt = pb.Prompt(prompt_id=prompt_id, account_id=account_id, org_id=org_id, text=text, created_at=to_timestamp(created_at))
        request = pb.CheckPromptRequest(prompt=prompt, record=record, example_count=example_count, tier=TIERS[tier])
        if min_similarity is not None:
            request.min_similarity = min_similarity
        if lookback is not None:
            request.lookback.CopyFrom(_duration(lookback))
        return self._stub.CheckPrompt(request, timeout=self._timeout)

    def check_record(self, record: PromptRecord, *, store: bool = True, **options: object) -> pb.CheckPromptResponse:
        """CheckPrompt for a PromptRecord."""
        return self.check_prompt(
            text=record.text,
            account_id=record.account_id,
            org_id=record.org_id,
            prompt_id=record.prompt_id,
            created_at=record.created_at_ms,
            record=store,
            **options,  # type: ignore[arg-type]
        )

    def get_account_assessment(self, account_id: str) -> pb.AccountAssessment:
        """The campaign verdict on an account: the template groups it used in the
        window, its share of traffic in each, a score and a level (none / watch /
        flagged). NOT_FOUND (ACCOUNT_NOT_FOUND) when the server has no prompt of it in
        its template window."""
        request = pb.GetAccountAssessmentRequest(account_id=account_id)
        return self._stub.GetAccountAssessment(request, timeout=self._timeout).assessment

    def stats(self) -> pb.GetIndexStatsResponse:
        return self._stub.GetIndexStats(pb.GetIndexStatsRequest(), timeout=self._timeout)

    def wait_indexed(
        self, timeout: float = 3600.0, *, poll_s: float = 0.5, on_progress: Callable[[int], None] | None = None
    ) -> pb.GetIndexStatsResponse:
        """Block until every recorded prompt has its vector in the index (the fingerprint
        tier embeds behind the acknowledgement; semantic lookups see a prompt only then).
        ``on_progress`` gets the number still pending after each poll. TimeoutError
        when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if on_progress is not None:
                on_progress(stats.pending_vectors)
            if stats.pending_vectors == 0:
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stats.pending_vectors} prompts still waiting for their vectors after {timeout:.0f}s")
            time.sleep(poll_s)

    # -- banks -------------------------------------------------------------------------------
    def create_bank_entry(self, kind: str, text: str, note: str = "") -> pb.BankEntry:
        """Add an entry to the ``"allow"`` or ``"deny"`` bank."""
        request = pb.CreateBankEntryRequest(kind=_BANK_KINDS.get(kind, pb.BANK_KIND_UNSPECIFIED), text=text, note=note)
        return self._stub.CreateBankEntry(request, timeout=self._timeout).entry

    def list_bank_entries(self, kind: str | None = None, page_size: int = 500) -> list[pb.BankEntry]:
        """Every entry (of one bank, or both), following the pages."""
        entries: list[pb.BankEntry] = []
        token = ""
        while True:
            request = pb.ListBankEntriesRequest(
                kind=_BANK_KINDS.get(kind or "", pb.BANK_KIND_UNSPECIFIED), page_size=page_size, page_token=token
            )
            page = self._stub.ListBankEntries(request, timeout=self._timeout)
            entries.extend(page.entries)
            token = page.next_page_token
            if not token:
                return entries

    def delete_bank_entry(self, entry_id: int) -> pb.BankEntry:
        return self._stub.DeleteBankEntry(pb.DeleteBankEntryRequest(entry_id=entry_id), timeout=self._timeout).entry

    # -- offline campaigns -------------------------------------------------------------------
    def list_campaigns(
        self,
        *,
        min_score: float = 0.0,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> list[pb.CampaignSummary]:
        """Campaigns of the latest reconstruction, best first, following the pages
        (at most ``limit`` of them)."""
        window = pb.TimeWindow()
        start_time, end_time = to_timestamp(start), to_timestamp(end)
        if start_time is not None:
            window.start_time.CopyFrom(start_time)
        if end_time is not None:
            window.end_time.CopyFrom(end_time)
        campaigns: list[pb.CampaignSummary] = []
        token = ""
        while True:
            request = pb.ListCampaignsRequest(page_size=page_size, page_token=token, min_score=min_score)
            if start is not None or end is not None:
                request.window.CopyFrom(window)
            page = self._stub.ListCampaigns(request, timeout=self._timeout)
            campaigns.extend(page.campaigns)
            token = page.next_page_token
            if not token or (limit is not None and len(campaigns) >= limit):
                return campaigns[:limit] if limit is not None else campaigns

    def get_campaign(self, campaign_id: str, *, account_limit: int = 0) -> pb.Campaign:
        """One campaign of the latest reconstruction: templates, accounts, counts."""
        request = pb.GetCampaignRequest(campaign_id=campaign_id, account_limit=account_limit)
        return self._stub.GetCampaign(request, timeout=self._timeout).campaign

    def check_prompts(
        self,
        records: Iterable[PromptRecord],
        *,
        record: bool = True,
        batch_size: int = 256,
        timeout: float | None = None,
        min_similarity: float | None = None,
        lookback: timedelta | None = None,
        example_count: int = 0,
        tier: str | None = None,
    ) -> Iterator[pb.CheckPromptsResult]:
        """CheckPrompt of every record over one CheckPrompts stream, ``batch_size`` to a
        message: yields one result per record, in order, as the server answers (a
        verdict, or the rejection of that record alone; rejection positions count the
        records). Each verdict is the one a CheckPrompt sent after the records before it
        would get. Records are read from ``records`` only as the server takes them, so
        an unbounded iterator streams in bounded memory.

        A failed stream raises grpc.RpcError; the results yielded so far stand, and
        resending the rest is safe (idempotent on prompt_id). ``timeout``: a deadline for
        the whole stream (None: none, for a pipeline that runs as long as its input)."""
        if not 1 <= batch_size <= MAX_PROMPTS_PER_MESSAGE:
            raise ValueError(f"batch_size must be in 1..{MAX_PROMPTS_PER_MESSAGE}, got {batch_size}")
        options = pb.CheckPromptsRequest(record=record, example_count=example_count, tier=TIERS[tier])
        if min_similarity is not None:
            options.min_similarity = min_similarity
        if lookback is not None:
            options.lookback.CopyFrom(_duration(lookback))

        def requests() -> Iterator[pb.CheckPromptsRequest]:
            for batch in _chunks(records, batch_size):
                request = pb.CheckPromptsRequest()
                request.CopyFrom(options)
                request.prompts.extend(record_to_proto(r) for r in batch)
                yield request

        call = self._stub.CheckPrompts(requests(), timeout=timeout)
        try:
            for response in call:
                yield from response.results
        finally:
            call.cancel()  # a caller that stops iterating ends the stream (a no-op once it is done)

    # -- admin -------------------------------------------------------------------------------
    def reload_index(self) -> pb.ReloadIndexResponse:
        """Make the server switch to the snapshot CURRENT names (after a reindex)."""
        return self._stub.ReloadIndex(pb.ReloadIndexRequest(), timeout=self._timeout)

    def delete_account_prompts(self, account_id: str) -> int:
        """Delete every prompt of an account; returns how many were deleted."""
        request = pb.DeleteAccountPromptsRequest(account_id=account_id)
        return self._stub.DeleteAccountPrompts(request, timeout=self._timeout).deleted_count


_BANK_KINDS = {"allow": pb.BANK_KIND_ALLOW, "deny": pb.BANK_KIND_DENY}


def _duration(delta: timedelta) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=int(delta.total_seconds()), nanos=delta.microseconds * 1000)


def _chunks(records: Iterable[PromptRecord], size: int) -> Iterator[list[PromptRecord]]:
    chunk: list[PromptRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
