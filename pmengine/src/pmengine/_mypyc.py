"""``mypyc_attr`` for the plain-Python build, without a runtime dependency on mypy_extensions.

The compiled modules import the real decorator under ``TYPE_CHECKING`` (mypyc reads it while
compiling and leaves no call to it in the extension) and this stand-in otherwise, so the
interpreted install imports nothing that pmengine does not depend on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[T], T]:
    """Return the class unchanged (the attributes only mean something to mypyc)."""
    return _same


def _same(cls: T) -> T:
    return cls
