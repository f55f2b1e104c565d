"""Wire an engine together from the settings (the process edge) and run it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog

from pmengine import logs
from pmengine.config import Settings
from pmengine.core import EngineCore
from pmengine.engine import Engine, EngineConfig, FillSource
from pmengine.feed import MarketFeed
from pmengine.gateway import DryRunGateway, Gateway
from pmengine.journal import Journal, now_ms
from pmengine.markets import resolve_markets
from pmengine.metrics import EngineMetrics
from pmengine.risk import RiskLimits
from pmengine.strategy import StrategyRunner, load_strategy
from pmengine.units import amount_to_int
from pmstrat import MarketInfo

log = structlog.get_logger("pmengine")


def limits_from(settings: Settings) -> RiskLimits:
    """Risk limits from the settings (the rest keep their conservative defaults)."""
    max_position = amount_to_int(settings.max_position_size)
    max_exposure = amount_to_int(settings.max_total_exposure)
    return RiskLimits(
        max_position=max_position,
        max_total_exposure=max_exposure,
        max_order_size=max_position,
        max_order_notional=max_exposure,
        stale_book_ms=max(10 * settings.tick_interval_ms, 10_000),
    )


def build_gateway(
    settings: Settings, core: EngineCore, redactor: logs.Redactor | None = None
) -> Gateway:
    """The dry-run gateway, or the live one through the pmtrader SDK.

    The live gateway registers the L2 API credentials it derives with ``redactor``, so that
    they are scrubbed from every log line like the private key.
    """
    if settings.dry_run:
        return DryRunGateway(
            core.books.get, cash=amount_to_int(settings.max_total_exposure), clock=now_ms
        )
    from pmengine.live import LiveGateway

    return LiveGateway.from_settings(
        settings, on_secrets=redactor.add if redactor is not None else None
    )


def build_fill_source(settings: Settings, gateway: Gateway) -> FillSource | None:
    """Live: the user stream (fills, order updates) with REST catch-up; dry-run: none."""
    from pmengine.live import LiveGateway

    if settings.dry_run or not isinstance(gateway, LiveGateway):
        return None
    from pmengine.fills import FillFeed

    return FillFeed(gateway, settings.user_ws_url, poll_ms=settings.tick_interval_ms)


async def run_engine(settings: Settings, *, markets: list[MarketInfo] | None = None) -> int:
    """Run until SIGTERM/SIGINT; return the exit code.

    A signal during start-up (market lookup, venue connection, reconciliation) ends the start-up
    cleanly with exit code 0: nothing has been sent yet.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await _start_and_run(settings, markets)
    except asyncio.CancelledError:
        log.info("engine.stopped", during="start-up")
        return 0


async def _start_and_run(settings: Settings, markets: list[MarketInfo] | None) -> int:
    secrets = [settings.private_key.reveal()] if settings.private_key else []
    redactor = logs.configure(settings.log_level, secrets=secrets)
    log.info(
        "engine.starting",
        dry_run=settings.dry_run,
        env=settings.env,
        rest_url=settings.rest_url,
        strategies=list(settings.strategies),
        markets=list(settings.markets),
    )
    if markets is None:
        markets = await resolve_markets(settings.sdk_settings(), list(settings.markets))
    params = settings.param_dict()
    runners = []
    for ref in settings.strategies:
        instance, selected = load_strategy(ref, params, markets)
        runners.append(StrategyRunner(instance, selected))
    core = EngineCore(limits_from(settings))
    metrics = EngineMetrics()
    if settings.metrics_port is not None:
        port = metrics.serve(settings.metrics_port)
        log.info("metrics.serving", port=port)
    journal = Journal.in_dir(settings.state_dir).open()
    gateway = build_gateway(settings, core, redactor)
    ticks = {t: m.tick for m in markets for t in m.tokens}
    feed = MarketFeed(
        settings.market_ws_url, settings.rest_url, poll_ms=settings.tick_interval_ms, ticks=ticks
    )
    engine = Engine(
        core=core,
        gateway=gateway,
        journal=journal,
        metrics=metrics,
        runners=runners,
        config=EngineConfig(
            state_dir=settings.state_dir,
            tick_interval_ms=settings.tick_interval_ms,
            dry_run=settings.dry_run,
            markets=markets,
        ),
        feed=feed if markets else None,
        fills=build_fill_source(settings, gateway),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    try:
        return await engine.run()
    finally:
        journal.close()
        metrics.stop()


async def run_recorder(
    settings: Settings, out_dir: Path, *, rotate_ms: int, duration_s: float | None
) -> list[Path]:
    """``pmengine record``: the market feed into hourly Parquet files until a signal."""
    from pmengine.recorder import Recorder, record_until_stopped

    logs.configure(settings.log_level)
    markets = await resolve_markets(settings.sdk_settings(), list(settings.markets))
    recorder = Recorder(markets, out_dir, rotate_ms=rotate_ms)
    ticks = {t: m.tick for m in markets for t in m.tokens}
    feed = MarketFeed(
        settings.market_ws_url, settings.rest_url, poll_ms=settings.tick_interval_ms, ticks=ticks
    )
    tokens = sorted({t for m in markets for t in m.tokens})
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await record_until_stopped(recorder, feed, tokens, duration_s=duration_s)
    except asyncio.CancelledError:
        return recorder.written
