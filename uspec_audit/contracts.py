"""Contracts: user bounds on the ensemble statistics, checked after the run (exit code 1 on FAIL).

Bounds (``[tests.contract]``): ``max_sd_ratio`` (every metric), ``min_mean``,
``max_mean``, ``max_sd`` and ``min_worst`` (per metric), ``max_flip_rate``
(contrastive tests). ``min_worst`` bounds the worst member: at least the
bound for a metric where higher is better, at most the bound where lower is
better. ``strata = "each"`` checks every stratum and variant, ``"all"`` only
the whole test.

A contract can never vanish. :func:`uspec_audit.config.contract_check.contract_problems` checks every bound
against the test before anything runs (a metric the test does not compute, a
flip rate on a test without flips, an sd ratio without an iid reference);
at run time :func:`check_contracts` writes a FAIL row, with the reason, for
every bound it cannot evaluate (a statistic that is NaN, a metric with no
summary rows, a missing flips table): an unverifiable bound is not a pass.
"""

from __future__ import annotations

import pandas as pd

from uspec_audit.config.models import StressTest
from uspec_audit.results.catalog import column_names

__all__ = ["COLUMNS", "PER_METRIC", "check_contracts"]

COLUMNS = column_names("contracts")
PER_METRIC = ("min_mean", "max_mean", "max_sd", "min_worst")


def _row(
    where: dict, contract: str, bound: float, observed, ok_when, metric: str | None, reason: str | None = None
) -> dict:
    """One contract row; ``reason`` (or a NaN ``observed``) makes it a FAIL saying why it is unverified."""
    if reason is None and (observed is None or pd.isna(observed)):
        reason = "the statistic could not be computed"
    if reason is not None:
        status, message = "FAIL", f"{contract}: {reason}, so the bound {bound:g} is unverified"
        observed = float("nan")
    else:
        ok = ok_when(float(observed), bound)
        status = "PASS" if ok else "FAIL"
        message = (
            f"{contract}: observed {float(observed):.4g} {'within' if ok else 'violates'} bound {bound:g}"
        )
    return {
        "ensemble": where["ensemble"],
        "test": where["test"],
        "variant": where.get("variant", "none"),
        "stratum": where.get("stratum", "all"),
        "metric": metric,
        "contract": contract,
        "bound": float(bound),
        "observed": float(observed),
        "status": status,
        "message": message,
    }


def _le(observed: float, bound: float) -> bool:
    return observed <= bound


def _ge(observed: float, bound: float) -> bool:
    return observed >= bound


def _ensembles_of(
    test: StressTest, summary: pd.DataFrame, ensembles_of: dict[str, list[str]] | None
) -> list[str]:
    if ensembles_of is not None and test.name in ensembles_of:
        return list(ensembles_of[test.name])
    if test.ensembles:
        return list(test.ensembles)
    return list(dict.fromkeys(summary["ensemble"])) if "ensemble" in summary else []


def check_contracts(
    tests: list[StressTest],
    summary: pd.DataFrame,
    flips: pd.DataFrame | None,
    higher_is_better: dict[str, bool],
    ensembles_of: dict[str, list[str]] | None = None,
    references: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """One row per (bound, ensemble, variant, stratum, metric) with PASS/FAIL; never fewer rows than bounds.

    ``ensembles_of`` maps a test to the ensembles it ran on (default: the test's ``ensembles``, else every
    ensemble in the summary), so a test that produced no rows for an ensemble still gets FAIL rows.
    ``references``: the tests whose kind makes them references (``iid``): their ``max_sd_ratio`` bounds
    their strata only (the whole test's ratio is 1 by definition).
    """
    rows: list[dict] = []
    for test in tests:
        contract = test.contract
        if contract is None:
            continue
        for ensemble in _ensembles_of(test, summary, ensembles_of):
            whole = {"ensemble": ensemble, "test": test.name}
            part = summary[(summary["test"] == test.name) & (summary["ensemble"] == ensemble)]
            if contract.strata == "all":
                part = part[part["stratum"] == "all"]
            if contract.max_sd_ratio is not None:
                ratio_rows = part if test.name not in references else part[part["stratum"] != "all"]
                if ratio_rows.empty:
                    rows.append(
                        _row(
                            whole,
                            "max_sd_ratio",
                            contract.max_sd_ratio,
                            None,
                            _le,
                            None,
                            reason="the test produced no statistics for this ensemble",
                        )
                    )
                for _, row in ratio_rows.iterrows():
                    rows.append(
                        _row(
                            row,
                            "max_sd_ratio",
                            contract.max_sd_ratio,
                            row.get("sd_ratio"),
                            _le,
                            row["metric"],
                        )
                    )
            for bound_name, column in (
                ("min_mean", "mean"),
                ("max_mean", "mean"),
                ("max_sd", "sd"),
                ("min_worst", "worst_value"),
            ):
                for metric, bound in getattr(contract, bound_name).items():
                    if bound_name == "min_worst":
                        ok_when = _ge if higher_is_better.get(metric, True) else _le
                    else:
                        ok_when = _ge if bound_name == "min_mean" else _le
                    metric_rows = part[part["metric"] == metric]
                    if metric_rows.empty:
                        computed = sorted(set(part["metric"]))
                        rows.append(
                            _row(
                                whole,
                                bound_name,
                                bound,
                                None,
                                ok_when,
                                metric,
                                reason=f"the test has no '{metric}' statistics for this ensemble "
                                f"(it has: {', '.join(computed) or 'none'})",
                            )
                        )
                    for _, row in metric_rows.iterrows():
                        rows.append(_row(row, bound_name, bound, row.get(column), ok_when, metric))
            if contract.max_flip_rate is not None:
                rates = pd.DataFrame()
                if flips is not None and len(flips):
                    rates = flips[
                        (flips["test"] == test.name)
                        & (flips["ensemble"] == ensemble)
                        & (flips["kind"] == "rate")
                    ]
                if rates.empty:
                    reason = (
                        "no flips table was produced"
                        if flips is None or not len(flips)
                        else "the flips table has no flip rates for this test and ensemble"
                    )
                    rows.append(
                        _row(
                            whole,
                            "max_flip_rate",
                            contract.max_flip_rate,
                            None,
                            _le,
                            "flip_rate",
                            reason=reason,
                        )
                    )
                for _, row in rates.iterrows():
                    where = {
                        "ensemble": ensemble,
                        "test": test.name,
                        "variant": row["variant"],
                        "stratum": "all",
                    }
                    rows.append(
                        _row(
                            where,
                            "max_flip_rate",
                            contract.max_flip_rate,
                            row["value"],
                            _le,
                            f"flip_rate[{row['member']}]",
                        )
                    )
    return pd.DataFrame(rows, columns=COLUMNS)
