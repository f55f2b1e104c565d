"""Read-only and builder API keys (L2), as the official client manages them.

Production issues read-only keys (for dashboards that must not trade) and builder keys (fee
attribution). The local exchange keeps both per API key in memory: they are listed, created and
revoked with production's shapes; nothing else in the sim needs them, since builder fees are zero.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pmtrader.sim.context import ServerContext
from pmtrader.sim.responses import HttpError, ok, read_json
from pmtrader.sim.routes_orders import OrderRoutes
from pmtrader.sim.shapes import iso


@dataclass(slots=True)
class _BuilderKey:
    key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    created_ms: int
    revoked_ms: int | None = None


class KeyRoutes:
    """Read-only keys (``/auth/readonly-api-key(s)``, validation) and builder keys (L2)."""

    def __init__(self, ctx: ServerContext, orders: OrderRoutes) -> None:
        self.ctx = ctx
        self.orders = orders
        self._readonly: dict[str, list[str]] = {}  # address (lower) -> read-only keys
        self._builder: dict[str, list[_BuilderKey]] = {}  # api key -> builder keys
        self._counter = 0

    def routes(self) -> list[Route]:
        """The Starlette routes at the server root."""
        return [
            Route("/auth/readonly-api-key", self.create_readonly, methods=["POST"]),
            Route("/auth/readonly-api-key", self.delete_readonly, methods=["DELETE"]),
            Route("/auth/readonly-api-keys", self.list_readonly, methods=["GET"]),
            Route("/auth/validate-readonly-api-key", self.validate_readonly, methods=["GET"]),
            Route("/auth/builder-api-key", self.create_builder, methods=["POST"]),
            Route("/auth/builder-api-key", self.list_builder, methods=["GET"]),
            Route("/auth/builder-api-key", self.revoke_builder, methods=["DELETE"]),
        ]

    def _secret(self, *parts: str) -> bytes:
        self._counter += 1
        seed = f"pmtrader-sim|{self.ctx.seed}|{self._counter}".encode()
        return hmac.new(seed, "|".join(parts).encode(), hashlib.sha256).digest()

    async def create_readonly(self, request: Request) -> Response:
        """``POST /auth/readonly-api-key``: ``{"apiKey": uuid}``."""
        record = await self.orders.l2(request)
        key = str(uuid.UUID(bytes=self._secret(record.address, "readonly")[:16], version=4))
        self._readonly.setdefault(record.address.lower(), []).append(key)
        return ok({"apiKey": key})

    async def list_readonly(self, request: Request) -> Response:
        """``GET /auth/readonly-api-keys``: the caller's read-only keys."""
        record = await self.orders.l2(request)
        return ok(list(self._readonly.get(record.address.lower(), [])))

    async def delete_readonly(self, request: Request) -> Response:
        """``DELETE /auth/readonly-api-key`` with ``{"key": k}``."""
        record = await self.orders.l2(request)
        body = await read_json(request)
        key = body.get("key") if isinstance(body, dict) else None
        keys = self._readonly.get(record.address.lower(), [])
        if not isinstance(key, str) or key not in keys:
            raise HttpError(400, "Invalid readonly api key")
        keys.remove(key)
        return ok("OK")

    async def validate_readonly(self, request: Request) -> Response:
        """``GET /auth/validate-readonly-api-key?address=&key=`` (public): ``true``/``false``."""
        address = (request.query_params.get("address") or "").lower()
        key = request.query_params.get("key") or ""
        return ok(key in self._readonly.get(address, []))

    async def create_builder(self, request: Request) -> Response:
        """``POST /auth/builder-api-key``: ``{"key", "secret", "passphrase"}``."""
        record = await self.orders.l2(request)
        raw = self._secret(record.api_key, "builder")
        created = _BuilderKey(
            key=str(uuid.UUID(bytes=raw[:16], version=4)),
            secret=base64.urlsafe_b64encode(raw).decode(),
            passphrase=raw[16:].hex(),
            created_ms=self.ctx.now_ms(),
        )
        self._builder.setdefault(record.api_key, []).append(created)
        return ok({"key": created.key, "secret": created.secret, "passphrase": created.passphrase})

    async def list_builder(self, request: Request) -> Response:
        """``GET /auth/builder-api-key``: ``[{"key", "createdAt", "revokedAt"}]``."""
        record = await self.orders.l2(request)
        return ok(
            [
                {
                    "key": b.key,
                    "createdAt": iso(b.created_ms),
                    "revokedAt": None if b.revoked_ms is None else iso(b.revoked_ms),
                }
                for b in self._builder.get(record.api_key, [])
            ]
        )

    async def revoke_builder(self, request: Request) -> Response:
        """``DELETE /auth/builder-api-key``: revoke the caller's builder keys."""
        record = await self.orders.l2(request)
        now = self.ctx.now_ms()
        for b in self._builder.get(record.api_key, []):
            if b.revoked_ms is None:
                b.revoked_ms = now
        return ok("OK")
