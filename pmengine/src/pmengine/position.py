"""Positions and P&L, exact to the base unit (mypyc-compiled).

Money inside is kept in *micro-notional* units: ``price (1e-4) * amount (1e-6)`` = 1e-10 pUSD,
so a fill's cost is an exact integer product and nothing is ever rounded away. When part of a
position is closed, the cost removed is floored and the remainder stays with what is still held,
so realized plus cost basis always adds up to the cash that actually moved.
"""

from __future__ import annotations

from typing import Final, final

from pmengine.units import BUY, NOTIONAL_DIVISOR, PRICE_SCALE

#: micro-notional units per pUSD base unit
MICRO_PER_BASE: Final = NOTIONAL_DIVISOR


@final
class Position:
    """One token: quantity held, cost basis, realized P&L and fees paid."""

    token_id: str
    qty: int
    cost: int
    realized: int
    fees: int
    bought: int
    sold: int

    def __init__(self, token_id: str) -> None:
        self.token_id = token_id
        self.qty = 0
        self.cost = 0
        self.realized = 0
        self.fees = 0
        self.bought = 0
        self.sold = 0

    def apply_fill(self, side: int, price: int, size: int, fee: int) -> int:
        """Book a fill; return the realized P&L it produced (micro-notional units).

        Args:
            side: ``BUY`` or ``SELL``.
            price: 1e-4 units.
            size: base units of the token.
            fee: pUSD base units paid (reduces realized P&L).
        """
        signed = size if side == BUY else -size
        value = price * size
        realized = 0
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.qty += signed
            self.cost += value if signed > 0 else -value
        else:
            held = abs(self.qty)
            closing = min(size, held)
            # Floor the cost taken out; the remainder stays in the cost of what is left, and
            # closing everything takes out exactly the whole cost.
            removed = self.cost * closing // held
            proceeds = price * closing
            if self.qty > 0:
                realized = proceeds - removed
                self.qty -= closing
            else:
                realized = -removed - proceeds
                self.qty += closing
            self.cost -= removed
            rest = size - closing
            if rest > 0:
                # Flipped through zero: open the other way at the fill price.
                self.qty += rest if signed > 0 else -rest
                self.cost += price * rest if signed > 0 else -(price * rest)
        fee_micro = fee * MICRO_PER_BASE
        realized -= fee_micro
        self.realized += realized
        self.fees += fee
        if side == BUY:
            self.bought += size
        else:
            self.sold += size
        return realized

    def resolve(self, payout_price: int) -> int:
        """Settle the position at resolution (``payout_price`` 10_000 for a winner, 0 for a loser).

        Returns:
            The realized P&L of the settlement (micro-notional units).
        """
        proceeds = self.qty * payout_price
        realized = proceeds - self.cost
        self.realized += realized
        self.qty = 0
        self.cost = 0
        return realized

    def avg_price_x(self) -> tuple[int, int]:
        """Average price as an exact fraction ``(cost, qty)`` in (micro-notional, base units)."""
        return (self.cost, self.qty)

    def unrealized(self, mid_x2: int) -> int:
        """Unrealized P&L marked to mid (micro-notional units, floored); 0 without a mid."""
        if self.qty == 0 or mid_x2 < 0:
            return 0
        return self.qty * mid_x2 // 2 - self.cost

    def cost_base_units(self) -> int:
        """Cost basis in pUSD base units, rounded up (used for exposure limits)."""
        return -(-self.cost // MICRO_PER_BASE)


@final
class Portfolio:
    """All positions plus cash, with totals for risk and reporting."""

    positions: dict[str, Position]
    cash: int
    cash_known: bool
    realized_at_day_start: int

    def __init__(self) -> None:
        self.positions = {}
        self.cash = 0
        self.cash_known = False
        self.realized_at_day_start = 0

    def position(self, token_id: str) -> Position:
        """The position for a token (created flat on first use)."""
        pos = self.positions.get(token_id)
        if pos is None:
            pos = Position(token_id)
            self.positions[token_id] = pos
        return pos

    def qty(self, token_id: str) -> int:
        """Quantity held of a token (base units)."""
        pos = self.positions.get(token_id)
        return 0 if pos is None else pos.qty

    def set_cash(self, cash: int) -> None:
        """Set the pUSD balance (base units) from the venue."""
        self.cash = cash
        self.cash_known = True

    def apply_fill(self, token_id: str, side: int, price: int, size: int, fee: int) -> int:
        """Book a fill in the position and move cash exactly; returns realized micro-notional."""
        realized = self.position(token_id).apply_fill(side, price, size, fee)
        value = price * size
        if side == BUY:
            self.cash -= -(-value // NOTIONAL_DIVISOR) + fee
        else:
            self.cash += value // NOTIONAL_DIVISOR - fee
        return realized

    def resolve(self, token_id: str, winner: bool) -> int:
        """Settle a token at resolution; the payout (1 pUSD per winning share) goes to cash."""
        pos = self.position(token_id)
        payout = pos.qty if winner else 0
        realized = pos.resolve(PRICE_SCALE if winner else 0)
        self.cash += payout
        return realized

    def realized(self) -> int:
        """Total realized P&L (micro-notional)."""
        total = 0
        for pos in self.positions.values():
            total += pos.realized
        return total

    def fees(self) -> int:
        """Total fees paid (pUSD base units)."""
        total = 0
        for pos in self.positions.values():
            total += pos.fees
        return total

    def cost_exposure(self) -> int:
        """Cost basis of everything held (pUSD base units, rounded up)."""
        total = 0
        for pos in self.positions.values():
            if pos.qty > 0:
                total += pos.cost_base_units()
        return total

    def daily_pnl(self, unrealized: int) -> int:
        """Realized since the day started plus the given unrealized (micro-notional)."""
        return self.realized() - self.realized_at_day_start + unrealized


def micro_to_base(micro: int) -> int:
    """Micro-notional to pUSD base units, floored."""
    return micro // MICRO_PER_BASE
