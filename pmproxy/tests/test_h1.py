"""The hot-path HTTP/1.1 pool: reuse, limits, body framings, failures, TLS verification."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pmproxy.h1 import H1Pool
from pmproxy.settings import Upstream
from pmproxy.testing import ProxyServer, RecordingUpstream, StalledUpstream, dead_port


def _pool(port: int, **kwargs: Any) -> H1Pool:
    options: dict[str, Any] = {"limit": 4, "connect_timeout": 2.0, "read_timeout": 2.0}
    options.update(kwargs)
    return H1Pool(
        Upstream("http", "127.0.0.1", port, ""), loop=asyncio.get_running_loop(), **options
    )


@pytest.mark.asyncio
async def test_connections_are_reused_and_bodies_arrive_whole(upstream: RecordingUpstream) -> None:
    pool = _pool(upstream.port)
    reused = []
    for i in range(5):
        response, was_reused = await pool.request(b"POST", b"/x", [], f"body-{i}".encode())
        assert response.status == 200
        assert b'"body": "body-' in await response.read()
        response.release()
        reused.append(was_reused)
    await pool.aclose()
    assert reused == [False, True, True, True, True]


@pytest.mark.asyncio
async def test_a_chunked_answer_streams_in_pieces(upstream: RecordingUpstream) -> None:
    pool = _pool(upstream.port)
    response, _ = await pool.request(b"GET", b"/__stream", [], b"")
    assert response.complete is False
    pieces = [chunk async for chunk in response.chunks()]
    response.release()
    await pool.aclose()
    assert b"".join(pieces) == b"chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;"
    assert len(pieces) > 1


@pytest.mark.asyncio
async def test_the_limit_makes_requests_wait_for_a_free_connection(
    upstream: RecordingUpstream,
) -> None:
    pool = _pool(upstream.port, limit=2)

    async def one(i: int) -> bytes:
        response, _ = await pool.request(b"GET", f"/n{i}".encode(), [], b"")
        body = await response.read()
        response.release()
        return body

    bodies = await asyncio.gather(*(one(i) for i in range(10)))
    assert len(pool._open) <= 2
    await pool.aclose()
    assert all(b'"target": "/n' in body for body in bodies)


@pytest.mark.asyncio
async def test_refused_stalled_and_closed_upstreams_raise_what_the_proxy_maps() -> None:
    refused = _pool(dead_port())
    with pytest.raises(ConnectionRefusedError):
        await refused.request(b"GET", b"/", [], b"")
    with StalledUpstream() as stalled:
        slow = _pool(stalled.port, read_timeout=0.2)
        with pytest.raises(TimeoutError):
            await slow.request(b"GET", b"/", [], b"")
        await slow.aclose()


@pytest.mark.asyncio
async def test_a_connection_closed_before_the_answer_is_a_connection_error(
    upstream: RecordingUpstream,
) -> None:
    pool = _pool(upstream.port)
    with pytest.raises(ConnectionError):
        await pool.request(b"POST", b"/__close", [], b"{}")
    await pool.aclose()


def _certificate(tmp: Path) -> tuple[Path, Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pmproxy test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert_path


@pytest.fixture(scope="module")
def tls_upstream(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RecordingUpstream, Path]]:
    cert, key, ca = _certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with RecordingUpstream(tls=context) as server:
        yield server, ca


def test_https_upstreams_are_verified(
    tls_upstream: tuple[RecordingUpstream, Path], start_proxy: Any, make_settings: Any
) -> None:
    server, ca = tls_upstream
    trusted = start_proxy(make_settings(clob_url=server.url + "/tls", ca_file=str(ca)))
    answer = httpx.get(trusted.url + "/clob/book?token_id=1", headers={"POLY_API_KEY": "k"})
    assert answer.status_code == 200
    assert answer.json()["target"] == "/tls/book?token_id=1"
    untrusted: ProxyServer = start_proxy(make_settings(clob_url=server.url))
    refused = httpx.get(untrusted.url + "/clob/book", headers={"POLY_API_KEY": "k"})
    assert refused.status_code == 502
    assert "SSLCertVerificationError" in refused.json()["error"]


@pytest.mark.asyncio
async def test_an_unasked_for_second_answer_never_answers_the_next_request(
    upstream: RecordingUpstream,
) -> None:
    pool = _pool(upstream.port)
    first, _ = await pool.request(b"GET", b"/__extra", [], b"")
    assert await first.read() == b"ok"
    first.release()
    second, reused = await pool.request(b"GET", b"/after", [], b"")
    body = await second.read()
    second.release()
    await pool.aclose()
    assert reused is False
    assert b'"target": "/after"' in body
