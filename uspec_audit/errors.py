"""Errors that the CLI maps to exit codes (one place: :mod:`uspec_audit.cli.errors`)."""

from __future__ import annotations

import errno
import re


class UspecError(Exception):
    """Base class of every error the tool reports to a user without a traceback."""

    exit_code = 3


class AuditFileError(UspecError):
    """The audit file or the command-line arguments are invalid (exit code 2)."""

    exit_code = 2


class RunError(UspecError):
    """A model, dataset or plugin failed at run time (exit code 3)."""

    exit_code = 3


class PluginError(RunError):
    """A plugin failed to load, clashed with another, or raised inside a hook."""


class OutputError(RunError):
    """Results could not be written (disk full, file too large, permissions changed during the run)."""


# C0 controls other than tab and newline, DEL, and C1 controls: they move the cursor, recolour or
# retitle a terminal. Names and values from data files reach messages, so they are shown escaped.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\xNN`` escapes (tab and newline kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def describe_os_error(error: OSError) -> str:
    """A short reason for a failed write, with what to do for the common cases."""
    reason = error.strerror or str(error)
    if error.errno in _NO_SPACE:
        return f"{reason} (the disk or quota is full, or a file-size limit was reached); free space and run again"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{reason} (the folder is not writable)"
    return reason
