"""The pmtrader exception tree.

Every error pmtrader raises on purpose derives from one root, so callers can catch
``PmtraderError`` and know they have seen everything the toolkit itself reports::

    PmtraderError
"""


class PmtraderError(Exception):
    """Root of every error pmtrader raises on purpose."""
