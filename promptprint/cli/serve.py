"""`promptprint serve`: the gRPC server in this process (loads torch, the model and FAISS)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from promptprint.cli.settings import index_config, open_engine
from promptprint.executors import LocalProcesses
from promptprint.index.embedding_policy import EmbeddingPolicy
from promptprint.process import limit_malloc_arenas
from promptprint.cluster.membership import DnsMembership, static_placement
from promptprint.server.app import ServerConfig, serve as serve_forever
from promptprint.server.forwarding import ClusterSettings
from promptprint.server.auth import TokenTable
from promptprint.server.limits import LimitSettings
from promptprint.server.maintenance import MaintenanceSettings
from promptprint.server.tls import TlsSettings
from promptprint.vectors.batching import BatchingEmbedder
from promptprint.vectors.embedder import Embedder, ModelLoader, PooledEmbedder, SentenceTransformerEmbedder


def cluster_settings(args: argparse.Namespace) -> ClusterSettings | None:
    """--peers / --peers-dns / --self as cluster settings; None when serving alone."""
    if args.peers and args.peers_dns:
        raise ValueError("--peers and --peers-dns are two ways to list the members: give one")
    if not (args.peers or args.peers_dns):
        if args.self_address:
            raise ValueError("--self needs --peers or --peers-dns")
        return None
    if not args.self_address:
        raise ValueError("--peers and --peers-dns need --self (this process as the members list it)")
    if args.tls_cert:
        raise ValueError("members forward to each other in plaintext: --peers/--peers-dns with --tls-cert is not supported yet")
    if args.peers:
        placement = static_placement([p.strip() for p in args.peers.split(",") if p.strip()], args.self_address)
        return ClusterSettings(lambda: placement, forward_timeout_s=args.forward_timeout)
    dns = DnsMembership(args.peers_dns, args.self_address)
    return ClusterSettings(dns.placement, refresh_seconds=args.peers_refresh_seconds, forward_timeout_s=args.forward_timeout)


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; 2 on bad flags or unreadable TLS files."""
    limit_malloc_arenas(2)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0.1 <= args.gil_switch_ms <= 100:
        print("promptprint serve: --gil-switch-ms must be in 0.1..100", file=sys.stderr)
        return 2
    sys.setswitchinterval(args.gil_switch_ms / 1000)
    try:
        cluster = cluster_settings(args)
        config = index_config(
            args,
            cluster_members=len(cluster.membership().members) if cluster is not None else 1,
            max_text_bytes=args.max_text_bytes,
            vector_storage=args.vector_storage,
            tier=args.tier,
            max_vector_backlog=args.max_vector_backlog,
            embedding_policy=EmbeddingPolicy(
                args.embedding_policy, sample_rate=args.embed_sample_rate,
                representatives=args.embed_representatives, min_volume=args.embed_min_volume,
            ),
            snapshot_every=args.snapshot_every,
            campaign_threshold=args.campaign_threshold,
            template_window_ms=int(args.template_window_hours * 3_600_000),
            builtin_allow_bank=not args.no_builtin_allow_bank,
            semantic_links=not args.no_semantic_links,
            link_lag_ms=round(args.link_lag_seconds * 1000),
            privacy_mode=args.privacy_mode,
            retention_ms=int(args.retention_days * 86_400_000),
        )
        if (args.tls_cert is None) != (args.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if args.tls_client_ca and not args.tls_cert:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        tls = TlsSettings(Path(args.tls_cert), Path(args.tls_key), Path(args.tls_client_ca) if args.tls_client_ca else None) if args.tls_cert else None
        server_config = ServerConfig(
            listen=args.listen,
            workers=args.workers,
            tokens=TokenTable.load(args.tokens_file, os.environ),
            tls=tls,
            limits=LimitSettings(args.max_concurrent, args.max_queued, args.max_queue_wait),
            metrics_listen=args.metrics_listen,
            max_staleness_s=args.max_staleness,
            cluster=cluster,
            maintenance=MaintenanceSettings(
                poll_seconds=args.reload_poll_seconds, jitter_seconds=args.reload_jitter_seconds,
                trim_every_seconds=args.malloc_trim_seconds,
            ),
        )
        if tls is not None:
            tls.credentials()  # unreadable files fail here, with exit code 2
        if args.embed_workers < 0:
            raise ValueError("--embed-workers must be >= 0")
        workers = open_engine(args) if args.ray_address else LocalProcesses(args.embed_workers, nice=args.embedder_nice) if args.embed_workers else None
    except (ValueError, OSError) as error:
        print(f"promptprint serve: {error}", file=sys.stderr)
        return 2

    def on_listening(port: int) -> None:
        if args.port_file:
            tmp = Path(args.port_file + ".tmp")
            tmp.write_text(f"{port}\n")
            tmp.replace(args.port_file)

    def embedder() -> Embedder:
        return BatchingEmbedder(
            SentenceTransformerEmbedder(args.model, threads=args.threads), max_batch=args.embed_batch, nice=args.embedder_nice
        )

    background_embedder: Callable[[], Embedder] | None = None
    if workers is not None:
        engine = workers

        def background_embedder() -> Embedder:
            # the model's path crosses to the workers, never the model (see ModelLoader)
            return PooledEmbedder(engine, ModelLoader(args.model, threads=args.threads or os.cpu_count() or 1))

    return asyncio.run(serve_forever(config, server_config, embedder, on_listening, background_embedder))
