"""Seeded background traders that keep the local exchange's markets alive.

Market makers quote a ladder on both sides of a latent fair value that drifts like a logit random
walk (steps scaled by p·(1-p), so prices slow down near 0 and 1, with rare jumps); noise traders
send marketable FAK orders. All of it is integer arithmetic: no float ever reaches an order.
Everything goes through ``Exchange.place`` and ``Exchange.cancel`` with the flow accounts' own
API keys, exactly like a user's orders: no back doors, the same rules, the same events.

Makers quote bids as BUY YES and asks as BUY NO at ``1 - ask`` (collateral only), or as SELL of
inventory they hold, so quoting never needs pre-minted tokens and inventory gets recycled.

Cost: ``step(now_ms)`` acts once per ``interval_ms`` of sim time (catching up at most
``max_catch_up`` intervals per call, so a high ``--speed`` never builds a backlog), touching only
the markets whose fair value moved or whose ladder was eaten; idle steps are a few comparisons.
The very first step seeds a full ladder on every active market, so books are two-sided at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pmtrader.sim.catalogue import Market
from pmtrader.sim.errors import OrderRejected
from pmtrader.sim.exchange import Exchange
from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE, Side
from pmtrader.sim.records import SignedOrder

__all__ = ["Flow", "FlowConfig"]


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Knobs of the background flow (defaults: lively but cheap on a 2-core machine)."""

    makers: int = 2
    noise_traders: int = 3
    levels: int = 3
    interval_ms: int = 1_000
    max_catch_up: int = 5
    step_at_half: int = 10
    """Largest fair-value step per interval at p = 0.5, in 1e-4 units (smaller towards 0 and 1)."""
    jump_per_million: int = 500
    """Chance per market and interval of a sharp move (0.03-0.12 at mid), per million."""
    trade_per_million: int = 30_000
    """Chance per market and interval of a noise trade, per million."""
    refresh_ms: int = 60_000
    maker_funding: int = 5_000_000 * AMOUNT_SCALE
    noise_funding: int = 500_000 * AMOUNT_SCALE


@dataclass(slots=True)
class _Account:
    address: str
    key: str


@dataclass(slots=True)
class _MarketState:
    fair: int
    quoted_center: int = -1
    quoted_at: int = 0
    orders: list[tuple[int, str, Side]] = field(default_factory=list)


class Flow:
    """Background market makers and noise traders on one exchange (deterministic under ``seed``).

    Args:
        exchange: the exchange to trade on.
        seed: fixes every random choice (with a manual clock the whole run replays).
        config: flow knobs.
    """

    def __init__(self, exchange: Exchange, *, seed: int, config: FlowConfig | None = None) -> None:
        self._exchange = exchange
        self._config = config or FlowConfig()
        self._rng = random.Random(f"flow|{seed}")
        self._seed = seed
        self._makers: list[_Account] = []
        self._noise: list[_Account] = []
        self._markets: dict[str, _MarketState] = {}
        self._last_ms: int | None = None
        self._salt = 0
        self.paused = False

    @property
    def started(self) -> bool:
        """Whether the first step (accounts and initial depth) has run."""
        return self._last_ms is not None

    def step(self, now_ms: int) -> None:
        """Let the traders act up to sim time ``now_ms`` (call it from a timer)."""
        if self._last_ms is None:
            self._start(now_ms)
            return
        if self.paused:
            self._last_ms = now_ms
            return
        interval = self._config.interval_ms
        due = (now_ms - self._last_ms) // interval
        if due <= 0:
            return
        steps = min(due, self._config.max_catch_up)
        for _ in range(steps):
            self._tick(now_ms, interval * due // steps)
        self._last_ms += due * interval

    # setup ---------------------------------------------------------------------------------
    def _account(self, role: str, n: int, funding: int) -> _Account:
        digest = self._exchange._digest("flow-account", self._seed, role, n)
        address = "0x" + digest[:20].hex()
        key = self._exchange.derive_api_key(address, 0).api_key
        missing = funding - self._exchange.ledger.pusd(address)
        if missing > 0:
            self._exchange.fund(address, missing)
        return _Account(address, key)

    def _start(self, now_ms: int) -> None:
        cfg = self._config
        self._makers = [self._account("maker", n, cfg.maker_funding) for n in range(cfg.makers)]
        self._noise = [
            self._account("noise", n, cfg.noise_funding) for n in range(cfg.noise_traders)
        ]
        for account in (*self._makers, *self._noise):
            self._exchange.cancel_all(account.key)  # a restart begins from a clean slate
        for market in self._exchange.markets():
            if market.closed:
                continue
            mid = self._current_mid(market)
            self._markets[market.condition_id] = _MarketState(mid)
            self._quote(market, now_ms)
        self._last_ms = now_ms

    def _current_mid(self, market: Market) -> int:
        bid, ask = self._exchange.best_bid_ask(market.yes_token)
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        last = self._exchange.last_trade(market.yes_token)
        return market.initial_mid if last is None else last[0]

    # the loop ------------------------------------------------------------------------------
    def _tick(self, now_ms: int, elapsed_ms: int) -> None:
        cfg = self._config
        rng = self._rng
        # one tick may stand for several intervals when catching up: scale the chances linearly
        intervals = min(max(1, elapsed_ms // cfg.interval_ms), 3)
        for account in self._noise:
            if self._exchange.ledger.pusd(account.address) < cfg.noise_funding // 10:
                self._exchange.fund(account.address, cfg.noise_funding // 2)
        for market in self._exchange.markets():
            state = self._markets.get(market.condition_id)
            if state is None or market.closed:
                continue
            spread = state.fair * (PRICE_SCALE - state.fair)  # p(1-p) in 1e-8 units
            reach = max(1, cfg.step_at_half * spread * 4 // (PRICE_SCALE * PRICE_SCALE))
            state.fair += rng.randint(-reach, reach)
            if rng.randrange(1_000_000) < cfg.jump_per_million * intervals:
                size = rng.randint(300, 1_200) * spread * 4 // (PRICE_SCALE * PRICE_SCALE)
                state.fair += size if rng.randrange(2) else -size
            state.fair = _clamp(state.fair, market.tick)
            center = _clamp(state.fair - state.fair % market.tick, market.tick)
            stale = now_ms - state.quoted_at >= cfg.refresh_ms
            # trade first, then repair the ladder, so every tick ends with a two-sided book
            if rng.randrange(1_000_000) < cfg.trade_per_million * intervals:
                self._noise_trade(market, state)
            moved = abs(center - state.quoted_center) >= 2 * market.tick
            if moved or stale or self._eaten(state):
                self._quote(market, now_ms)

    def _eaten(self, state: _MarketState) -> bool:
        """Whether takers emptied one side of the ladder (then it is re-quoted at once)."""
        live = {Side.BUY: 0, Side.SELL: 0}
        for _, oid, side in state.orders:
            record = self._exchange.order(oid)
            if record is not None and record.status == "LIVE":
                live[side] += 1
        return min(live.values()) == 0

    def _quote(self, market: Market, now_ms: int) -> None:
        state = self._markets[market.condition_id]
        maker_index = self._rng.randrange(len(self._makers))
        for maker_n, oid, _ in state.orders:
            self._exchange.cancel(self._makers[maker_n].key, [oid])
        state.orders = []
        tick = market.tick
        center = _clamp(state.fair - state.fair % tick, tick)
        half = max(tick, (self._rng.randrange(1, 3) * market.base_tick) // 2)
        min_size = market.min_order_size // AMOUNT_SCALE
        maker = self._makers[maker_index]
        for level in range(self._config.levels):
            bid = center - half - level * market.base_tick
            ask = center + half + level * market.base_tick
            bid -= bid % tick
            ask += -ask % tick
            size = self._rng.randrange(max(min_size, 20), 400) * AMOUNT_SCALE
            if tick <= bid <= PRICE_SCALE - tick:
                self._place_quote(market, maker, maker_index, state, Side.BUY, bid, size)
            if tick <= ask <= PRICE_SCALE - tick:
                self._place_quote(market, maker, maker_index, state, Side.SELL, ask, size)
        state.quoted_center = center
        state.quoted_at = now_ms

    def _place_quote(  # noqa: PLR0917 - private helper with one call site per side
        self,
        market: Market,
        maker: _Account,
        maker_index: int,
        state: _MarketState,
        side: Side,
        yes_price: int,
        size: int,
    ) -> None:
        # A YES ask is a SELL of held YES, or else a BUY of NO at 1 - ask; a YES bid likewise.
        own, other = (market.yes_token, market.no_token)
        if side is Side.BUY:
            held_no = self._exchange.available_tokens(maker.address, other)
            if held_no >= size:
                order = self._order(maker, other, Side.SELL, PRICE_SCALE - yes_price, size)
            else:
                order = self._order(maker, own, Side.BUY, yes_price, size)
        else:
            held_yes = self._exchange.available_tokens(maker.address, own)
            if held_yes >= size:
                order = self._order(maker, own, Side.SELL, yes_price, size)
            else:
                order = self._order(maker, other, Side.BUY, PRICE_SCALE - yes_price, size)
        order_id = self._exchange.new_order_id()
        try:
            self._exchange.place(
                order, order_id=order_id, owner_key=maker.key, order_type="GTC", post_only=True
            )
        except OrderRejected:
            return
        state.orders.append((maker_index, order_id, side))

    def _order(
        self, account: _Account, token: str, side: Side, price: int, size: int
    ) -> SignedOrder:
        self._salt += 1
        cost = size * price // PRICE_SCALE
        maker_amount, taker_amount = (cost, size) if side is Side.BUY else (size, cost)
        return SignedOrder(
            salt=self._salt,
            maker=account.address,
            signer=account.address,
            token_id=token,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side=side,
        )

    def _noise_trade(self, market: Market, state: _MarketState) -> None:
        trader = self._noise[self._rng.randrange(len(self._noise))]
        fair = _clamp(state.fair - state.fair % market.tick, market.tick)
        token = market.yes_token if self._rng.randrange(2) else market.no_token
        held = self._exchange.available_tokens(trader.address, token)
        if held >= AMOUNT_SCALE and self._rng.randrange(10) < 4:
            shares = held // self._rng.randint(1, 4)
            shares -= shares % 10_000
            worst = max(market.tick, fair - 5 * market.base_tick)
            if token == market.no_token:
                worst = max(market.tick, PRICE_SCALE - fair - 5 * market.base_tick)
            worst -= worst % market.tick
            proceeds = shares * worst // PRICE_SCALE
            order = SignedOrder(
                self._next_salt(),
                trader.address,
                trader.address,
                token,
                shares,
                proceeds,
                Side.SELL,
            )
        else:
            amount = self._rng.randrange(5, 120) * AMOUNT_SCALE
            limit = fair if token == market.yes_token else PRICE_SCALE - fair
            worst = min(PRICE_SCALE - market.tick, limit + 5 * market.base_tick)
            worst -= worst % market.tick
            shares = amount * PRICE_SCALE // worst
            order = SignedOrder(
                self._next_salt(), trader.address, trader.address, token, amount, shares, Side.BUY
            )
        try:
            self._exchange.place(
                order,
                order_id=self._exchange.new_order_id(),
                owner_key=trader.key,
                order_type="FAK",
                post_only=False,
            )
        except OrderRejected:
            return

    def _next_salt(self) -> int:
        self._salt += 1
        return self._salt


def _clamp(price: int, tick: int) -> int:
    return max(2 * tick, min(PRICE_SCALE - 2 * tick, price))
