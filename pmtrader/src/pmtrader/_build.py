"""Which build is running: the mypyc-compiled wheel or plain Python (the editable dev install).

pmtrader's release wheels compile the websocket book path (:data:`COMPILED_MODULES`) with mypyc;
the sdist and the editable install run it as plain Python. ``pmtrader --version`` reports which.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES

__all__ = ["COMPILED_MODULES", "build_kind"]

#: The modules the wheel's mypyc hook compiles (``pmtrader/pyproject.toml``).
COMPILED_MODULES = ("_wire_units", "_book_wire", "book")


def build_kind() -> str:
    """``"compiled"`` when every book-path module was loaded from a mypyc extension, else
    ``"interpreted"`` (``"mixed"`` would mean a broken install and is reported as such)."""
    import importlib

    loaded = [
        str(getattr(importlib.import_module(f"pmtrader.{name}"), "__file__", ""))
        for name in COMPILED_MODULES
    ]
    compiled = [path.endswith(tuple(EXTENSION_SUFFIXES)) for path in loaded]
    if all(compiled):
        return "compiled"
    if not any(compiled):
        return "interpreted"
    return "mixed"
