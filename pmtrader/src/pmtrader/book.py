"""The L2 order book of one token, and the venue's book hash.

Two things live here:

* :func:`book_hash`, the SHA-1 that Polymarket puts in a book's ``hash`` field, computed exactly
  like the official client's ``generate_orderbook_summary_hash`` so that the local exchange and
  the SDK agree byte for byte with ``py-clob-client-v2``.
* :class:`Book`, an L2 book with integer internals (see below).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

__all__ = ["book_hash"]

#: One book level as it appears on the wire: a mapping with ``price`` and ``size`` strings, or a
#: ``(price, size)`` pair of strings.
WireLevel = Mapping[str, str] | tuple[str, str]


def _wire_levels(levels: Iterable[WireLevel]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for level in levels:
        if isinstance(level, tuple):
            price, size = level
        else:
            price, size = level["price"], level["size"]
        out.append({"price": price, "size": size})
    return out


def book_hash(  # noqa: PLR0917 - positional order is the venue's key order, as specified
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[WireLevel],
    asks: Iterable[WireLevel],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> str:
    """Return the venue's hash of a book summary (40 lower-case hex digits, no ``0x``).

    The recipe is the official client's: SHA-1 over compact JSON (``","``/``":"`` separators, no
    ASCII escaping) of the summary with its keys in the venue's order and ``hash`` set to ``""``.
    Strings are hashed exactly as given, so pass the wire strings (``"0.48"``, not ``"0.4800"``),
    with levels in wire order (bids ascending, asks descending).

    Args:
        market: The condition id.
        asset_id: The token id.
        timestamp: Milliseconds since the epoch, as the wire string.
        bids: Bid levels, ascending by price (best last).
        asks: Ask levels, descending by price (best last).
        min_order_size: The market's minimum order size string.
        tick_size: The tick size string (``"0.01"`` ...).
        neg_risk: Whether the market is a neg-risk market.
        last_trade_price: The last trade price string (``""`` when none).

    Returns:
        The SHA-1 hex digest.
    """
    payload = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": _wire_levels(bids),
        "asks": _wire_levels(asks),
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    serialized = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(serialized.encode("utf-8")).hexdigest()  # noqa: S324 - venue's recipe, not security
