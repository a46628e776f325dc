"""Errors that the CLI maps to exit codes (one place: :mod:`uspec_audit.cli.errors`)."""

from __future__ import annotations


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
