"""Ctrl-C that always ends the command, and always the same way: exit 130, the resume message, no traceback.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens
to be. Libraries do not all let it through: an interrupt that lands in a
finalizer or a callback is printed as "Exception ignored" and swallowed, and a
PDF engine's child process that dies of the same Ctrl-C looks like an ordinary
failure. So the command line's handler also records that an interrupt
happened; a run checks :func:`interrupted` before it commits anything, and the
CLI exits 130 at the end even if a library swallowed the exception.
"""

from __future__ import annotations

import signal
import sys

_interrupted = False


def interrupted() -> bool:
    """Whether Ctrl-C (SIGINT) or SIGTERM arrived since :func:`install`."""
    return _interrupted


def _on_signal(signum, frame) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _unraisable(hook):
    def quiet(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return  # recorded by the handler already; the CLI reports it once
        hook(unraisable)

    return quiet


def install() -> None:
    """Route SIGINT and SIGTERM through the recording handler (the CLI's first act; not for library use)."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
