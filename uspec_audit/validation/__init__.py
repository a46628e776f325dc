"""Checking an audit against the plugin registry and the disk (names, paths, the data's columns, the members'
inputs, each test's kind): :func:`load_audit` reads, checks and returns the immutable
:class:`~uspec_audit.config.checked.CheckedAudit` every command runs."""

from uspec_audit.validation.check import check_audit, load_audit

__all__ = ["check_audit", "load_audit"]
