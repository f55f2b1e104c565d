"""Dry-run: the CLOB calls that change state are answered here and never leave the proxy.

The answers have the shapes the official client parses (``OrderResponse`` for placements, the
cancel shape for cancels), so a bot can run its whole loop against production reads while its
writes stay local. The proxy is stateless, so it cannot know which orders are open: a cancel
by id reports those ids as cancelled, ``/cancel-all`` and ``/cancel-market-orders`` report none.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final
from urllib.parse import unquote

from pmproxy.errors import UnsafeRequestError

# (method, path after /clob) of every mutating CLOB call, answered locally in dry-run.
MUTATING: Final = frozenset(
    {
        ("POST", "/order"),
        ("POST", "/orders"),
        ("DELETE", "/order"),
        ("DELETE", "/orders"),
        ("DELETE", "/cancel-all"),
        ("DELETE", "/cancel-market-orders"),
    }
)
# POSTs that read or authenticate rather than trade: they still pass through in dry-run. Any
# other POST/PUT/PATCH/DELETE is refused in dry-run (deny by default), so that no spelling of a
# trading call the venue might route like the ones above can slip through.
_PASS_IN_DRY_RUN: Final = frozenset(
    {
        ("POST", "/books"),
        ("POST", "/prices"),
        ("POST", "/midpoints"),
        ("POST", "/spreads"),
        ("POST", "/last-trades-prices"),
        ("POST", "/orders-scoring"),
        ("POST", "/auth/api-key"),
        ("POST", "/v1/heartbeats"),
        ("POST", "/heartbeats"),
    }
)

FORWARD: Final = "forward"
ANSWER: Final = "answer"
REFUSE: Final = "refuse"


def _key(path: str) -> str:
    # The path is already checked (no encoded "/", "." or controls), so decoding escapes such as
    # "%65" ("e") is safe and gives what the venue's router will see.
    return unquote(path).rstrip("/").lower() or "/"


def classify(method: str, path: str) -> str:
    """What dry-run does with a CLOB request: ``FORWARD``, ``ANSWER`` locally or ``REFUSE``.

    Args:
        method: HTTP method, upper case.
        path: path after ``/clob`` as received (escapes undecoded), no query.
    """
    if method in ("GET", "HEAD", "OPTIONS"):
        return FORWARD
    key = (method, _key(path))
    if key in MUTATING:
        return ANSWER
    if key in _PASS_IN_DRY_RUN:
        return FORWARD
    return REFUSE


def _order_id(order: object) -> str:
    # Deterministic per signed order (the same order gets the same id, as at the venue), but
    # not the venue's EIP-712 hash: the proxy holds no signing code and needs none.
    blob = json.dumps(order, sort_keys=True, separators=(",", ":")).encode()
    return "0x" + hashlib.sha256(blob).hexdigest()


def _placed(entry: object) -> dict[str, object]:
    if not isinstance(entry, dict) or not isinstance(entry.get("order"), dict):
        raise UnsafeRequestError("Invalid order payload")
    return {
        "success": True,
        "errorMsg": "",
        "orderID": _order_id(entry["order"]),
        "status": "live",
        "makingAmount": "",
        "takingAmount": "",
        "tradeIDs": [],
        "transactionsHashes": [],
    }


def _parse(body: bytes) -> object:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UnsafeRequestError("Invalid order payload: the body is not JSON") from exc


def answer(method: str, path: str, body: bytes) -> tuple[bytes, int]:
    """The local answer to a mutating CLOB call.

    Args:
        method: ``POST`` or ``DELETE``.
        path: path after ``/clob`` that :func:`classify` said to ``ANSWER``.
        body: the request body as received.

    Returns:
        The JSON body and the number of orders it concerns (for the log line).

    Raises:
        UnsafeRequestError: the body is not the shape the venue accepts (the venue answers 400 too).
    """
    key = _key(path)
    payload = _parse(body)
    result: object
    count: int
    if key == "/order" and method != "DELETE":
        result, count = _placed(payload), 1
    elif key == "/orders" and method != "DELETE":
        if not isinstance(payload, list):
            raise UnsafeRequestError("Invalid order payload: POST /orders takes a JSON array")
        result = [_placed(entry) for entry in payload]
        count = len(payload)
    elif key == "/order":
        order_id = payload.get("orderID") if isinstance(payload, dict) else None
        if not isinstance(order_id, str) or not order_id:
            raise UnsafeRequestError("Invalid orderID")
        result, count = {"canceled": [order_id], "not_canceled": {}}, 1
    elif key == "/orders":
        if not isinstance(payload, list) or not all(isinstance(i, str) for i in payload):
            raise UnsafeRequestError("Invalid orderID: DELETE /orders takes a JSON array of ids")
        result, count = {"canceled": list(payload), "not_canceled": {}}, len(payload)
    else:
        result, count = {"canceled": [], "not_canceled": {}}, 0
    return json.dumps(result, separators=(",", ":")).encode(), count
