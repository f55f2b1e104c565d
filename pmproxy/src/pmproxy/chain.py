"""``/chain``: JSON-RPC POSTs to Polygon, checked method by method against an allowlist.

A public RPC endpoint behind a shared proxy is an open relay for whatever an RPC node accepts
(debug and admin namespaces, filters that hold node memory, log scans). Only the methods an SDK
needs go through; a batch is checked item by item and refused whole if any item is not allowed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from pmproxy.errors import ChainMethodForbiddenError, UnsafeRequestError

MAX_BATCH = 100


def check_call(body: bytes, allowed: frozenset[str]) -> list[str]:
    """Check a JSON-RPC request body and return the methods it calls.

    Args:
        body: the POST body as received.
        allowed: the JSON-RPC methods that may be forwarded.

    Raises:
        UnsafeRequestError: the body is not a JSON-RPC call or batch (or the batch is empty or over
            100 items).
        ChainMethodForbiddenError: a call names a method outside ``allowed``.
    """
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise UnsafeRequestError("/chain takes a JSON-RPC request body (JSON)") from exc
    calls: Iterable[object]
    if isinstance(payload, list):
        if not payload:
            raise UnsafeRequestError("/chain: an empty JSON-RPC batch")
        if len(payload) > MAX_BATCH:
            raise UnsafeRequestError(f"/chain: a JSON-RPC batch holds at most {MAX_BATCH} calls")
        calls = payload
    else:
        calls = (payload,)
    methods: list[str] = []
    for call in calls:
        method = call.get("method") if isinstance(call, dict) else None
        if not isinstance(method, str):
            raise UnsafeRequestError("/chain: every JSON-RPC call needs a string 'method'")
        if method not in allowed:
            raise ChainMethodForbiddenError(
                f"/chain: JSON-RPC method {method[:64]!r} is not allowed by this proxy "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        methods.append(method)
    return methods
