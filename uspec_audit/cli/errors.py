"""The one place where errors become messages and exit codes.

0: ran, every contract holds · 1: a contract failed · 2: invalid audit file or
arguments · 3: a model, dataset or plugin failed at run time · 130: interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from uspec_audit.errors import UspecError

EXIT_OK, EXIT_CONTRACT_FAILED, EXIT_INVALID, EXIT_RUNTIME, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _emit(message: str, as_json: bool, code: int, kind: str) -> None:
    if as_json:
        print(json.dumps({"status": "error", "kind": kind, "exit_code": code, "message": message}))
    else:
        stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, emoji=False)


def reports_errors(function):
    """Decorate a command: map known errors to their exit code with a clear message, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json", False))
        try:
            return function(*args, **kwargs)
        except typer.Exit:
            raise
        except UspecError as error:
            kind = type(error).__name__
            _emit(str(error), as_json, error.exit_code, kind)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            _emit("interrupted. Finished work units are cached: run the same command again to resume.", as_json,
                  EXIT_INTERRUPTED, "Interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:  # an unexpected failure is still a run-time failure, said plainly
            if os.environ.get("USPEC_AUDIT_DEBUG"):
                traceback.print_exc()
            _emit(f"unexpected {type(error).__name__}: {error}. Set USPEC_AUDIT_DEBUG=1 for the traceback and "
                  f"please report it.", as_json, EXIT_RUNTIME, "InternalError")
            raise typer.Exit(EXIT_RUNTIME) from None

    return wrapper
