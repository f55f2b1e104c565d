"""The pmengine exception tree.

Every error pmengine raises on purpose derives from one root::

    PmengineError
    ├── ConfigError            a setting is missing or malformed (names the variable)
    ├── OrderError             an order lifecycle rule was broken
    │   ├── DuplicateIntentError   the intent already has a working order
    │   └── IllegalTransitionError an order update does not fit its current state
    ├── JournalError           the journal cannot be opened or is inconsistent
    ├── ReconciliationError    venue and journal disagree in a way the engine cannot explain
    ├── GatewayError           the venue (or the dry-run gateway) refused or failed a request
    │   └── AmbiguousSubmitError   the submit may or may not have reached the venue
    └── StrategyError          a strategy could not be loaded or configured
"""

from __future__ import annotations


class PmengineError(Exception):
    """Root of every error pmengine raises on purpose."""


class ConfigError(PmengineError):
    """A setting is missing or malformed; the message names the variable and what it must be."""


class OrderError(PmengineError):
    """An order lifecycle rule was broken."""


class DuplicateIntentError(OrderError):
    """The intent already has a working order, so a second one is refused."""


class IllegalTransitionError(OrderError):
    """An order update does not fit the order's current state."""


class JournalError(PmengineError):
    """The journal cannot be opened or holds something inconsistent."""


class ReconciliationError(PmengineError):
    """The venue and the journal disagree in a way the engine cannot explain."""


class GatewayError(PmengineError):
    """The venue (or the dry-run gateway) refused or failed a request."""


class AmbiguousSubmitError(GatewayError):
    """A submit timed out or the connection dropped: the venue may or may not hold the order."""


class StrategyError(PmengineError):
    """A strategy could not be loaded or configured."""
