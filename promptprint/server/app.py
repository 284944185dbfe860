"""Assembling and running the gRPC server.

``start_server`` builds and starts a server around an :class:`IndexHolder` (port bound,
health NOT_SERVING); ``serve`` is the process entry point: it starts the server, loads
the model and the index in the background, flips health to SERVING, and on SIGTERM or
SIGINT shuts down gracefully (health first, then in-flight calls, then a final
snapshot). Tests start servers on port 0 through ``start_server``.

Interceptors run outermost first: request context (ids, status mapping, metrics),
then authentication and roles, then admission control, then the handler, so refused
calls are counted and logged like any other and an unauthenticated caller never takes
a concurrency slot.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import ipaddress
import logging
import signal
import time
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from promptprint.vectors.embedder import Embedder
from promptprint.errors import PromptprintError
from promptprint.index.config import IndexConfig
from promptprint.index.prompt_index import PromptIndex
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.server.auth import AuthInterceptor, TokenTable
from promptprint.server.forwarding import ClusterSettings, Peers, RoutingServicer
from promptprint.server.interceptors import RequestContextInterceptor
from promptprint.server.limits import AdmissionLimiter, LimitInterceptor, LimitSettings
from promptprint.server.metrics import GaugeSources, ServerMetrics
from promptprint.server.maintenance import Maintenance, MaintenanceSettings
from promptprint.server.servicer import FingerprintServicer, IndexHolder, IngestSettings
from promptprint.server.tls import TlsSettings

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FingerprintService"].full_name


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Network-facing settings.

    Attributes:
        listen: host:port to bind; loopback by default so a fresh `make run` is never an
            open server on a public interface. Port 0 picks a free port.
        workers: threads running library calls (embedding is serialized inside the
            embedder; FAISS lookups run in parallel).
        grace_seconds: how long in-flight calls may finish on shutdown.
        max_message_bytes: largest request message (an ingest batch of long prompts).
        ingest: how ingest streams are batched.
        tokens: bearer tokens and their roles; None turns authentication off, which is
            only allowed on a loopback address.
        tls: serve TLS (and mutual TLS with a client CA); None serves plaintext.
        limits: concurrency and queue limits of FingerprintService calls.
        metrics_listen: host:port of the Prometheus /metrics endpoint; None: no endpoint.
        max_staleness_s: health says NOT_SERVING while records older than this are in
            no snapshot (a restart would replay them: the snapshotter is stuck or
            failing); 0 disables the check.
        maintenance: hot-swap polling (with jitter) and retention purge schedule.
        cluster: the other serving processes this one routes prompts to by template
            (docs/scaling.md); None serves alone.
    """

    listen: str = "127.0.0.1:50051"
    workers: int = 8
    grace_seconds: float = 10.0
    max_message_bytes: int = 64 << 20
    ingest: IngestSettings = IngestSettings()
    tokens: TokenTable | None = None
    tls: TlsSettings | None = None
    limits: LimitSettings = LimitSettings()
    metrics_listen: str | None = None
    max_staleness_s: float = 0.0
    maintenance: MaintenanceSettings = MaintenanceSettings()
    cluster: ClusterSettings | None = None

    def __post_init__(self) -> None:
        if ":" not in self.listen:
            raise ValueError(f"listen must be HOST:PORT (e.g. 127.0.0.1:50051), got {self.listen!r}")
        if self.tokens is None and not is_loopback(self.listen):
            raise ValueError(
                f"refusing to listen on {self.listen} without authentication: give --tokens-file or "
                "PROMPTPRINT_TOKENS (see `promptprint token`), or listen on 127.0.0.1"
            )
        if self.metrics_listen is not None and ":" not in self.metrics_listen:
            raise ValueError(f"metrics_listen must be HOST:PORT, got {self.metrics_listen!r}")
        if self.max_staleness_s < 0:
            raise ValueError(f"max_staleness_s must be >= 0, got {self.max_staleness_s}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be >= 0, got {self.grace_seconds}")


def is_loopback(listen: str) -> bool:
    """True when host:port binds a loopback address only (127.0.0.0/8, ::1, localhost)."""
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname or wildcard: may resolve to a public interface


def staleness_seconds(index: PromptIndex, now: float) -> float:
    """How long records have been in no snapshot (0 when every record is in one)."""
    return 0.0 if index.unsnapshotted == 0 else max(0.0, now - index.recovery_point_unix)


@dataclasses.dataclass
class RunningServer:
    """A started server: its port, its health servicer and what to shut down."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    executor: concurrent.futures.ThreadPoolExecutor
    holder: IndexHolder
    config: ServerConfig
    limiter: AdmissionLimiter
    metrics: ServerMetrics
    maintenance: asyncio.Task[None]
    metrics_port: int | None = None
    peers: Peers | None = None
    membership: asyncio.Task[None] | None = None  # re-resolves the members (DNS)
    serving: bool = False
    _monitor: asyncio.Task[None] | None = None

    async def _set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)
        self.serving = serving

    async def mark_serving(self) -> None:
        """The index is loaded: SERVING, and from now on the staleness check decides."""
        await self._set_serving(True)
        if self.config.max_staleness_s > 0 and self._monitor is None:
            self._monitor = asyncio.ensure_future(self._watch_staleness())

    async def _watch_staleness(self) -> None:
        limit = self.config.max_staleness_s
        interval = min(1.0, limit / 4)
        while True:
            await asyncio.sleep(interval)
            stale = staleness_seconds(self.holder.get(), time.time())
            if (stale <= limit) != self.serving:
                if stale > limit:
                    log.warning("records have been in no snapshot for %.0fs (limit %.0fs): NOT_SERVING", stale, limit)
                else:
                    log.info("a snapshot caught up: SERVING again")
                await self._set_serving(stale <= limit)

    async def stop(self, grace: float) -> None:
        """Health goes NOT_SERVING first (load balancers drain), then calls finish."""
        if self._monitor is not None:
            self._monitor.cancel()
        self.serving = False
        await self.health.enter_graceful_shutdown()
        self.maintenance.cancel()
        if self.membership is not None:
            self.membership.cancel()
        await self.server.stop(grace)
        if self.peers is not None:
            await self.peers.close()
        self.executor.shutdown(wait=True)
        self.metrics.close()


def _gauges(holder: IndexHolder, limiter: AdmissionLimiter, running: list[RunningServer]) -> GaugeSources:
    """What the metrics endpoint reads at scrape time."""

    def index() -> PromptIndex | None:
        return holder.peek()

    def embedder_attr(name: str) -> int | None:
        current = index()
        return getattr(current.embedder, name, None) if current is not None else None

    def snapshot_time() -> float | None:
        current = index()
        return current.recovery_point_unix if current is not None else None

    return GaugeSources(
        index_size=lambda: len(i) if (i := index()) is not None else None,
        in_flight=lambda: limiter.in_flight,
        queued=lambda: limiter.queued,
        rejected=lambda: limiter.rejected,
        embed_queue_depth=lambda: embedder_attr("queue_depth"),
        embed_dropped=lambda: embedder_attr("dropped_calls"),
        snapshot_time_unix=snapshot_time,
        unsnapshotted=lambda: i.unsnapshotted if (i := index()) is not None else None,
        serving=lambda: running[0].serving if running else None,
        pending_vectors=lambda: i.pending_vectors if (i := index()) is not None else None,
        skipped_vectors=lambda: i.skipped_vectors if (i := index()) is not None else None,
        embedding_lag_s=lambda: i.embedding_lag_s if (i := index()) is not None else None,
        embedding_policy=lambda: i.config.embedding_policy.name if (i := index()) is not None else None,
    )


async def start_server(config: ServerConfig, holder: IndexHolder) -> RunningServer:
    """Build, bind and start the server; health says NOT_SERVING until mark_serving."""
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="promptprint")
    limiter = AdmissionLimiter(config.limits)
    started: list[RunningServer] = []
    metrics = ServerMetrics(_gauges(holder, limiter, started))
    interceptors: list[grpc.aio.ServerInterceptor] = [RequestContextInterceptor(on_complete=metrics.observe)]
    if config.tokens is not None:
        interceptors.append(AuthInterceptor(config.tokens))
    interceptors.append(LimitInterceptor(limiter))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    maintenance = Maintenance(holder.get, executor, config.maintenance)
    peers = Peers(config.cluster, executor) if config.cluster is not None else None
    servicer = (
        RoutingServicer(peers, holder, executor, config.ingest, maintenance.reload_lock)
        if peers is not None
        else FingerprintServicer(holder, executor, config.ingest, maintenance.reload_lock)
    )
    pb_grpc.add_FingerprintServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if config.tls is not None:
        port = server.add_secure_port(config.listen, config.tls.credentials())
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"could not bind {config.listen}")
    metrics_port = metrics.serve_http(config.metrics_listen) if config.metrics_listen is not None else None
    await server.start()
    running = RunningServer(
        server, port, health_servicer, executor, holder, config, limiter, metrics, asyncio.create_task(maintenance.run()),
        metrics_port, peers, asyncio.create_task(peers.run()) if peers is not None else None,
    )
    started.append(running)
    return running


async def serve(
    index_config: IndexConfig,
    server_config: ServerConfig,
    embedder_factory: Callable[[], Embedder],
    on_listening: Callable[[int], None] | None = None,
    background_embedder_factory: Callable[[], Embedder] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code (non-zero when the index
    could not be loaded, e.g. a data directory built with another model).

    ``background_embedder_factory`` builds the embedder of the vectors computed behind the
    acknowledgement (worker processes, see PromptIndex.open); it is closed on the way out
    when it has a ``close``."""
    holder = IndexHolder()
    running = await start_server(server_config, holder)
    log.info(
        "listening on %s (port %d, %s); authentication: %s; loading model and index",
        server_config.listen,
        running.port,
        "TLS" + (" with client certificates" if server_config.tls and server_config.tls.client_ca else "") if server_config.tls else "plaintext",
        f"{len(server_config.tokens)} tokens ({', '.join(server_config.tokens.names)})" if server_config.tokens else "off (loopback only)",
    )
    if running.metrics_port is not None:
        log.info("metrics on http://%s:%d/metrics", server_config.metrics_listen.rpartition(":")[0], running.metrics_port)  # type: ignore[union-attr]
    if on_listening is not None:
        on_listening(running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    background: list[Embedder] = []

    def load() -> PromptIndex:
        lookups = embedder_factory()
        if background_embedder_factory is not None:
            background.append(background_embedder_factory())
        return PromptIndex.open(index_config, lookups, background[0] if background else None)

    index: PromptIndex | None = None
    exit_code = 0
    loading = loop.run_in_executor(running.executor, load)
    stopping = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[object]] = {loading, stopping}  # type: ignore[arg-type]  # wait() is typed for one result type
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if loading.done():
        try:
            index = loading.result()
        except (PromptprintError, ValueError, OSError) as error:
            message = getattr(error, "message", str(error))
            log.error("cannot load the index: %s", message)
            holder.fail(message)
            exit_code = 2
            stop.set()
        else:
            holder.set(index)
            await running.mark_serving()
            log.info("serving %d prompts (%s)", len(index), index.stats().index_type)
    await stop.wait()
    log.info("shutting down: draining calls for up to %.0fs", server_config.grace_seconds)
    await running.stop(server_config.grace_seconds)
    if index is None and not loading.done():
        index = await loading
    if index is not None:
        index.close()
        log.info("final snapshot written; bye")
    for embedder in background:
        close = getattr(embedder, "close", None)
        if close is not None:
            close()
    return exit_code
