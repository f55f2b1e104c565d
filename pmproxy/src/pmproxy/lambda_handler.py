"""AWS Lambda entry point: ``pmproxy.lambda_handler.handler`` (API Gateway HTTP API, v2 events).

The settings are read from ``PMPROXY_*`` environment variables on the first invocation (this
is the edge, like the command line), the application is built once and kept warm across
invocations. The upstream session belongs to the event loop Mangum drives; the application's
pool opens a new one should that loop ever change.

API Gateway HTTP APIs give the path twice: ``requestContext.http.path`` decoded and
``rawPath`` as sent. Mangum forwards only the decoded one, which would hide ``%2e%2e`` and
``%2F`` from the checks and change what the HMAC covers, so the handler here passes the raw one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import MutableMapping
from typing import Any

from mangum import Mangum
from mangum.handlers import HTTPGateway
from mangum.types import LambdaContext

from pmproxy import logs
from pmproxy.app import create_app
from pmproxy.settings import Settings


class RawPathHTTPGateway(HTTPGateway):
    """Mangum's HTTP API handler, with ``raw_path`` taken from the event's ``rawPath``."""

    @property
    def scope(self) -> MutableMapping[str, Any]:
        """The ASGI scope, with the undecoded path."""
        scope = super().scope
        raw = self.event.get("rawPath") if self.event.get("version") == "2.0" else None
        if isinstance(raw, str):
            base = self.config["api_gateway_base_path"]
            if base and base != "/":
                base = "/" + base.strip("/")
                if raw.startswith(base):
                    raw = raw[len(base) :] or "/"
            try:
                scope["raw_path"] = raw.encode("ascii")
            except UnicodeEncodeError:
                # Non-ASCII in a raw path is refused by the checks; keep it visible to them.
                scope["raw_path"] = raw.encode("utf-8")
        return scope


_adapter: Mangum | None = None


def build(settings: Settings) -> Mangum:
    """The Mangum adapter around a pmproxy application (tests build their own with this)."""
    # Mangum drives the app with the thread's current loop; make sure there is a usable one.
    try:
        usable = not asyncio.get_event_loop_policy().get_event_loop().is_closed()
    except RuntimeError:
        usable = False
    if not usable:
        asyncio.set_event_loop(asyncio.new_event_loop())
    return Mangum(
        create_app(settings),
        lifespan="off",
        custom_handlers=[RawPathHTTPGateway],
    )


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one API Gateway HTTP API (payload v2) event."""
    global _adapter  # noqa: PLW0603  # one warm adapter per Lambda execution environment
    if _adapter is None:
        settings = Settings.from_env(os.environ)
        logs.configure(settings.log_level)
        _adapter = build(settings)
    result: dict[str, Any] = _adapter(event, context)
    return result
