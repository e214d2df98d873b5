"""Starting helper processes safely from any host, the Streamlit server included."""

from __future__ import annotations

import multiprocessing
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["plain_main", "spawn_context"]


def spawn_context():
    """Spawned, not forked: a fresh interpreter shares no threads or OpenVINO state with the parent."""
    return multiprocessing.get_context("spawn")


@contextmanager
def plain_main() -> Iterator[None]:
    """Hide a script run as `__main__` (Streamlit's app) from a spawned child while it starts.

    Spawn re-runs the parent's `__main__` file in the child; under Streamlit that is app.py, which would
    run the whole app inside every helper process.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None):
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
