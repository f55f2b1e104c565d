"""Fixtures for pmproxy's tests: real loopback upstreams and real uvicorn proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pmproxy.testing import ProxyServer, RecordingUpstream

from pmproxy import Settings, create_app


@pytest.fixture(scope="session")
def upstream() -> Iterator[RecordingUpstream]:
    """The one upstream every route of the test proxies points at (per-route base paths)."""
    with RecordingUpstream() as server:
        yield server


@pytest.fixture(scope="session")
def canary() -> Iterator[RecordingUpstream]:
    """A server no request may ever reach: hostile inputs name it, its hit count must stay 0."""
    with RecordingUpstream() as server:
        yield server


SettingsFactory = Callable[..., Settings]


def settings_for(upstream: RecordingUpstream, **overrides: object) -> Settings:
    """Settings whose routes all go to ``upstream``, each under its own base path."""
    base = upstream.url
    return Settings(
        clob_url=base + "/c",
        gamma_url=base + "/g",
        data_url=base + "/d",
        chain_url=base + "/rpc",
        ws_url=f"ws://127.0.0.1:{upstream.port}/ws",
        read_timeout=2.0,
        connect_timeout=2.0,
        budgets=False,
    ).with_overrides(**overrides)


ProxyFactory = Callable[..., ProxyServer]


@pytest.fixture(scope="session")
def make_settings(upstream: RecordingUpstream) -> SettingsFactory:
    """``make_settings(**overrides)``: settings with every route to ``upstream`` (budgets off)."""

    def make(**overrides: object) -> Settings:
        return settings_for(upstream, **overrides)

    return make


@pytest.fixture(scope="module")
def start_proxy() -> Iterator[ProxyFactory]:
    """Start a real uvicorn pmproxy with given settings; all are stopped after the module."""
    started: list[ProxyServer] = []

    def start(settings: Settings) -> ProxyServer:
        server = ProxyServer(create_app(settings)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def proxy(upstream: RecordingUpstream, start_proxy: ProxyFactory) -> ProxyServer:
    """A pmproxy with budgets off and coalescing on, every route to ``upstream``."""
    return start_proxy(settings_for(upstream))
