"""The seeded market catalogue of the local exchange: events, markets, tokens and history.

``Catalogue.generate(seed, start_ms)`` builds the same 30+ markets for the same seed: ids depend
only on the seed and the names (keccak, like production's 0x + 64 hex condition ids and decimal
uint256 token ids); prices, volumes and the 30-day hourly price history depend on the seed; end
dates are offsets from ``start_ms``. Every market is a binary YES/NO pair; a neg-risk event is
several such markets (one per candidate) that resolve together.

``Market`` holds the static description plus the few fields the exchange changes at run time
(``tick``, ``closed``, ``winner``): the exchange owns its catalogue instance.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

from eth_hash.auto import keccak

from pmtrader.sim.matching import AMOUNT_SCALE, PRICE_SCALE

__all__ = ["Catalogue", "Event", "FeeParams", "Market", "RewardParams"]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class FeeParams:
    """Platform fee ``fee = shares x r x (p·(1-p))^e``; ``taker_only`` is production's ``to``."""

    rate: Decimal
    exponent: int
    taker_only: bool = True

    def to_wire(self) -> dict[str, object]:
        """``{"r": rate, "e": exponent, "to": taker_only}`` as ``/clob-markets`` sends ``fd``."""
        return {"r": float(self.rate), "e": self.exponent, "to": self.taker_only}


@dataclass(frozen=True, slots=True)
class RewardParams:
    """Liquidity-rewards terms: max spread in cents, min size in shares, pUSD per day."""

    max_spread: Decimal
    min_size: int
    daily_rate: Decimal


@dataclass(slots=True)
class Market:
    """One binary market (a YES and a NO token) with its Gamma and CLOB descriptions."""

    condition_id: str
    question_id: str
    gamma_id: str
    question: str
    slug: str
    description: str
    event_id: str
    category: str
    tags: tuple[str, ...]
    outcomes: tuple[str, str]
    token_ids: tuple[str, str]
    base_tick: int
    min_order_size: int
    neg_risk: bool
    neg_risk_market_id: str
    fees: FeeParams
    rewards: RewardParams
    start_ms: int
    end_ms: int
    initial_mid: int
    volume: int
    liquidity: int
    image: str
    icon: str
    group_item_title: str = ""
    tick: int = 0
    match_delay_ms: int = 0
    closed: bool = False
    winner: str | None = None
    history: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def yes_token(self) -> str:
        """Token id of the first outcome (YES)."""
        return self.token_ids[0]

    @property
    def no_token(self) -> str:
        """Token id of the second outcome (NO)."""
        return self.token_ids[1]

    @property
    def accepting_orders(self) -> bool:
        """Open for trading: not resolved or closed."""
        return not self.closed

    def outcome_of(self, token_id: str) -> str:
        """The outcome name ("Yes"/"No") of one of this market's tokens."""
        return self.outcomes[self.token_ids.index(token_id)]


@dataclass(slots=True)
class Event:
    """A group of markets (Gamma event); neg-risk events hold one market per outcome."""

    id: str
    slug: str
    title: str
    description: str
    category: str
    tags: tuple[str, ...]
    neg_risk: bool
    neg_risk_market_id: str
    markets: list[Market]
    start_ms: int
    end_ms: int
    image: str


def _keccak_hex(*parts: str) -> str:
    return "0x" + keccak("|".join(parts).encode()).hex()


def _token_id(seed: int, condition_id: str, outcome: str) -> str:
    return str(int.from_bytes(keccak(f"{seed}|{condition_id}|{outcome}".encode()), "big"))


# (event title, category, tags, neg_risk, hours to end, [(question or candidate, mid %)], tick)
_EVENTS: list[tuple[str, str, tuple[str, ...], bool, int, list[tuple[str, int]], str]] = [
    (
        "Presidential Election Winner 2028",
        "politics",
        ("Politics", "Elections", "US"),
        True,
        24 * 150,
        [
            ("Gavin Newsom", 28),
            ("JD Vance", 34),
            ("Alexandria Ocasio-Cortez", 9),
            ("Marco Rubio", 6),
            ("Josh Shapiro", 7),
        ],
        "0.01",
    ),
    (
        "Champions League Final Winner",
        "sports",
        ("Sports", "Soccer"),
        True,
        24 * 40,
        [("Real Madrid", 31), ("Manchester City", 22), ("Bayern Munich", 18), ("Arsenal", 14)],
        "0.01",
    ),
    (
        "Fed decision in December",
        "economics",
        ("Economy", "Fed Rates"),
        True,
        24 * 18,
        [("No change", 62), ("25 bps decrease", 33), ("50+ bps decrease", 3), ("Increase", 2)],
        "0.001",
    ),
    (
        "Largest company end of year",
        "finance",
        ("Finance", "Stocks"),
        True,
        24 * 33,
        [("NVIDIA", 71), ("Microsoft", 12), ("Apple", 15)],
        "0.01",
    ),
    (
        "Bitcoin above ___ on Friday",
        "crypto",
        ("Crypto", "Bitcoin"),
        False,
        30,
        [
            ("Bitcoin above $90,000 on Friday?", 88),
            ("Bitcoin above $100,000 on Friday?", 54),
            ("Bitcoin above $110,000 on Friday?", 12),
        ],
        "0.01",
    ),
    (
        "Ethereum price end of month",
        "crypto",
        ("Crypto", "Ethereum"),
        False,
        24 * 12,
        [("Will Ethereum reach $5,000 this month?", 17), ("Will Ethereum dip to $2,500?", 23)],
        "0.001",
    ),
    (
        "Highest temperature in NYC today",
        "weather",
        ("Weather", "NYC"),
        False,
        6,
        [("Will NYC hit 60°F or higher today?", 41), ("Will it rain in NYC today?", 64)],
        "0.01",
    ),
    (
        "Oscars 2027",
        "culture",
        ("Culture", "Awards", "Movies"),
        False,
        24 * 95,
        [
            ("Will 'The Brutalist II' win Best Picture?", 22),
            ("Will a streaming film win Best Picture?", 38),
        ],
        "0.005",
    ),
    (
        "Tech launches",
        "tech",
        ("Tech", "AI"),
        False,
        24 * 60,
        [
            ("Will OpenAI release GPT-6 before March?", 27),
            ("Will Apple announce a foldable iPhone this year?", 8),
            ("Will a humanoid robot be sold to consumers by June?", 45),
        ],
        "0.01",
    ),
    (
        "Geopolitics",
        "geopolitics",
        ("Geopolitics", "World"),
        False,
        24 * 75,
        [
            ("Ceasefire agreement signed by end of quarter?", 35),
            ("Will the UN admit a new member this year?", 4),
        ],
        "0.0025",
    ),
    (
        "NBA Finals",
        "sports",
        ("Sports", "NBA"),
        False,
        24 * 7,
        [
            ("Will the Celtics win Game 5?", 57),
            ("Will Game 5 go to overtime?", 7),
            ("Will the Game 5 total points be over 215.5?", 49),
        ],
        "0.01",
    ),
    (
        "Economy data",
        "economics",
        ("Economy", "Inflation"),
        False,
        24 * 21,
        [
            ("Will US CPI come in above 3.0%?", 46),
            ("Will US unemployment be 4.5% or higher?", 29),
            ("US recession in 2027?", 97),
        ],
        "0.01",
    ),
    (
        "Culture and music",
        "culture",
        ("Culture", "Music"),
        False,
        24 * 3,
        [
            ("Will Taylor Swift announce a new album this week?", 13),
            ("Will the top song change?", 2),
        ],
        "0.01",
    ),
]

_FEE_RATES = {
    "crypto": "0.07",
    "sports": "0.05",
    "economics": "0.05",
    "culture": "0.05",
    "weather": "0.05",
    "finance": "0.04",
    "politics": "0.04",
    "tech": "0.04",
    "geopolitics": "0",
}

_TICKS = {"0.01": 100, "0.001": 10, "0.005": 50, "0.0025": 25, "0.0001": 1, "0.1": 1000}


def _slugify(text: str) -> str:
    out = []
    for ch in text.lower():
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def _history(rng: random.Random, start_ms: int, end_mid: int, tick: int) -> list[tuple[int, int]]:
    """Hourly points over 30 days ending at ``end_mid``, built backwards in logit space.

    A couple of sharp jumps are planted so that a "cliffs" scanner finds something.
    """
    hours = 30 * 24
    logit = math.log(end_mid / (PRICE_SCALE - end_mid))
    jumps = {rng.randrange(24, hours - 24): rng.choice([-2.0, -1.5, 1.5, 2.0]) for _ in range(2)}
    points: list[tuple[int, int]] = []
    for hour in range(hours + 1):
        t_s = (start_ms - hour * HOUR_MS) // 1000
        p = PRICE_SCALE / (1 + math.exp(-logit))
        price = max(tick, min(PRICE_SCALE - tick, round(p / tick) * tick))
        points.append((t_s, price))
        logit -= rng.gauss(0, 0.04) + jumps.get(hour, 0.0)
        logit = max(-5.0, min(5.0, logit))
    points.reverse()
    return points


class Catalogue:
    """All events and markets of one exchange, with lookups by id."""

    def __init__(self, events: list[Event], *, start_ms: int = 0) -> None:
        self.events = events
        self.start_ms = start_ms
        self.markets: list[Market] = [m for e in events for m in e.markets]
        self._by_condition = {m.condition_id: m for m in self.markets}
        self._by_token = {t: m for m in self.markets for t in m.token_ids}
        self._events = {e.id: e for e in events}

    def market(self, condition_id: str) -> Market | None:
        """The market with this condition id (case-insensitive), or None."""
        return self._by_condition.get(condition_id) or self._by_condition.get(condition_id.lower())

    def market_by_token(self, token_id: str) -> Market | None:
        """The market one of whose tokens has this id, or None."""
        return self._by_token.get(token_id)

    def event(self, event_id: str) -> Event | None:
        """The event with this id, or None."""
        return self._events.get(event_id)

    def event_of(self, market: Market) -> Event:
        """The event a market belongs to."""
        return self._events[market.event_id]

    @classmethod
    def generate(cls, seed: int, start_ms: int) -> Catalogue:
        """Build the seeded catalogue: markets open at ``start_ms``, end hours to months later."""
        rng = random.Random(seed)
        events: list[Event] = []
        gamma_id = 500_000 + rng.randrange(1000)
        for index, (title, category, tags, neg_risk, hours, items, tick_text) in enumerate(_EVENTS):
            event_id = str(20_000 + index * 7 + rng.randrange(7))
            event_slug = _slugify(title)
            end_ms = start_ms + hours * HOUR_MS
            nr_id = _keccak_hex(str(seed), "negrisk", title) if neg_risk else ""
            markets: list[Market] = []
            for name, mid_pct in items:
                question = f"Will {name} win the {title.lower()}?" if neg_risk else name
                condition_id = _keccak_hex(str(seed), "condition", title, name)
                question_id = _keccak_hex(str(seed), "question", title, name)
                tick = _TICKS[tick_text]
                jitter = rng.randrange(-2, 3) * tick
                mid = mid_pct * 100 + jitter
                mid = max(3 * tick, min(PRICE_SCALE - 3 * tick, mid))
                mid -= mid % tick
                gamma_id += 1 + rng.randrange(5)
                slug = _slugify(question)[:80]
                market = Market(
                    condition_id=condition_id,
                    question_id=question_id,
                    gamma_id=str(gamma_id),
                    question=question,
                    slug=slug,
                    description=(
                        f'This market will resolve to "Yes" if {name} '
                        f"{'wins' if neg_risk else 'happens'} as described in '{title}' by "
                        'the end date. Otherwise it resolves to "No". The resolution source is '
                        "the consensus of credible reporting."
                    ),
                    event_id=event_id,
                    category=category,
                    tags=tags,
                    outcomes=("Yes", "No"),
                    token_ids=(
                        _token_id(seed, condition_id, "Yes"),
                        _token_id(seed, condition_id, "No"),
                    ),
                    base_tick=tick,
                    tick=tick,
                    min_order_size=(5 if rng.random() < 0.6 else 10) * AMOUNT_SCALE,
                    neg_risk=neg_risk,
                    neg_risk_market_id=nr_id,
                    fees=FeeParams(Decimal(_FEE_RATES[category]), 1 if rng.random() < 0.7 else 2),
                    rewards=RewardParams(
                        max_spread=Decimal(rng.choice(["3.5", "4.5", "3", "5"])),
                        min_size=rng.choice([20, 50, 100]),
                        daily_rate=Decimal(rng.choice(["5", "10", "25", "50", "100"])),
                    ),
                    start_ms=start_ms - rng.randrange(2, 60) * DAY_MS,
                    end_ms=end_ms,
                    initial_mid=mid,
                    volume=rng.randrange(20_000, 5_000_000) * AMOUNT_SCALE,
                    liquidity=rng.randrange(5_000, 400_000) * AMOUNT_SCALE,
                    image=f"https://polymarket-upload.s3.us-east-2.amazonaws.com/{event_slug}.png",
                    icon=f"https://polymarket-upload.s3.us-east-2.amazonaws.com/{slug[:40]}.png",
                    group_item_title=name if neg_risk else "",
                )
                market.history = _history(rng, start_ms, mid, tick)
                markets.append(market)
            events.append(
                Event(
                    id=event_id,
                    slug=event_slug,
                    title=title,
                    description=f"Markets on: {title}.",
                    category=category,
                    tags=tags,
                    neg_risk=neg_risk,
                    neg_risk_market_id=nr_id,
                    markets=markets,
                    start_ms=min(m.start_ms for m in markets),
                    end_ms=end_ms,
                    image=f"https://polymarket-upload.s3.us-east-2.amazonaws.com/{event_slug}.png",
                )
            )
        return cls(events, start_ms=start_ms)
