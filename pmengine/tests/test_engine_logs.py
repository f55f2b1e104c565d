"""No secret ever reaches a log line, whatever shape it arrives in."""

from __future__ import annotations

import io
import json

import structlog
from pmengine.config import load_settings
from pmengine.logs import MASK, configure

CANARY = "0x" + "5ec2e7" * 10 + "beef"


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
