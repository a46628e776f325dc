"""Contracts checked before anything runs: every bound must be evaluable on its test
(:mod:`uspec_audit.contracts` checks them after the run)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from uspec_audit.components import TestKindSpec
from uspec_audit.config.loaded import did_you_mean
from uspec_audit.config.models import DEFAULT_METRICS, Ensemble, StressTest

PER_METRIC = ("min_mean", "max_mean", "max_sd", "min_worst")


def computed_metrics(test: StressTest, ensemble: Ensemble) -> list[str]:
    """The metrics a test computes for an ensemble: the test's list, else the task's defaults."""
    return list(test.metrics) if test.metrics else list(DEFAULT_METRICS[ensemble.task])


def contract_problems(
    test: StressTest,
    kind: TestKindSpec | None,
    ensembles: dict[str, Ensemble],
    reference: Mapping[str, str | None],
    where: Callable[..., str],
) -> list[str]:
    """Every bound of ``test.contract`` that could not be evaluated, as messages naming file:line.

    ``kind`` is the test's kind (``None`` when unknown: bounds that depend on it are not checked),
    ``ensembles`` are the test's ensembles, ``reference`` maps each to its iid reference test,
    ``where(*key)`` gives ``file:line`` of a key under the test.
    """
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
                        f"fix the name."
                    )
                    break
    if kind is None:
        return problems
    if contract.max_flip_rate is not None and "flips" not in kind.produces:
        problems.append(
            f"{where('contract', 'max_flip_rate')}: {label}: max_flip_rate bounds the label flips of a "
            f"contrastive test; this test is '{test.kind}' and has no flips."
        )
    if contract.max_sd_ratio is not None:
        if kind.reference:
            problems.append(
                f"{where('contract', 'max_sd_ratio')}: {label}: max_sd_ratio compares a test's spread "
                f"with the iid reference's; on the iid test itself the ratio is 1 by definition."
            )
        else:
            missing = [name for name in ensembles if reference.get(name) is None]
            if missing:
                problems.append(
                    f"{where('contract', 'max_sd_ratio')}: {label}: max_sd_ratio needs an iid "
                    f"reference test, and ensemble(s) {missing} have none (add an iid test or set "
                    f"`reference` in the ensemble table)."
                )
    return problems
