"""TLS and mutual TLS for the gRPC port, from PEM files.

The server presents ``cert``/``key``; with ``client_ca`` set, every client must present a
certificate signed by that CA (mutual TLS) or the handshake fails before any RPC runs.
Tokens still apply on top of TLS: a certificate proves which machine calls, a token
which role it has.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    """PEM file paths: the server certificate (chain) and key, and optionally the CA that
    client certificates must chain to."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        """Read the files now (a missing or unreadable file fails at start, not at the
        first handshake)."""
        try:
            cert = Path(self.cert).read_bytes()
            key = Path(self.key).read_bytes()
            ca = Path(self.client_ca).read_bytes() if self.client_ca else None
        except OSError as error:
            raise ValueError(f"cannot read a TLS file: {error}") from error
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)
