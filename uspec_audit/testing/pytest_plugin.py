"""pytest fixtures of :mod:`uspec_audit.testing`, registered for every pytest run where uspec-audit is installed
(entry point ``pytest11``). Importing this module imports nothing else of uspec-audit."""

from __future__ import annotations

import pytest


@pytest.fixture
def uspec_tiny_audit(tmp_path):
    """A :class:`uspec_audit.testing.TinyAudit` (image modality) in a fresh temporary folder."""
    from uspec_audit.testing.world import TinyAudit

    return TinyAudit(tmp_path / "tiny-audit")


@pytest.fixture
def uspec_tiny_tabular_audit(tmp_path):
    """A :class:`uspec_audit.testing.TinyAudit` with tabular features ``f0``..``f5``."""
    from uspec_audit.testing.world import TinyAudit

    return TinyAudit(tmp_path / "tiny-tabular-audit", modality="tabular")
