"""Import what the later stages need on a thread while the members run, so the imports overlap inference.

pandas, scipy.special and the statistics modules take a good part of a second
to import; paid after inference it is pure overhead, paid on a thread during
inference it mostly hides behind the sessions' work (the statistics do not
import scipy.stats at all: :mod:`uspec_audit.stats.distributions`). A module
being imported on the warm-up thread must not also be imported by another
thread in a different order (two import locks taken in opposite orders
deadlock), so code that needs one of these modules during
inference calls :func:`wait` first.
"""

from __future__ import annotations

import importlib
import threading

#: What the metric, statistics and differences stages import first.
ANALYSIS_MODULES = (
    "uspec_audit.metrics.outputs",
    "uspec_audit.stats.analyze",
    "uspec_audit.stats.differences",
)

_thread: threading.Thread | None = None


def start(modules: tuple[str, ...] = ANALYSIS_MODULES) -> None:
    """Begin importing ``modules`` on a daemon thread (once per process); failures are left to the real importer."""
    global _thread
    if _thread is not None:
        return

    def target() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - whoever really imports it reports the error
                return

    _thread = threading.Thread(target=target, name="uspec-audit-warm-imports", daemon=True)
    _thread.start()


def wait() -> None:
    """Block until the warm-up imports are done (no-op when none was started)."""
    if _thread is not None:
        _thread.join()
