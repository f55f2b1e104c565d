"""Which build is running: the mypyc-compiled wheel or plain Python (the editable dev install)."""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES

COMPILED_MODULES = ("units", "book", "order", "position", "risk", "core", "dryrun", "replay")


def build_kind() -> str:
    """``"compiled"`` when every hot-path module was loaded from a mypyc extension, else
    ``"interpreted"`` (``"mixed"`` would mean a broken install and is reported as such)."""
    import importlib

    loaded = [
        str(getattr(importlib.import_module(f"pmengine.{name}"), "__file__", ""))
        for name in COMPILED_MODULES
    ]
    compiled = [path.endswith(tuple(EXTENSION_SUFFIXES)) for path in loaded]
    if all(compiled):
        return "compiled"
    if not any(compiled):
        return "interpreted"
    return "mixed"
