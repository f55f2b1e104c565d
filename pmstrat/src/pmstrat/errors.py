"""The pmstrat exception tree.

Every error pmstrat raises on purpose derives from one root::

    PmstratError
"""


class PmstratError(Exception):
    """Root of every error pmstrat raises on purpose."""
