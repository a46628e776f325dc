"""The one place where errors become messages and exit codes.

0: ran, every contract holds · 1: a contract failed · 2: invalid audit file or
arguments · 3: a model, dataset or plugin failed at run time · 130: interrupted.
Messages are printed with terminal control characters escaped (names and
values in them come from audit files and data).
"""

from __future__ import annotations

import functools
import json
import os
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from uspec_audit.errors import UspecError, printable
from uspec_audit.signals import interrupted

EXIT_OK, EXIT_CONTRACT_FAILED, EXIT_INVALID, EXIT_RUNTIME, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
INTERRUPTED = (
    "interrupted. Finished work units are cached and the previous results are untouched: run the same "
    "command again to resume."
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
_interrupt_reported = False


def _emit(message: str, as_json: bool, code: int, kind: str) -> None:
    if as_json:
        print(json.dumps({"status": "error", "kind": kind, "exit_code": code, "message": message}))
    else:
        stderr.print(f"[bold red]error:[/] {escape(printable(message))}", markup=True, emoji=False)


def report_interrupt(as_json: bool) -> None:
    """Say once that the command was interrupted and how to resume."""
    global _interrupt_reported
    if not _interrupt_reported:
        _interrupt_reported = True
        _emit(INTERRUPTED, as_json, EXIT_INTERRUPTED, "Interrupted")


def interrupt_reported() -> bool:
    return _interrupt_reported


def reports_errors(function):
    """Decorate a command: map known errors to their exit code with a clear message, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json", False))
        try:
            result = function(*args, **kwargs)
        except typer.Exit:
            if interrupted():
                report_interrupt(as_json)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            raise
        except KeyboardInterrupt:
            report_interrupt(as_json)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except UspecError as error:
            if interrupted():  # e.g. a PDF engine killed by the same Ctrl-C
                report_interrupt(as_json)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            _emit(str(error), as_json, error.exit_code, type(error).__name__)
            raise typer.Exit(error.exit_code) from None
        except MemoryError:
            _emit(
                "out of memory. Lower [audit] batch_size, run fewer tests at once (--only), or use a machine "
                "with more memory; the previous results are untouched.",
                as_json,
                EXIT_RUNTIME,
                "MemoryError",
            )
            raise typer.Exit(EXIT_RUNTIME) from None
        except Exception as error:  # an unexpected failure is still a run-time failure, said plainly
            if interrupted():
                report_interrupt(as_json)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            if os.environ.get("USPEC_AUDIT_DEBUG"):
                traceback.print_exc()
            _emit(
                f"unexpected {type(error).__name__}: {error}. Set USPEC_AUDIT_DEBUG=1 for the traceback and "
                f"please report it.",
                as_json,
                EXIT_RUNTIME,
                "InternalError",
            )
            raise typer.Exit(EXIT_RUNTIME) from None
        if interrupted():  # a library swallowed the KeyboardInterrupt
            report_interrupt(as_json)
            raise typer.Exit(EXIT_INTERRUPTED)
        return result

    return wrapper
