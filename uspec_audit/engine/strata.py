"""Strata of a stratified test: one attribute or a combination of attributes."""

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
        raise RunError(f"{where}: {int(missing.sum())} examples have no value for the stratification attribute(s) "
                       f"{by}; every example needs a value (fill them or drop those rows).")
    codes = frame.groupby(by, sort=True).ngroup().to_numpy()
    keys = frame.drop_duplicates().sort_values(by).itertuples(index=False, name=None)
    result = []
    for code, values in enumerate(keys):
        mask = codes == code
        result.append((stratum_label(by, values), mask))
    return result
