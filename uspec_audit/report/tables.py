"""Read a results folder (manifest + Parquet tables) for the file reports.

Only ``manifest.json`` (with status ``"complete"``), ``metrics.parquet`` and
``summary.parquet`` are required. Every other table is optional: a report
section asks :meth:`Results.table` for the columns it needs and is left out when
they are absent.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from uspec_audit.report.render import ReportError

REQUIRED = ("metrics", "summary")
OPTIONAL = ("contracts", "correlations", "calibration", "pca", "marginalization", "rex", "flips", "disagreement")
VERDICTS = ("underspecified", "degraded", "stable", "insufficient")


@dataclass
class Results:
    """A loaded results folder."""

    path: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    tables: dict[str, pd.DataFrame]
    problems: list[str] = field(default_factory=list)  # optional tables that could not be read
    files: list[tuple[str, int, str]] = field(default_factory=list)  # (name, bytes, sha256)

    def table(self, name: str, *columns: str) -> pd.DataFrame | None:
        """The table ``name`` if it exists, is non-empty and has all ``columns``; else None."""
        df = self.tables.get(name)
        if df is None or df.empty or any(c not in df.columns for c in columns):
            return None
        return df

    # --- manifest helpers -------------------------------------------------
    @property
    def title(self) -> str:
        audit = self.manifest.get("audit") or {}
        return str(audit.get("title") or audit.get("name") or "Underspecification audit")

    @property
    def ensembles(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("ensembles") or [])

    @property
    def tests(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("tests") or [])

    def reference(self, ensemble: str) -> str:
        """The iid reference test of an ensemble."""
        for ens in self.ensembles:
            if ens.get("name") == ensemble and ens.get("reference"):
                return str(ens["reference"])
        for t in self.tests:
            if t.get("kind") == "iid":
                return str(t["name"])
        return "iid"

    def test_names(self) -> list[str]:
        """Tests in audit order, then any that appear only in the summary."""
        names = [str(t["name"]) for t in self.tests if "name" in t]
        summary = self.tables.get("summary")
        if summary is not None and "test" in summary.columns:
            names += [t for t in summary["test"].drop_duplicates() if t not in names]
        return names

    def test_info(self, name: str) -> dict[str, Any]:
        for t in self.tests:
            if t.get("name") == name:
                return t
        summary = self.tables.get("summary")
        kind = "unknown"
        if summary is not None and {"test", "kind"} <= set(summary.columns):
            kinds = summary.loc[summary["test"] == name, "kind"]
            if len(kinds):
                kind = str(kinds.iloc[0])
        return {"name": name, "kind": kind}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_results(path: Path) -> Results:
    """Load a results folder; raise :class:`ReportError` when it is missing or incomplete."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"results folder not found: {path}")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise ReportError(f"{path} has no manifest.json: not a uspec-audit results folder, "
                          "or the run did not finish")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ReportError(f"{manifest_path} is not a JSON object")
    status = manifest.get("status")
    if status != "complete":
        raise ReportError(f"{path} holds an incomplete run (manifest status is {status!r}, "
                          "expected 'complete'); re-run the audit to finish it")
    tables: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    for name in REQUIRED + OPTIONAL:
        file = path / f"{name}.parquet"
        if not file.is_file():
            if name in REQUIRED:
                raise ReportError(f"{path} is incomplete: {file.name} is missing")
            continue
        try:
            tables[name] = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            if name in REQUIRED:
                raise ReportError(f"cannot read {file}: {exc}") from exc
            problems.append(f"{file.name} could not be read ({type(exc).__name__}); its sections are left out")
    for name in REQUIRED:
        if tables[name].empty:
            raise ReportError(f"{path} is incomplete: {name}.parquet has no rows")
    files = []
    for file in sorted(path.iterdir()):
        if file.is_file():
            files.append((file.name, file.stat().st_size, _sha256(file)))
    return Results(path=path, manifest=manifest, manifest_sha256=_sha256(manifest_path),
                   tables=tables, problems=problems, files=files)


# --- small helpers shared by the renderers ------------------------------------

def isnum(x: Any) -> bool:
    try:
        return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)
    except (TypeError, ValueError):
        return False


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a table cell; an em dash for missing."""
    if not isnum(x):
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    x = float(x)
    if x != 0 and (abs(x) < 10 ** -digits or abs(x) >= 10 ** 6):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}f}"


def fmt_p(p: Any) -> str:
    if not isnum(p):
        return "—"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def cell_label(test: str, variant: Any, stratum: Any) -> str:
    """A short label for a (test, variant, stratum) cell."""
    label = str(test)
    if isnum(variant) and str(variant) != "none":
        label += f" · {variant}"
    if isnum(stratum) and str(stratum) != "all":
        label += f" · {stratum}"
    return label


def verdict_rank(v: Any) -> int:
    """Severity order for picking the worst verdict of several rows."""
    order = {"underspecified": 3, "degraded": 2, "insufficient": 1, "stable": 0}
    return order.get(str(v), -1)
