"""The analysis settings, defined with the audit file's other tables in :mod:`uspec_audit.config.analysis`
(the configuration sits below the statistics it configures)."""

from uspec_audit.config.analysis import AnalysisSettings

__all__ = ["AnalysisSettings"]
