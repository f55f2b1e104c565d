"""The pmengine exception tree.

Every error pmengine raises on purpose derives from one root::

    PmengineError
"""


class PmengineError(Exception):
    """Root of every error pmengine raises on purpose."""
