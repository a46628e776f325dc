"""Contracts: user bounds on the ensemble statistics, checked after the run (exit code 1 on FAIL).

Bounds (``[tests.contract]``): ``max_sd_ratio`` (every metric), ``min_mean``,
``max_mean``, ``max_sd`` and ``min_worst`` (per metric), ``max_flip_rate``
(contrastive tests). ``min_worst`` bounds the worst member: at least the
bound for a metric where higher is better, at most the bound where lower is
better. ``strata = "each"`` checks every stratum and variant, ``"all"`` only
the whole test.

A contract can never vanish. :func:`contract_problems` checks every bound
against the test before anything runs (a metric the test does not compute, a
flip rate on a test without flips, an sd ratio without an iid reference);
at run time :func:`check_contracts` writes a FAIL row, with the reason, for
every bound it cannot evaluate (a statistic that is NaN, a metric with no
summary rows, a missing flips table): an unverifiable bound is not a pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from uspec_audit.config.models import Ensemble, StressTest
from uspec_audit.results.catalog import column_names

COLUMNS = column_names("contracts")
PER_METRIC = ("min_mean", "max_mean", "max_sd", "min_worst")


def computed_metrics(test: StressTest, ensemble: Ensemble) -> list[str]:
    """The metrics a test computes for an ensemble: the test's list, else the task's defaults."""
    from uspec_audit.config.check import DEFAULT_METRICS

    return list(test.metrics) if test.metrics else list(DEFAULT_METRICS[ensemble.task])


def contract_problems(test: StressTest, ensembles: dict[str, Ensemble], reference: dict[str, str | None],
                      where: Callable[..., str]) -> list[str]:
    """Every bound of ``test.contract`` that could not be evaluated, as messages naming file:line.

    ``ensembles`` are the test's ensembles, ``reference`` maps each to its iid reference test,
    ``where(*key)`` gives ``file:line`` of a key under the test.
    """
    from uspec_audit.config.load import did_you_mean

    contract = test.contract
    if contract is None:
        return []
    label = f"test '{test.name}'"
    problems: list[str] = []
    for bound in PER_METRIC:
        for metric in getattr(contract, bound):
            for name, ensemble in ensembles.items():
                known = computed_metrics(test, ensemble)
                if metric not in known:
                    source = "its `metrics`" if test.metrics else f"the {ensemble.task} defaults"
                    problems.append(
                        f"{where('contract', bound, metric)}: {label}: contract {bound} bounds metric '{metric}', "
                        f"which the test does not compute for ensemble '{name}'.{did_you_mean(metric, known)} "
                        f"It computes ({source}): {', '.join(known)}; add '{metric}' to the test's `metrics` or "
                        f"fix the name.")
                    break
    if contract.max_flip_rate is not None and test.kind != "contrastive":
        problems.append(f"{where('contract', 'max_flip_rate')}: {label}: max_flip_rate bounds the label flips of a "
                        f"contrastive test; this test is '{test.kind}' and has no flips.")
    if contract.max_sd_ratio is not None:
        if test.kind == "iid":
            problems.append(f"{where('contract', 'max_sd_ratio')}: {label}: max_sd_ratio compares a test's spread "
                            f"with the iid reference's; on the iid test itself the ratio is 1 by definition.")
        else:
            missing = [name for name in ensembles if reference.get(name) is None]
            if missing:
                problems.append(f"{where('contract', 'max_sd_ratio')}: {label}: max_sd_ratio needs an iid "
                                f"reference test, and ensemble(s) {missing} have none (add an iid test or set "
                                f"`reference` in the ensemble table).")
    return problems


def _row(where: dict, contract: str, bound: float, observed, ok_when, metric: str | None,
         reason: str | None = None) -> dict:
    """One contract row; ``reason`` (or a NaN ``observed``) makes it a FAIL saying why it is unverified."""
    if reason is None and (observed is None or pd.isna(observed)):
        reason = "the statistic could not be computed"
    if reason is not None:
        status, message = "FAIL", f"{contract}: {reason}, so the bound {bound:g} is unverified"
        observed = float("nan")
    else:
        ok = ok_when(float(observed), bound)
        status = "PASS" if ok else "FAIL"
        message = f"{contract}: observed {float(observed):.4g} {'within' if ok else 'violates'} bound {bound:g}"
    return {
        "ensemble": where["ensemble"], "test": where["test"], "variant": where.get("variant", "none"),
        "stratum": where.get("stratum", "all"), "metric": metric, "contract": contract,
        "bound": float(bound), "observed": float(observed), "status": status, "message": message,
    }


def _le(observed: float, bound: float) -> bool:
    return observed <= bound


def _ge(observed: float, bound: float) -> bool:
    return observed >= bound


def _ensembles_of(test: StressTest, summary: pd.DataFrame, ensembles_of: dict[str, list[str]] | None) -> list[str]:
    if ensembles_of is not None and test.name in ensembles_of:
        return list(ensembles_of[test.name])
    if test.ensembles:
        return list(test.ensembles)
    return list(dict.fromkeys(summary["ensemble"])) if "ensemble" in summary else []


def check_contracts(tests: list[StressTest], summary: pd.DataFrame, flips: pd.DataFrame | None,
                    higher_is_better: dict[str, bool], ensembles_of: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """One row per (bound, ensemble, variant, stratum, metric) with PASS/FAIL; never fewer rows than bounds.

    ``ensembles_of`` maps a test to the ensembles it ran on (default: the test's ``ensembles``, else every
    ensemble in the summary), so a test that produced no rows for an ensemble still gets FAIL rows.
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
                ratio_rows = part if test.kind != "iid" else part[part["stratum"] != "all"]
                if ratio_rows.empty:
                    rows.append(_row(whole, "max_sd_ratio", contract.max_sd_ratio, None, _le, None,
                                     reason="the test produced no statistics for this ensemble"))
                for _, row in ratio_rows.iterrows():
                    rows.append(_row(row, "max_sd_ratio", contract.max_sd_ratio, row.get("sd_ratio"), _le,
                                     row["metric"]))
            for bound_name, column in (("min_mean", "mean"), ("max_mean", "mean"), ("max_sd", "sd"),
                                       ("min_worst", "worst_value")):
                for metric, bound in getattr(contract, bound_name).items():
                    if bound_name == "min_worst":
                        ok_when = _ge if higher_is_better.get(metric, True) else _le
                    else:
                        ok_when = _ge if bound_name == "min_mean" else _le
                    metric_rows = part[part["metric"] == metric]
                    if metric_rows.empty:
                        computed = sorted(set(part["metric"]))
                        rows.append(_row(whole, bound_name, bound, None, ok_when, metric,
                                         reason=f"the test has no '{metric}' statistics for this ensemble "
                                                f"(it has: {', '.join(computed) or 'none'})"))
                    for _, row in metric_rows.iterrows():
                        rows.append(_row(row, bound_name, bound, row.get(column), ok_when, metric))
            if contract.max_flip_rate is not None:
                rates = pd.DataFrame()
                if flips is not None and len(flips):
                    rates = flips[(flips["test"] == test.name) & (flips["ensemble"] == ensemble)
                                  & (flips["kind"] == "rate")]
                if rates.empty:
                    reason = ("no flips table was produced" if flips is None or not len(flips)
                              else "the flips table has no flip rates for this test and ensemble")
                    rows.append(_row(whole, "max_flip_rate", contract.max_flip_rate, None, _le, "flip_rate",
                                     reason=reason))
                for _, row in rates.iterrows():
                    where = {"ensemble": ensemble, "test": test.name, "variant": row["variant"], "stratum": "all"}
                    rows.append(_row(where, "max_flip_rate", contract.max_flip_rate, row["value"], _le,
                                     f"flip_rate[{row['member']}]"))
    return pd.DataFrame(rows, columns=COLUMNS)
