"""Reading one unit's predictions back from the cache, as the prediction set of one (ensemble, test, variant)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from uspec_audit.engine.cache import UnitPredictions
from uspec_audit.engine.infer import Inferred
from uspec_audit.engine.plan import Plan, TestRun
from uspec_audit.errors import RunError
from uspec_audit.kind_api import Variant
from uspec_audit.results.prediction_set import PredictionSet


class UnitReader:
    """``load(ensemble, test, variant_label)``: the :class:`PredictionSet` of a unit; the last few units stay
    in memory, because metrics, statistics, differences and kind tables read the same units in turn."""

    def __init__(self, plan: Plan, inferred: Inferred) -> None:
        self.inferred = inferred
        self.lookup = {(t.config.name, v.label): (t, v) for t in plan.tests for v in t.variants}
        self._read = functools.lru_cache(maxsize=4)(inferred.cache.get)

    def unit(self, ensemble: str, test_run: TestRun, variant: Variant) -> PredictionSet:
        """The predictions of ``ensemble`` on ``test_run`` under ``variant``."""
        group_key = (test_run.config.dataset, variant.label, variant.params_json)
        key = self.inferred.unit_keys[(ensemble, group_key)]
        unit = self._read(key)
        if unit is None:
            raise RunError(
                f"the stored predictions of unit {key} in {self.inferred.cache.folder} were removed or "
                f"damaged while this run was using them; run the same command again to recompute them."
            )
        return _prediction_set(
            unit,
            self.inferred.ensembles[ensemble],
            test_run,
            variant,
            self.inferred.metadata[test_run.config.dataset],
        )

    def load(self, ensemble: str, test: str, variant: str) -> PredictionSet:
        """The predictions of ``ensemble`` on the test named ``test`` under the variant labelled ``variant``."""
        test_run, variant_spec = self.lookup[(test, variant)]
        return self.unit(ensemble, test_run, variant_spec)


def _prediction_set(
    unit: UnitPredictions, ensemble, test_run: TestRun, variant: Variant, meta: pd.DataFrame
) -> PredictionSet:
    ids = meta["id"].to_numpy()
    if len(ids) != len(unit.ids) or not np.array_equal(ids, unit.ids):
        raise RunError(
            f"dataset '{test_run.config.dataset}': the example ids of the stream differ from the "
            f"dataset's metadata; ids must be stable."
        )
    attributes = {
        column: meta[column].to_numpy() for column in meta.columns if column not in ("id", "target")
    }
    return PredictionSet(
        ensemble=ensemble.name,
        test=test_run.config.name,
        variant=variant.label,
        task=ensemble.config.task,
        members=list(unit.members),
        ids=unit.ids,
        target=unit.target,
        outputs=unit.outputs,
        attributes=attributes,
        groups=list(ensemble.groups) if any(g is not None for g in ensemble.groups) else None,
    )
