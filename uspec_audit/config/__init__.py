"""The audit file: pydantic models, TOML loading and diagnostics."""

from uspec_audit.config.load import load_audit
from uspec_audit.config.models import Audit

__all__ = ["Audit", "load_audit"]
