"""Authentication, roles and TLS through a real server on loopback.

Certificates are throwaway ones made here with `cryptography`: a CA, a server
certificate for 127.0.0.1/localhost and a client certificate, both signed by the CA, plus
a client certificate from a CA the server does not trust.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import logging
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from promptprint.vectors.embedder import SentenceTransformerEmbedder
from promptprint.index.config import IndexConfig
from promptprint import cli
from promptprint.client import PromptprintClient, error_info, make_channel
from promptprint.records import PromptRecord
from promptprint.v1 import fingerprint_pb2 as pb
from promptprint.v1 import fingerprint_pb2_grpc as pb_grpc
from promptprint.server.app import ServerConfig, is_loopback
from promptprint.server.auth import METHOD_ROLES, TokenTable, required_role, token_digest
from promptprint.server.tls import TlsSettings

from conftest import ServerThread

LOOKUP = "lookup-token-0123456789abcdef"
INGEST = "ingest-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
TOKENS = f"""
# name roles token
ui lookup sha256:{token_digest(LOOKUP)}
pipeline ingest sha256:{token_digest(INGEST)}
oncall admin {ADMIN}
"""


@pytest.fixture(scope="module")
def tokens() -> TokenTable:
    return TokenTable.parse(TOKENS, "test")


@pytest.fixture
def secured(index_config: IndexConfig, embedder: SentenceTransformerEmbedder, tokens: TokenTable):  # type: ignore[no-untyped-def]
    server = ServerThread(index_config, embedder, ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, tokens=tokens)).start()
    yield server
    server.stop()


def _code(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    try:
        call()
    except grpc.RpcError as error:
        info = error_info(error)
        return error.code(), info.reason if info else ""
    return grpc.StatusCode.OK, ""


def _calls(client: PromptprintClient) -> dict[str, object]:
    return {
        "FindNearDuplicates": lambda: client.find_near_duplicates(text="hello there", k=1),
        "CheckPrompt": lambda: client.check_prompt(text="hello there", account_id="a"),
        "CheckPrompt(record)": lambda: client.check_prompt(text="hello there", account_id="a", prompt_id="r-1", record=True),
        "IngestPrompts": lambda: client._stub.IngestPrompts(  # noqa: SLF001 - one raw stream, no client retries
            iter([pb.IngestPromptsRequest(prompts=[pb.Prompt(prompt_id="i-1", account_id="a", text="hello there")])]), timeout=60
        ),
        "CheckPrompts": lambda: list(client.check_prompts([PromptRecord("s-1", "a", "", 1_770_000_000_000, "hello there")])),
        "GetIndexStats": lambda: client.stats(),
        "ListBankEntries": lambda: client.list_bank_entries(),
    }


ALLOWED = {
    LOOKUP: {"FindNearDuplicates", "CheckPrompt", "GetIndexStats"},
    INGEST: {"CheckPrompt(record)", "IngestPrompts", "CheckPrompts", "GetIndexStats"},
    ADMIN: {"FindNearDuplicates", "CheckPrompt", "CheckPrompt(record)", "IngestPrompts", "CheckPrompts", "GetIndexStats", "ListBankEntries"},
}


def test_roles_cover_exactly_their_calls(secured: ServerThread) -> None:
    for token, allowed in ALLOWED.items():
        with PromptprintClient(secured.target, token=token, timeout=60) as client:
            for name, call in _calls(client).items():
                code, reason = _code(call)
                if name in allowed:
                    assert code == grpc.StatusCode.OK, (token[:6], name, code, reason)
                else:
                    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_MISSING"), (token[:6], name)


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ((), "TOKEN_MISSING"),
        ((("authorization", "Bearer not-a-token-anyone-issued"),), "TOKEN_UNKNOWN"),
        ((("authorization", f"Basic {LOOKUP}"),), "TOKEN_MALFORMED"),
        ((("authorization", "Bearer "),), "TOKEN_MALFORMED"),
        ((("authorization", f"Bearer sha256:{token_digest(LOOKUP)}"),), "TOKEN_UNKNOWN"),  # the hash is not the token
    ],
)
def test_missing_or_unknown_token_is_unauthenticated(secured: ServerThread, metadata: tuple, reason: str) -> None:  # type: ignore[type-arg]
    channel = grpc.insecure_channel(secured.target)
    stub = pb_grpc.FingerprintServiceStub(channel)
    try:
        code, got = _code(lambda: stub.GetIndexStats(pb.GetIndexStatsRequest(), metadata=metadata, timeout=30))
        assert (code, got) == (grpc.StatusCode.UNAUTHENTICATED, reason)
        code, got = _code(
            lambda: stub.IngestPrompts(iter([pb.IngestPromptsRequest(prompts=[pb.Prompt(prompt_id="x", account_id="a", text="t")])]), metadata=metadata, timeout=30)
        )
        assert (code, got) == (grpc.StatusCode.UNAUTHENTICATED, reason)
        # health stays open: a load balancer probes without credentials
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=30).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()
    with PromptprintClient(secured.target, token=ADMIN) as admin:
        assert admin.stats().prompt_count == 0  # nothing slipped in


def test_tokens_are_never_logged(secured: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with PromptprintClient(secured.target, token=LOOKUP) as client:
        client.stats()
        _code(lambda: client.check_prompt(text="hi", account_id="a", prompt_id="p", record=True))
    with PromptprintClient(secured.target, token="Bearer-wrong-token-0123456789") as client:
        _code(client.stats)
    text = caplog.text
    assert "ui" in text  # the token's name is how calls are attributed
    for secret in (LOOKUP, "Bearer-wrong-token-0123456789", token_digest(LOOKUP)):
        assert secret not in text


def test_deny_by_default_and_table_names() -> None:
    assert required_role("/promptprint.v1.FingerprintService/SomeFutureRpc") == "admin"
    assert required_role("/promptprint.v1.FingerprintService/ListCampaigns") == "lookup"
    assert required_role("/promptprint.v1.FingerprintService/DeleteAccountPrompts") == "admin"
    assert required_role("/promptprint.v1.FingerprintService/CheckPrompt", pb.CheckPromptRequest(record=True)) == "ingest"
    assert required_role("/promptprint.v1.FingerprintService/CheckPrompt", pb.CheckPromptRequest()) == "lookup"
    # every RPC of the service is listed explicitly (unlisted would mean admin-only)
    service = pb.DESCRIPTOR.services_by_name["FingerprintService"]
    assert {f"/{service.full_name}/{m.name}" for m in service.methods} <= set(METHOD_ROLES)


@pytest.mark.parametrize(
    "text, message",
    [
        ("ui lookup", "expected 'NAME ROLES TOKEN'"),
        ("ui reader sometoken-0123456789", "roles must be among"),
        ("ui lookup short", "at least 16 characters"),
        ("ui lookup sha256:abc", "64 hex digits"),
        (f"a lookup {LOOKUP}\nb admin {LOOKUP}", "listed twice"),
    ],
)
def test_malformed_token_files_are_refused_without_echoing_tokens(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        TokenTable.parse(text, "tokens.txt")
    assert message in str(caught.value) and LOOKUP not in str(caught.value)


def test_no_open_server_on_a_public_interface(tokens: TokenTable) -> None:
    for listen in ("0.0.0.0:50051", "[::]:50051", "10.1.2.3:50051", "example.com:50051"):
        assert not is_loopback(listen)
        with pytest.raises(ValueError, match="without authentication"):
            ServerConfig(listen=listen)
        ServerConfig(listen=listen, tokens=tokens)  # with tokens it is allowed
    for listen in ("127.0.0.1:0", "localhost:50051", "[::1]:50051"):
        ServerConfig(listen=listen)
    assert cli.main(["serve", "--listen", "0.0.0.0:0", "--data-dir", "/nonexistent"]) == 2


def test_tokens_from_environment(tokens: TokenTable) -> None:
    table = TokenTable.load(None, {"PROMPTPRINT_TOKENS": f"ci ingest {INGEST}; ops admin sha256:{token_digest(ADMIN)}"})
    assert table is not None and table.names == ["ci", "ops"]
    assert TokenTable.load(None, {}) is None


# -- TLS -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool = False, server: bool = False) -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key=None) -> Path:  # type: ignore[no-untyped-def]
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, rogue_ca_key, server_key, client_key, rogue_key = (_key() for _ in range(5))
    ca = _cert("test-ca", ca_key, "test-ca", ca_key, ca=True)
    return Pki(
        ca=_write(d / "ca.pem", ca),
        server_cert=_write(d / "server.pem", _cert("localhost", server_key, "test-ca", ca_key, server=True)),
        server_key=_write(d / "server.key", key=server_key),
        client_cert=_write(d / "client.pem", _cert("pipeline", client_key, "test-ca", ca_key)),
        client_key=_write(d / "client.key", key=client_key),
        rogue_cert=_write(d / "rogue.pem", _cert("rogue", rogue_key, "rogue-ca", rogue_ca_key)),
        rogue_key=_write(d / "rogue.key", key=rogue_key),
    )


def _tls_server(index_config: IndexConfig, embedder: SentenceTransformerEmbedder, tls: TlsSettings, tokens: TokenTable | None = None) -> ServerThread:
    return ServerThread(index_config, embedder, ServerConfig(listen="127.0.0.1:0", grace_seconds=1.0, tls=tls, tokens=tokens)).start()


def test_tls_with_tokens(index_config: IndexConfig, embedder: SentenceTransformerEmbedder, pki: Pki, tokens: TokenTable) -> None:
    server = _tls_server(index_config, embedder, TlsSettings(pki.server_cert, pki.server_key), tokens)
    try:
        with PromptprintClient(server.target, token=LOOKUP, tls_ca=pki.ca, timeout=30) as client:
            assert client.stats().prompt_count == 0
        with PromptprintClient(server.target, tls_ca=pki.ca, timeout=30) as client:
            assert _code(client.stats) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
        # a plaintext client cannot talk to a TLS port
        with PromptprintClient(server.target, token=LOOKUP, timeout=5) as client:
            assert _code(client.stats)[0] == grpc.StatusCode.UNAVAILABLE
        # the CLI verbs take the same options
        assert cli.main(["stats", "--target", server.target, "--token", LOOKUP, "--tls-ca", str(pki.ca)]) == 0
        assert cli.main(["stats", "--target", server.target, "--tls-ca", str(pki.ca)]) == 1
    finally:
        server.stop()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(index_config: IndexConfig, embedder: SentenceTransformerEmbedder, pki: Pki) -> None:
    server = _tls_server(index_config, embedder, TlsSettings(pki.server_cert, pki.server_key, pki.ca))
    try:
        with PromptprintClient(server.target, tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key, timeout=30) as client:
            assert client.stats().prompt_count == 0
        with PromptprintClient(server.target, tls_ca=pki.ca, timeout=5) as client:  # no client certificate
            assert _code(client.stats)[0] == grpc.StatusCode.UNAVAILABLE
        with PromptprintClient(server.target, tls_ca=pki.ca, tls_cert=pki.rogue_cert, tls_key=pki.rogue_key, timeout=5) as client:
            assert _code(client.stats)[0] == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_client_tls_options_are_checked() -> None:
    with pytest.raises(ValueError):
        make_channel("127.0.0.1:1", tls_cert="a.pem")
