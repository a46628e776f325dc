"""Strata of a test: one attribute or a combination of attributes (a kind's :class:`~uspec_audit.Strata`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uspec_audit.errors import RunError

ALL = "all"


def stratum_label(attributes: list[str], values: tuple) -> str:
    """``"fitzpatrick=V"`` or ``"fitzpatrick=V;camera=cam-a"``."""
    return ";".join(f"{a}={v}" for a, v in zip(attributes, values, strict=True))


def strata(attributes: dict[str, np.ndarray], by: list[str], where: str) -> list[tuple[str, np.ndarray]]:
    """``[(label, boolean mask)]`` for every combination of ``by`` values present, in sorted order."""
    if not by:
        return []
    frame = pd.DataFrame({a: attributes[a] for a in by})
    missing = frame.isna().any(axis=1)
    if missing.any():
        raise RunError(
            f"{where}: {int(missing.sum())} examples have no value for the stratification attribute(s) "
            f"{by}; every example needs a value (fill them or drop those rows)."
        )
    codes = frame.groupby(by, sort=True).ngroup().to_numpy()
    keys = frame.drop_duplicates().sort_values(by).itertuples(index=False, name=None)
    result = []
    for code, values in enumerate(keys):
        mask = codes == code
        result.append((stratum_label(by, values), mask))
    return result


def _looks_like_id(values: pd.Series) -> bool:
    """Nearly one value per example: stratifying by it gives strata too small to say anything."""
    n = len(values)
    return n >= 20 and values.nunique(dropna=True) > n // 2


def check_strata(loaded, plan, metadata: dict[str, pd.DataFrame]) -> list[str]:
    """Refuse a stratified test whose ``by`` gives more than its ``max_strata`` strata (counted on the
    metadata, before any model runs: pairwise tables grow with the square of the count); return warnings
    for attributes that look like ids."""
    from uspec_audit.errors import AuditFileError

    warnings = []
    for test_run in plan.tests:
        test, split = test_run.config, test_run.strata
        by = list(split.by) if split is not None else []
        frame = metadata.get(test.dataset)
        if not by or frame is None or any(a not in frame.columns for a in by):
            continue
        count = len(frame[by].drop_duplicates())
        if count > split.max_count:
            counts = ", ".join(f"'{a}' has {frame[a].nunique(dropna=True):,}" for a in by)
            raise AuditFileError(
                f"{loaded.where('tests', test_run.index, 'by')}: test '{test.name}': stratifying by {by} gives "
                f"{count:,} strata ({counts} distinct values), more than max_strata = {split.max_count}. Is it an "
                f"id or a continuous value? Stratify by a coarser attribute (e.g. bands), or raise max_strata "
                f"for this test if you mean it."
            )
        for attribute in by:
            if _looks_like_id(frame[attribute]):
                warnings.append(
                    f"test '{test.name}': attribute '{attribute}' has {frame[attribute].nunique():,} "
                    f"distinct values for {len(frame):,} examples; it looks like an id, and strata "
                    f"of one or two examples say nothing about spread."
                )
    return warnings
