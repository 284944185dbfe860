"""Assembling and running the gRPC server.

``start_server`` builds and starts a server around an :class:`IndexHolder` (port bound,
health NOT_SERVING); ``serve`` is the process entry point: it starts the server, loads
the model and the index in the background, flips health to SERVING, and on SIGTERM or
SIGINT shuts down gracefully (health first, then in-flight calls, then a final
snapshot). Tests start servers on port 0 through ``start_server``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import signal
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from indexer.embedder import Embedder
from indexer.errors import PromptprintError
from indexer.prompt_index import IndexConfig, PromptIndex
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from server.interceptors import RequestContextInterceptor
from server.maintenance import Maintenance, MaintenanceSettings
from server.servicer import FingerprintServicer, IndexHolder, IngestSettings

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
        maintenance: hot-swap polling (with jitter) and retention purge schedule.
    """

    listen: str = "127.0.0.1:50051"
    workers: int = 8
    grace_seconds: float = 10.0
    max_message_bytes: int = 64 << 20
    ingest: IngestSettings = IngestSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()

    def __post_init__(self) -> None:
        if ":" not in self.listen:
            raise ValueError(f"listen must be HOST:PORT (e.g. 127.0.0.1:50051), got {self.listen!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be >= 0, got {self.grace_seconds}")


@dataclasses.dataclass
class RunningServer:
    """A started server: its port, its health servicer and what to shut down."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    executor: concurrent.futures.ThreadPoolExecutor
    holder: IndexHolder
    maintenance: asyncio.Task[None]

    async def mark_serving(self) -> None:
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        """Health goes NOT_SERVING first (load balancers drain), then calls finish."""
        await self.health.enter_graceful_shutdown()
        self.maintenance.cancel()
        await self.server.stop(grace)
        self.executor.shutdown(wait=True)


async def start_server(config: ServerConfig, holder: IndexHolder) -> RunningServer:
    """Build, bind and start the server; health says NOT_SERVING until mark_serving."""
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="promptprint")
    server = grpc.aio.server(
        interceptors=[RequestContextInterceptor()],
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    maintenance = Maintenance(holder.get, executor, config.maintenance)
    pb_grpc.add_FingerprintServiceServicer_to_server(
        FingerprintServicer(holder, executor, config.ingest, maintenance.reload_lock), server
    )
    health_servicer = health.aio.HealthServicer()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"could not bind {config.listen}")
    await server.start()
    return RunningServer(server, port, health_servicer, executor, holder, asyncio.create_task(maintenance.run()))


async def serve(
    index_config: IndexConfig,
    server_config: ServerConfig,
    embedder_factory: Callable[[], Embedder],
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code (non-zero when the index
    could not be loaded, e.g. a data directory built with another model)."""
    holder = IndexHolder()
    running = await start_server(server_config, holder)
    log.info("listening on %s (port %d); loading model and index", server_config.listen, running.port)
    if on_listening is not None:
        on_listening(running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def load() -> PromptIndex:
        return PromptIndex.open(index_config, embedder_factory())

    index: PromptIndex | None = None
    exit_code = 0
    loading = loop.run_in_executor(running.executor, load)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
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
    return exit_code
