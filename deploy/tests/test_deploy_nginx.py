"""The nginx site: valid for ``nginx -t``, and in a real nginx it fronts pmproxy as promised.

The site is rendered by ``deploy/nginx/render.sh`` (as ``scripts/install.sh`` does on a host)
with a throwaway certificate and free loopback ports, included from a minimal wrapper
``nginx.conf`` under a temporary prefix. Behind it, a uvicorn app on loopback stands where
pmproxy would and reports what reached it, so the test sees exactly what nginx forwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def render(repo: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "deploy/nginx/render.sh"), str(out)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def wrapper_conf(prefix: Path, site: Path) -> Path:
    """A minimal nginx.conf that includes the site, with every path under ``prefix``."""
    conf = prefix / "nginx.conf"
    temp = "\n".join(
        f"    {name}_temp_path {prefix / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"""
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temp}
    include {site};
}}
"""
    )
    return conf


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stand in for pmproxy: answer with what arrived (method, path, headers, body size)."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        reply = {"path": scope["path"], "headers": headers, "echo": message.get("text")}
        await send({"type": "websocket.send", "text": json.dumps(reply)})
        await send({"type": "websocket.close", "code": 1000})
        return
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps(
        {"method": scope["method"], "path": scope["path"], "headers": headers, "size": size}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Front:
    https: str
    http: str
    ssl_context: ssl.SSLContext
    hits: list[str]


@pytest.fixture
def upstream(new_port: Callable[[], int]) -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            hits.append(scope["path"])
        await echo_app(scope, receive, send)

    port = new_port()
    config = uvicorn.Config(
        counting,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the upstream did not start"
        time.sleep(0.02)
    try:
        yield port, hits
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def front(  # noqa: PLR0917  # pytest passes fixtures positionally
    repo: Path,
    tmp_path: Path,
    tls_pair: tuple[Path, Path],
    upstream: tuple[int, list[str]],
    new_port: Callable[[], int],
    find_tool: Callable[[str], str],
) -> Iterator[Front]:
    upstream_port, hits = upstream
    https_port, http_port = new_port(), new_port()
    site = tmp_path / "pmt.conf"
    result = render(
        repo,
        site,
        PMT_SERVER_NAME="pmt.test",
        PMT_TLS_CERT=str(tls_pair[0]),
        PMT_TLS_KEY=str(tls_pair[1]),
        PMT_ACME_ROOT=str(tmp_path / "acme"),
        PMT_HTTPS_PORT=str(https_port),
        PMT_HTTP_PORT=str(http_port),
        PMT_PMPROXY_ADDR=f"127.0.0.1:{upstream_port}",
    )
    assert result.returncode == 0, result.stderr
    conf = wrapper_conf(tmp_path, site)
    nginx = find_tool("nginx")
    base = [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)]
    subprocess.run([*base, "-t", "-q"], check=True, capture_output=True)
    subprocess.run(base, check=True, capture_output=True)
    context = ssl.create_default_context(cafile=str(tls_pair[0]))
    front = Front(
        https=f"https://127.0.0.1:{https_port}",
        http=f"http://127.0.0.1:{http_port}",
        ssl_context=context,
        hits=hits,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(front.https + "/health", verify=context, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                time.sleep(0.05)
        hits.clear()
        yield front
    finally:
        subprocess.run([*base, "-s", "quit"], check=False, capture_output=True)
        pid_file = tmp_path / "nginx.pid"
        deadline = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


# --- the configuration as shipped -----------------------------------------------------------


def test_site_passes_nginx_t_with_a_throwaway_certificate(
    repo: Path, tmp_path: Path, tls_pair: tuple[Path, Path], find_tool: Callable[[str], str]
) -> None:
    site = tmp_path / "pmt.conf"
    result = render(
        repo,
        site,
        PMT_SERVER_NAME="pmt.example.org",
        PMT_TLS_CERT=str(tls_pair[0]),
        PMT_TLS_KEY=str(tls_pair[1]),
    )
    assert result.returncode == 0, result.stderr
    text = site.read_text()
    assert "__PMT_" not in text
    assert "listen 443 ssl;" in text
    assert "server 127.0.0.1:8080;" in text
    assert f"ssl_certificate {tls_pair[0]};" in text, "the given certificate paths were used"
    assert f"ssl_certificate_key {tls_pair[1]};" in text

    conf = wrapper_conf(tmp_path, site)
    checked = subprocess.run(
        [
            find_tool("nginx"),
            "-t",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(conf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr


def test_nginx_t_rejects_a_missing_certificate(
    repo: Path, tmp_path: Path, find_tool: Callable[[str], str]
) -> None:
    # The check above is only worth something if nginx -t really reads the certificate.
    site = tmp_path / "pmt.conf"
    missing = tmp_path / "nowhere"
    result = render(
        repo,
        site,
        PMT_SERVER_NAME="pmt.test",
        PMT_TLS_CERT=str(missing / "fullchain.pem"),
        PMT_TLS_KEY=str(missing / "privkey.pem"),
    )
    assert result.returncode == 0, result.stderr
    conf = wrapper_conf(tmp_path, site)
    checked = subprocess.run(
        [
            find_tool("nginx"),
            "-t",
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
            "-c",
            str(conf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode != 0
    assert "fullchain.pem" in checked.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PMT_SERVER_NAME", "pmt.example.org; return 200"),
        ("PMT_SERVER_NAME", ""),
        ("PMT_TLS_CERT", "relative/cert.pem"),
        ("PMT_TLS_KEY", "/etc/ssl/key.pem;"),
        ("PMT_HTTPS_PORT", "99999"),
        ("PMT_PMPROXY_ADDR", "evil.example:80"),
    ],
)
def test_render_refuses_values_that_could_inject_nginx_syntax(
    repo: Path, tmp_path: Path, variable: str, value: str
) -> None:
    env = {"PMT_SERVER_NAME": "pmt.example.org", variable: value}
    result = render(repo, tmp_path / "pmt.conf", **env)
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "pmt.conf").exists(), "nothing half-written"


# --- a real nginx in front of a loopback upstream -------------------------------------------


@pytest.mark.slow
def test_poly_headers_with_underscores_reach_pmproxy(front: Front) -> None:
    headers = {
        "POLY_ADDRESS": "0x0000000000000000000000000000000000000001",
        "POLY_SIGNATURE": "c2lnbmF0dXJl",
        "POLY_TIMESTAMP": "1767225600",
        "POLY_API_KEY": "00000000-0000-0000-0000-000000000000",
        "POLY_PASSPHRASE": "passphrase",
        "X-Forwarded-For": "203.0.113.9",
    }
    response = httpx.post(
        front.https + "/clob/order",
        headers=headers,
        content=b'{"order": {}}',
        verify=front.ssl_context,
    )

    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/clob/order"
    for name, value in headers.items():
        if name.startswith("POLY_"):
            assert seen["headers"].get(name.lower()) == value, f"{name} was dropped"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1", "a client's claim is replaced"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "nginx/" not in response.headers.get("server", "")


@pytest.mark.slow
def test_websocket_upgrade_is_proxied_under_ws(front: Front) -> None:
    async def talk() -> dict[str, Any]:
        url = front.https.replace("https://", "wss://") + "/ws/market"
        async with websockets.connect(url, ssl=front.ssl_context) as ws:
            await ws.send("subscribe")
            return dict(json.loads(await ws.recv()))

    reply = asyncio.run(talk())

    assert reply["path"] == "/ws/market"
    assert reply["echo"] == "subscribe"
    assert reply["headers"]["x-forwarded-proto"] == "https"


@pytest.mark.slow
def test_oversized_body_is_refused_before_pmproxy(front: Front) -> None:
    # Announce a body one byte over 1 MB and send none of it: nginx must answer from the
    # Content-Length alone (a client streaming the body could see the connection cut first).
    port = int(front.https.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        front.ssl_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"POST /clob/orders HTTP/1.1\r\nHost: pmt.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n"
        )
        head = tls.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head[:100]
    assert front.hits == []

    small = httpx.post(front.https + "/clob/orders", content=b"x" * 1024, verify=front.ssl_context)
    assert small.status_code == 200, "a normal body passes"


@pytest.mark.slow
def test_oversized_headers_are_refused(front: Front) -> None:
    response = httpx.get(
        front.https + "/clob/book", headers={"X-Big": "a" * 20_000}, verify=front.ssl_context
    )
    assert response.status_code in (400, 431)
    assert front.hits == []


@pytest.mark.slow
def test_metrics_stay_private(front: Front) -> None:
    response = httpx.get(front.https + "/metrics", verify=front.ssl_context)
    assert response.status_code == 403
    assert front.hits == []


@pytest.mark.slow
def test_plain_http_redirects_to_https(front: Front) -> None:
    response = httpx.get(front.http + "/clob/book?token_id=1")
    assert response.status_code == 301
    assert response.headers["location"] == "https://pmt.test/clob/book?token_id=1"
    assert front.hits == []


@pytest.mark.slow
def test_a_flood_from_one_client_is_rate_limited(front: Front) -> None:
    # 150 requests at once (bounded): the bucket holds a burst of 40 and refills 20/s, so
    # however slow this machine is, most of them arrive before it can refill.
    async def flood() -> list[int]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(verify=front.ssl_context, limits=limits) as client:
            responses = await asyncio.gather(
                *(client.get(front.https + "/gamma/markets") for _ in range(150))
            )
        return [response.status_code for response in responses]

    statuses = asyncio.run(flood())

    assert set(statuses) == {200, 429}
    assert statuses.count(200) >= 40, "the burst is served"
    assert statuses.count(429) >= 20
    assert len(front.hits) == statuses.count(200), "a limited request never reaches pmproxy"
