"""Wire decimal strings to exact integer units and back (``"0.48"`` <-> ``4800``).

Prices are integers in 1e-4 (``PRICE_SCALE``), shares and pUSD in 1e-6 base units
(``AMOUNT_SCALE``). Parsing is exact or refuses: a value finer than its unit, a sign, an exponent
or a non-ASCII digit raises ``ValueError`` naming the value. Formatting gives the shortest exact
decimal (``4800`` -> ``"0.48"``), the spelling the venue and the local exchange use.

Public through :mod:`pmtrader.book`; :mod:`pmtrader.wire` reads the memos directly on its hot
path.
"""

from __future__ import annotations

from typing import Final, TypeVar

__all__ = [
    "AMOUNT_SCALE",
    "PRICE_SCALE",
    "format_price",
    "format_size",
    "parse_price",
    "parse_prices",
    "parse_size",
    "parse_sizes",
]

#: Prices are integers in 1e-4 units: 0.01 is 100.
PRICE_SCALE: Final = 10_000
#: Shares and pUSD are integers in 1e-6 base units: 1 share is 1_000_000.
AMOUNT_SCALE: Final = 1_000_000

_PRICE_DECIMALS: Final = 4
_SIZE_DECIMALS: Final = 6
_POW10: Final = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
# Price strings repeat endlessly on a feed (at most 10,001 points per spelling), and a `book`
# event re-sends every unchanged level after each trade, so most size strings repeat too. A
# bounded memo per unit turns the parse into one C-level dict lookup; when full it starts over.
_PRICE_MEMO: dict[str, int] = {}
_SIZE_MEMO: dict[str, int] = {}
# The same for :mod:`pmtrader._book_wire`, which reads changed levels straight from the wire:
# keyed by the start of a canonical level text (b'"price":"0.48') and by a size's raw bytes.
_PRICE_HEADS: dict[bytes, int] = {}
_SIZE_BYTES_MEMO: dict[bytes, int] = {}
_MEMO_LIMIT: Final = 65_536
_Text = TypeVar("_Text", str, bytes)


def _parse_fixed(text: str, decimals: int, what: str) -> int:
    whole, dot, frac = text.partition(".")
    # The venue's own spelling ("1200", "310.5"): ASCII digits, at most one dot, few enough
    # decimals. One int() of the digits padded to the unit ("310" + "500000").
    if text.isascii() and whole.isdigit() and len(frac) <= decimals and (frac.isdigit() or not dot):
        return int(whole + frac.ljust(decimals, "0"))
    if dot and not frac:
        frac = "0"
    if (
        not (whole or frac)
        or not (whole.isascii() and (whole.isdigit() or not whole))
        or not (frac.isascii() and (frac.isdigit() or not frac))
    ):
        raise ValueError(f"{what} {text!r} is not a plain decimal number like '0.48'")
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise ValueError(
                f"{what} {text!r} has more than {decimals} decimals; the toolkit keeps "
                f"{what}s exact to 1e-{decimals}"
            )
        frac = frac[:decimals]
    return int(whole or "0") * _POW10[decimals] + int(frac.ljust(decimals, "0"))


def parse_price(text: str) -> int:
    """Parse a wire price string (``"0.48"``) into exact 1e-4 units (``4800``).

    Raises:
        ValueError: The text is not a plain non-negative decimal, or has more than 4 decimals
            that are not zeros.
    """
    units = _PRICE_MEMO.get(text)
    if units is None:
        units = _parse_fixed(text, _PRICE_DECIMALS, "price")
        _remember(_PRICE_MEMO, text, units)
    return units


def parse_size(text: str) -> int:
    """Parse a wire size string (``"310.5"``) into exact 1e-6 base units (``310_500_000``).

    Raises:
        ValueError: The text is not a plain non-negative decimal, or has more than 6 decimals
            that are not zeros.
    """
    units = _SIZE_MEMO.get(text)
    if units is None:
        units = _parse_fixed(text, _SIZE_DECIMALS, "size")
        _remember(_SIZE_MEMO, text, units)
    return units


def parse_prices(texts: list[str]) -> list[int]:
    """:func:`parse_price` over a list; one C-level pass when every string was seen before."""
    try:
        return list(map(_PRICE_MEMO.__getitem__, texts))
    except KeyError:
        return _parse_many(texts, _PRICE_MEMO, _PRICE_DECIMALS, "price")


def parse_sizes(texts: list[str]) -> list[int]:
    """:func:`parse_size` over a list; one C-level pass when every string was seen before."""
    try:
        return list(map(_SIZE_MEMO.__getitem__, texts))
    except KeyError:
        return _parse_many(texts, _SIZE_MEMO, _SIZE_DECIMALS, "size")


def _parse_many(texts: list[str], memo: dict[str, int], decimals: int, what: str) -> list[int]:
    out: list[int] = []
    append = out.append
    get = memo.get
    for text in texts:
        units = get(text)
        if units is None:
            units = _parse_fixed(text, decimals, what)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[text] = units
        append(units)
    return out


def _remember(memo: dict[_Text, int], text: _Text, units: int) -> None:
    """Store in a bounded memo, starting it over when full (also used by ``_book_wire``)."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[text] = units


def _format_fixed(value: int, decimals: int) -> str:
    whole, frac = divmod(value, _POW10[decimals])
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def format_price(units: int) -> str:
    """Format 1e-4 price units as the shortest exact decimal string (``4800`` → ``"0.48"``)."""
    return _format_fixed(units, _PRICE_DECIMALS)


def format_size(base_units: int) -> str:
    """Format 1e-6 base units as the shortest exact decimal string (``310500000`` → ``"310.5"``)."""
    return _format_fixed(base_units, _SIZE_DECIMALS)
