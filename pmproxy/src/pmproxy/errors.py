"""The pmproxy exception tree.

Every error pmproxy raises on purpose derives from one root::

    PmproxyError
"""


class PmproxyError(Exception):
    """Root of every error pmproxy raises on purpose."""
