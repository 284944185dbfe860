"""Prometheus metrics for operators, on their own HTTP port.

* ``promptprint_requests_total{method,code}`` and
  ``promptprint_request_duration_seconds{method,code}``: every call, by short method
  name and final status (fed by the request-context interceptor's completion hook);
* gauges read at scrape time: prompts indexed, calls in flight and waiting for a slot,
  embedding queue depth, calls refused for capacity, queued embeddings dropped for
  cancelled calls, snapshot age, records not yet in a snapshot, and whether the index
  is serving.

Everything lives in a registry owned by :class:`ServerMetrics` (no process globals), so
several servers in one test process do not share counters.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from promptprint.process import resident_memory_bytes

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


@dataclasses.dataclass
class GaugeSources:
    """Callables read at scrape time; each returns None when it has nothing to say
    (e.g. the index is still loading)."""

    index_size: Callable[[], int | None] = lambda: None
    in_flight: Callable[[], int | None] = lambda: None
    queued: Callable[[], int | None] = lambda: None
    rejected: Callable[[], int | None] = lambda: None
    embed_queue_depth: Callable[[], int | None] = lambda: None
    embed_dropped: Callable[[], int | None] = lambda: None
    snapshot_time_unix: Callable[[], float | None] = lambda: None
    unsnapshotted: Callable[[], int | None] = lambda: None
    serving: Callable[[], bool | None] = lambda: None
    pending_vectors: Callable[[], int | None] = lambda: None
    skipped_vectors: Callable[[], int | None] = lambda: None
    embedding_lag_s: Callable[[], float | None] = lambda: None
    embedding_policy: Callable[[], str | None] = lambda: None


class _ScrapeCollector(Collector):
    def __init__(self, sources: GaugeSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self._sources
        now = time.time()
        snapshot_time = s.snapshot_time_unix()
        rows: list[tuple[str, str, float | None]] = [
            ("promptprint_index_prompts", "Prompts in the in-memory index.", s.index_size()),
            ("promptprint_calls_in_flight", "FingerprintService calls executing.", s.in_flight()),
            ("promptprint_calls_queued", "Calls waiting for a concurrency slot.", s.queued()),
            ("promptprint_calls_refused_capacity", "Calls refused with RESOURCE_EXHAUSTED by admission control (since start).", s.rejected()),
            ("promptprint_embed_queue_depth", "Embedding calls waiting for the model.", s.embed_queue_depth()),
            ("promptprint_embed_dropped_calls", "Queued embedding calls dropped because their call was cancelled (since start).", s.embed_dropped()),
            ("promptprint_snapshot_age_seconds", "Seconds since the last index snapshot.", None if snapshot_time is None else now - snapshot_time),
            ("promptprint_unsnapshotted_prompts", "Prompts recorded since the last snapshot (replayed on restart).", s.unsnapshotted()),
            ("promptprint_serving", "1 when health says SERVING.", None if s.serving() is None else float(bool(s.serving()))),
            ("promptprint_resident_memory_bytes", "Resident memory of the server process.", float(resident_memory_bytes())),
            ("promptprint_pending_vectors", "Recorded prompts waiting for their transformer vector.", s.pending_vectors()),
            ("promptprint_skipped_vectors", "Prompts the embedding policy left without a vector (since start).", s.skipped_vectors()),
            ("promptprint_embedding_lag_seconds", "How long the oldest prompt waiting for its vector has waited.", s.embedding_lag_s()),
        ]
        for name, doc, value in rows:
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))
        policy = s.embedding_policy()
        if policy is not None:
            info = GaugeMetricFamily("promptprint_embedding_policy", "The embedding policy in force (always 1).", labels=["policy"])
            info.add_metric([policy], 1.0)
            yield info


class ServerMetrics:
    """Request counters and latency histograms plus scrape-time gauges."""

    def __init__(self, sources: GaugeSources | None = None) -> None:
        self.registry = CollectorRegistry()
        self.sources = sources or GaugeSources()
        self._requests = Counter(
            "promptprint_requests", "Calls by method and final status.", ["method", "code"], registry=self.registry
        )
        self._latency = Histogram(
            "promptprint_request_duration_seconds",
            "Call latency by method and final status.",
            ["method", "code"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ScrapeCollector(self.sources))
        self._http: object | None = None
        # (method, code) -> its counter and histogram children: .labels() validates and
        # hashes the label values on every call (~2% of a fingerprint CheckPrompt's CPU).
        # Bounded: the service's methods times the gRPC status codes.
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, code: str, elapsed_ms: float) -> None:
        """The request-context interceptor's completion hook."""
        children = self._children.get((method, code))
        if children is None:
            short = method.rsplit("/", 1)[-1]
            children = self._children[(method, code)] = (self._requests.labels(short, code), self._latency.labels(short, code))
        children[0].inc()
        children[1].observe(elapsed_ms / 1000.0)

    def serve_http(self, listen: str) -> int:
        """Expose /metrics on host:port (port 0 picks one); returns the bound port."""
        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)
        self._http = server
        return int(server.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()  # type: ignore[attr-defined]
            self._http.server_close()  # type: ignore[attr-defined]
            self._http = None
