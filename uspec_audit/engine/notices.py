"""Warnings raised deep inside a run (on the prefetch thread, inside a component) that the run reports.

A run opens :func:`collecting`; :func:`notice` adds a message to every open
collection (once). Outside a run, a notice becomes a Python warning, so a
library user still sees it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_open: list[list[str]] = []


class UspecWarning(UserWarning):
    """A notice raised outside a run."""


@contextmanager
def collecting() -> Iterator[list[str]]:
    """Collect the notices raised until the block ends, from any thread."""
    found: list[str] = []
    with _lock:
        _open.append(found)
    try:
        yield found
    finally:
        with _lock:
            _open.remove(found)


def notice(message: str) -> None:
    """Report ``message`` to every open collection (each message once per collection)."""
    with _lock:
        targets = list(_open)
        for found in targets:
            if message not in found:
                found.append(message)
    if not targets:
        warnings.warn(message, UspecWarning, stacklevel=2)
