"""What a finished run produced (:class:`RunOutcome`): a module of its own, so the write stage that builds it
and the run that returns it do not import each other."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["RunOutcome"]


@dataclass
class RunOutcome:
    """What a finished run produced."""

    output: Path
    tables: MutableMapping[str, pd.DataFrame]  # engine.stats_cache.StoredTables: read when asked for
    manifest: dict
    warnings: list[str]
    reports: list[Path] = field(default_factory=list)
    report_warnings: list[str] = field(default_factory=list)

    @property
    def contracts_failed(self) -> int:
        contracts = self.tables.get("contracts")
        return 0 if contracts is None or contracts.empty else int((contracts["status"] == "FAIL").sum())
