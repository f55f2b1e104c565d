"""The pmtrader exception tree.

Every error pmtrader raises on purpose derives from one root, so callers can catch
``PmtraderError`` and know they have seen everything the toolkit itself reports::

    PmtraderError
    └── BookIntegrityError             a book cannot be trusted: do not trade on it
        └── StaleFeedError             a market feed went silent or dropped: its books are stale
"""


class PmtraderError(Exception):
    """Root of every error pmtrader raises on purpose."""


class BookIntegrityError(PmtraderError):
    """A book's hash does not match its contents: do not trade on it; fetch a fresh one."""


class StaleFeedError(BookIntegrityError):
    """A market feed went silent or dropped, so its books no longer mirror the venue.

    Raised (or delivered as an event) by the websocket streams; the books come back only from a
    fresh snapshot after the stream reconnects. Do not trade on a book while this stands.

    Attributes:
        asset_ids: The tokens whose books are stale.
        reason: Why: ``"silent"`` (no message within the bound), ``"disconnected"`` or
            ``"inconsistent"`` (the feed contradicted the local book).
    """

    def __init__(self, message: str, *, asset_ids: tuple[str, ...] = (), reason: str = "") -> None:
        super().__init__(message)
        self.asset_ids = asset_ids
        self.reason = reason
