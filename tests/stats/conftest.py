"""Fixtures for the stats tests: synthetic ensembles (real arrays, no mocks)."""

from __future__ import annotations

import pytest
from synthetic_audit import SyntheticAudit


@pytest.fixture
def synthetic_audit() -> SyntheticAudit:
    return SyntheticAudit()


@pytest.fixture(scope="module")
def synthetic_audit_module() -> SyntheticAudit:
    return SyntheticAudit()
