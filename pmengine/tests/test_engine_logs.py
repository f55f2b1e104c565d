"""No secret ever reaches a log line, whatever shape it arrives in."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from pmengine.config import load_settings
from pmengine.logs import MASK, OWN_LOGGERS, QUIET_LOGGERS, configure
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

CANARY = "0x" + "5ec2e7" * 10 + "beef"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure() sets process-wide logging; later tests in this process get theirs back."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in (*OWN_LOGGERS, *QUIET_LOGGERS)}
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_canary_is_scrubbed_from_values_keys_exceptions_and_nested_data() -> None:
    stream = io.StringIO()
    configure("debug", secrets=[CANARY], stream=stream)
    log = structlog.get_logger("test")
    log.debug("plain", detail=f"key is {CANARY}")
    log.debug("bare", detail=CANARY[2:])
    log.debug("keyed", private_key="anything", api_secret="s3", passphrase="p")
    log.debug("nested", payload={"a": [CANARY, {"b": CANARY}]})
    try:
        raise ValueError(f"bad key {CANARY}")
    except ValueError:
        log.exception("boom")
    settings = load_settings({"PMENGINE_PRIVATE_KEY": CANARY})
    log.debug("settings", settings=settings)
    text = stream.getvalue()
    assert CANARY not in text
    assert CANARY[2:] not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 6
    assert lines[0]["detail"] == f"key is {MASK}"
    assert lines[2]["private_key"] == MASK
    assert lines[2]["passphrase"] == MASK
    assert all(line["level"] in ("debug", "error") for line in lines)


def test_level_filters_debug_out_at_info() -> None:
    stream = io.StringIO()
    configure("info", stream=stream)
    structlog.get_logger("t").debug("hidden")
    structlog.get_logger("t").info("shown")
    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["shown"]


def test_redactor_scrubs_values_added_after_configure() -> None:
    """The L2 credentials are derived after logging starts; registering them still scrubs."""
    stream = io.StringIO()
    redactor = configure("debug", stream=stream)
    api_secret = "c2VjcmV0LWZyb20tdGhlLXZlbnVl"  # the shape the venue returns
    structlog.get_logger("t").debug("before", detail=api_secret)
    redactor.add(api_secret, "short")
    structlog.get_logger("t").debug("after", detail=f"secret={api_secret}")
    logging.getLogger("pmtrader.http").warning("stdlib after: %s", api_secret)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["event"] for x in lines[:2]] == ["before", "after"]
    assert lines[0]["detail"] == api_secret  # nothing to scrub before it was known
    assert lines[1]["detail"] == f"secret={MASK}"
    assert lines[2]["event"] == f"stdlib after: {MASK}"
    assert "short" not in {x.get("detail") for x in lines}  # too short to mask: left alone
    redactor.add("short")
    structlog.get_logger("t").debug("tiny", detail="short")
    assert json.loads(stream.getvalue().splitlines()[-1])["detail"] == "short"


def test_stdlib_logging_is_json_redacted_and_at_the_engine_level_for_pmt_loggers() -> None:
    """pmtrader's HTTP layer logs through the standard library: same stream, JSON, scrubbed."""
    stream = io.StringIO()
    configure("debug", secrets=[CANARY], stream=stream)
    logging.getLogger("pmtrader.http").debug("http.response path=/order key=%s", CANARY)
    logging.getLogger("pmengine.anything").info("plain stdlib info")
    logging.getLogger("some.library").info("a library's info is below its WARNING floor")
    logging.getLogger("some.library").debug("and so is its debug")
    try:
        raise RuntimeError(f"failed with {CANARY[2:]}")
    except RuntimeError:
        logging.getLogger("some.library").exception("library error")
    text = stream.getvalue()
    assert CANARY[2:] not in text
    lines = [json.loads(x) for x in text.splitlines()]
    assert [(x["logger"], x["level"]) for x in lines] == [
        ("pmtrader.http", "debug"),
        ("pmengine.anything", "info"),
        ("some.library", "error"),
    ]
    assert lines[0]["event"] == f"http.response path=/order key={MASK}"
    assert "RuntimeError: failed with " + MASK in lines[2]["exception"]
    assert all("timestamp" in x for x in lines)


def test_stdlib_follows_the_engine_level_at_info_and_configure_replaces_its_handler() -> None:
    first = io.StringIO()
    configure("debug", stream=first)
    second = io.StringIO()
    configure("info", stream=second)
    logging.getLogger("pmtrader.http").debug("hidden at info")
    logging.getLogger("pmtrader.http").info("shown")
    assert first.getvalue() == ""
    assert [json.loads(x)["event"] for x in second.getvalue().splitlines()] == ["shown"]


def _ws_exchange(frame: str) -> None:
    """Open a real websocket on loopback, send ``frame`` and read the echo."""

    async def run() -> None:
        async def echo(conn: ServerConnection) -> None:
            async for message in conn:
                await conn.send(message)

        async with serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send(frame)
                assert await ws.recv() == frame

    asyncio.run(run())


def test_websockets_frames_are_never_printed_at_debug() -> None:
    """websockets at DEBUG prints every frame; the user channel's login frame holds the
    API key, secret and passphrase, so that library is held at WARNING whatever the level.

    The secret here is *not* registered with the redactor: only the level guard stands
    between the frame and the log. The second half proves the guard is what does it.
    """
    unregistered = "pass-" + "9f8e7d6c" * 2
    # Short enough that websockets prints it whole (it elides the middle of long frames).
    frame = json.dumps({"passphrase": unregistered})
    stream = io.StringIO()
    configure("debug", stream=stream)
    _ws_exchange(frame)
    assert unregistered not in stream.getvalue()
    assert not logging.getLogger("websockets.client").isEnabledFor(logging.DEBUG)
    # Without the guard (the library at DEBUG, as a naive root level would leave it) the very
    # same exchange logs the frame, secret and all. Heard right at the library's logger, so
    # that whatever else in this process configured logging cannot hide it.
    heard: list[str] = []
    ear = logging.Handler()
    ear.emit = lambda record: heard.append(record.getMessage())  # type: ignore[method-assign]  # a one-off listener
    library = logging.getLogger("websockets")
    library.addHandler(ear)
    library.setLevel(logging.DEBUG)
    try:
        _ws_exchange(frame)
    finally:
        library.removeHandler(ear)
        configure("info", stream=io.StringIO())
    assert any(unregistered in line for line in heard)
    assert not library.isEnabledFor(logging.DEBUG)
