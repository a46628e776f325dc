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
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from uspec_audit.report.errors import ReportError
from uspec_audit.report.numbers import MISSING, column_format, fmt_p, isnum  # noqa: F401 - shared with the renderers
from uspec_audit.results.catalog import TABLES, report_tables

REQUIRED = report_tables("required")  # (metrics, summary): from the catalog of result tables
OPTIONAL = report_tables("optional")
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
        references = self.reference_tests()
        return sorted(references)[0] if references else "iid"

    def reference_tests(self) -> frozenset[str]:
        """The tests whose kind is a reference (:func:`reference_tests`)."""
        return reference_tests(self.tests)

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
        raise ReportError(
            f"{path} has no manifest.json: not a uspec-audit results folder, or the run did not finish"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ReportError(f"{manifest_path} is not a JSON object")
    status = manifest.get("status")
    if status != "complete":
        raise ReportError(
            f"{path} holds an incomplete run (manifest status is {status!r}, "
            "expected 'complete'); re-run the audit to finish it"
        )
    tables: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    # the catalog's tables, then any other (a plugin kind's own) for plugin sections
    known = {TABLES[name].file for name in (*REQUIRED, *OPTIONAL)}
    others = sorted(f.stem for f in path.glob("*.parquet") if f.name not in known)
    for name in (*REQUIRED, *OPTIONAL, *others):
        file = path / (TABLES[name].file if name in TABLES else f"{name}.parquet")
        if not file.is_file():
            if name in REQUIRED:
                raise ReportError(f"{path} is incomplete: {file.name} is missing")
            continue
        try:
            tables[name] = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            if name in REQUIRED:
                raise ReportError(f"cannot read {file}: {exc}") from exc
            problems.append(
                f"{file.name} could not be read ({type(exc).__name__}); its sections are left out"
            )
    for name in REQUIRED:
        if tables[name].empty:
            raise ReportError(f"{path} is incomplete: {name}.parquet has no rows")
    files = []
    for file in sorted(path.iterdir()):
        if file.is_file():
            files.append((file.name, file.stat().st_size, _sha256(file)))
    return Results(
        path=path,
        manifest=manifest,
        manifest_sha256=_sha256(manifest_path),
        tables=tables,
        problems=problems,
        files=files,
    )


# --- small helpers shared by the renderers ------------------------------------


def fmt(x: Any, digits: int = 3) -> str:
    """A single number (a value outside any table column); an em dash for missing."""
    if not isnum(x):
        return MISSING
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    return column_format([x], sig=digits)(x)


def cell_label(test: str, variant: Any, stratum: Any) -> str:
    """A short label for a (test, variant, stratum) cell."""
    label = str(test)
    if (
        variant is not None
        and not (isinstance(variant, float) and math.isnan(variant))
        and str(variant) != "none"
    ):
        label += f" · {variant}"
    if (
        stratum is not None
        and not (isinstance(stratum, float) and math.isnan(stratum))
        and str(stratum) != "all"
    ):
        label += f" · {stratum}"
    return label


def verdict_rank(v: Any) -> int:
    """Severity order for picking the worst verdict of several rows."""
    order = {"underspecified": 3, "degraded": 2, "insufficient": 1, "stable": 0}
    return order.get(str(v), -1)


def p_column(summary: pd.DataFrame) -> tuple[str, str]:
    """(column, label) of the p-value the reports show: the BH-adjusted excess p that drives the verdict,
    else (older results folders) the adjusted or raw permutation p of "members differ at all"."""
    for column, label in (
        ("excess_p_adj", "excess p (adj.)"),
        ("perm_p_adj", "perm. p (adj.)"),
        ("perm_p", "perm. p"),
    ):
        if column in summary.columns and summary[column].notna().any():
            return column, label
    return "perm_p", "perm. p"


def has_corrected(summary: pd.DataFrame) -> bool:
    """Whether the summary carries the corrected sd ratio (results of this version)."""
    return "sd_ratio_corrected" in summary.columns and summary["sd_ratio_corrected"].notna().any()


SUMMARY_FORMATS = {  # quantity: (columns whose values decide its format, sig, min_sig)
    "mean": (("mean", "mean_ci_low", "mean_ci_high", "worst_value", "best_value"), 3, 2),
    "sd": (("sd",), 2, 2),
    "sd_narrow": (("sd",), 2, 1),  # the terminal's: one digit fewer on the smallest sd, to fit 80 columns
    "ratio": (("sd_ratio",), 3, 2),
    "corrected": (("sd_ratio_corrected", "sd_ratio_corrected_ci_low", "sd_ratio_corrected_ci_high"), 2, 2),
    "disagreement": (("disagreement",), 2, 1),
}


def summary_formats(summary: pd.DataFrame) -> dict[str, Any]:
    """One formatter per summary quantity, decided by every row of the results folder, so the terminal, HTML
    and Markdown reports show a value with the same digits, and a column never switches format."""
    out = {}
    for name, (columns, sig, min_sig) in SUMMARY_FORMATS.items():
        present = [summary[c] for c in columns if c in summary.columns]
        values = pd.to_numeric(pd.concat(present), errors="coerce") if present else pd.Series(dtype=float)
        out[name] = column_format(values, sig=sig, min_sig=min_sig)
    out["rho"] = column_format([-1.0, 1.0], sig=3)  # a correlation: always two decimals
    return out


def reference_tests(tests: list[dict]) -> frozenset[str]:
    """The tests (the manifest's ``tests`` entries) whose kind is a reference (``TestKindSpec.reference``);
    results written before the manifest said so name the built-in reference kind, ``iid``."""
    if tests and all("reference" in t for t in tests):
        return frozenset(str(t["name"]) for t in tests if t.get("reference"))
    return frozenset(str(t["name"]) for t in tests if t.get("kind") == "iid")


def headline_rows(
    summary: pd.DataFrame,
    count: int | None = None,
    flagged_only: bool = False,
    references: frozenset[str] | None = None,
) -> pd.DataFrame:
    """Cells where members disagree most, ranked by the lower 95% bound of the corrected sd ratio (the raw
    ratio in older results); never an ``insufficient`` cell (too few members for a verdict, so a 2-member
    ensemble never leads a report) nor the iid reference itself."""
    rows = summary
    if "verdict" in rows.columns:
        rows = rows[rows["verdict"].astype(str) != "insufficient"]
        if flagged_only:
            rows = rows[rows["verdict"].isin(["underspecified", "degraded"])]
    key = (
        "sd_ratio_corrected_ci_low"
        if "sd_ratio_corrected_ci_low" in rows.columns and rows["sd_ratio_corrected_ci_low"].notna().any()
        else "sd_ratio"
    )
    if key not in rows.columns:
        return rows.iloc[0:0]
    if not flagged_only:
        rows = rows.dropna(subset=[key])
    if (
        references is not None and "stratum" in rows.columns
    ):  # the reference tests' own rows (Results.reference_tests)
        rows = rows[~(rows["test"].isin(references) & (rows["stratum"] == "all"))]
    rows = rows.sort_values(key, ascending=False, kind="stable", na_position="last")
    return rows if count is None else rows.head(count)


IDENTIFIER_NAME = re.compile(
    r"(^|[_\-. ])(id|ids|uuid|guid|key|index|idx)$|^(id|uuid|guid)([_\-. ]|$)", re.IGNORECASE
)


def identifier_columns(results: Results, test: str) -> set[str]:
    """Columns of a test's dataset that identify examples rather than describe them: the dataset's ``id``,
    the ``link`` of every contrastive test on the same dataset (read from the audit text in the manifest),
    and attributes whose name says id/uuid/key. Figures never treat them as attributes."""
    names: set[str] = set()
    text = (results.manifest.get("audit") or {}).get("text")
    try:
        audit = tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError:
        audit = {}
    dataset = next((t.get("dataset") for t in results.tests if t.get("name") == test), None)
    for entry in audit.get("tests") or []:
        if entry.get("name") == test:
            dataset = entry.get("dataset", dataset)
    config = (audit.get("datasets") or {}).get(dataset) or {}
    if config.get("id"):
        names.add(str(config["id"]))
    for entry in audit.get("tests") or []:
        if entry.get("dataset") == dataset and entry.get("link"):
            names.add(str(entry["link"]))
    for attribute in config.get("attributes") or []:
        if IDENTIFIER_NAME.search(str(attribute)):
            names.add(str(attribute))
    return names


def is_identifier(name: Any, identifiers: set[str]) -> bool:
    """Whether an attribute identifies examples: one of ``identifiers`` or named like one (``lesion_id``)."""
    return str(name) in identifiers or bool(IDENTIFIER_NAME.search(str(name)))
