"""The reports' error, in a module of its own: every report module may raise it, and the entry point
(:mod:`uspec_audit.report.render`) imports them all, so it cannot live there without an import circle."""

from __future__ import annotations

__all__ = ["ReportError"]


class ReportError(Exception):
    """A report could not be rendered (missing or incomplete results, no PDF engine...).

    The message is meant for the user as is.
    """
