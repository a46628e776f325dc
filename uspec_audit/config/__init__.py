"""The audit file: pydantic models, TOML parsing, locations for messages, and the checked-audit value. Imports
no other part of uspec-audit but the plugin API it validates against (checking against the registry and the
disk is :mod:`uspec_audit.validation`)."""

from uspec_audit.config.load import parse_audit
from uspec_audit.config.models import Audit

__all__ = ["Audit", "parse_audit"]
