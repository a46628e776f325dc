"""Synthetic ensembles for the stats tests: real arrays, no mocks.

A module of its own (not conftest) so test modules can import it by a name no other directory shares."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats import plan as plan_mod


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _acc(ps: PredictionSet, cols: np.ndarray) -> np.ndarray:
    return (ps.outputs[:, cols].argmax(-1) == ps.target[cols][None, :]).mean(axis=1)


def _nll(ps: PredictionSet, cols: np.ndarray) -> np.ndarray:
    p = ps.outputs[:, cols]
    y = ps.target[cols]
    pt = p[:, np.arange(cols.size), y]
    return -np.log(np.clip(pt, 1e-15, 1.0)).mean(axis=1)


def _auc(ps: PredictionSet, cols: np.ndarray) -> np.ndarray:
    from sklearn.metrics import roc_auc_score

    y = ps.target[cols]
    return np.array(
        [roc_auc_score(y, ps.outputs[m, cols], multi_class="ovr") for m in range(len(ps.members))]
    )


class SyntheticAudit:
    """A 3-class ensemble of ``m`` members on four tests (iid, stratified, shifted, perturbed).

    On the shifted test members 0..m/2-1 are systematically worse on one block
    of examples (underspecification); the perturbed test lowers everyone's
    accuracy equally (degradation).
    """

    def __init__(self, m: int = 6, n: int = 300, k: int = 3, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.members = [f"seed-{i}" for i in range(m)]
        self.groups = [f"g{i % 2}" for i in range(m)]
        self.k = k
        self.sets: dict[tuple[str, str], PredictionSet] = {}
        tests = {
            ("iid", "none"): 0.0,
            ("skin", "none"): 0.0,
            ("shift", "none"): 1.0,
            ("corrupt", "noise@1"): 0.5,
            ("corrupt", "noise@3"): 1.0,
        }
        for (test, variant), level in tests.items():
            y = rng.integers(0, k, n)
            logits = rng.normal(0, 1.0, (m, n, k))
            strength = np.full((m, n), 2.2)
            if test == "shift":
                block = np.arange(n) < n // 2
                strength[: m // 2, block] = 0.2 * level
            if test == "corrupt":
                strength -= 1.2 * level
            logits[np.arange(m)[:, None], np.arange(n)[None, :], y[None, :]] += strength
            attrs = {"fitz": rng.integers(1, 4, n), "age": rng.normal(50, 10, n)}
            self.sets[(test, variant)] = PredictionSet(
                ensemble="cnn",
                test=test,
                variant=variant,
                task="multiclass",
                members=list(self.members),
                ids=np.arange(n) if test in ("iid", "corrupt") else np.arange(n) + 10_000,
                target=y,
                outputs=_softmax(logits),
                attributes=attrs,
                groups=list(self.groups),
            )
        self.plan = plan_mod.AnalysisPlan(
            ensembles=(
                plan_mod.EnsemblePlan("cnn", "multiclass", tuple(self.members), "iid", tuple(self.groups)),
            ),
            tests=(
                plan_mod.TestPlan("iid", "iid", ("cnn",), ("accuracy", "nll", "auc")),
                # what the built-in kinds say (uspec_audit.kinds): stratified is not compared with the
                # reference, shifted tests pool into one REx set, a perturbed test's variants form one
                plan_mod.TestPlan(
                    "skin",
                    "stratified",
                    ("cnn",),
                    ("accuracy", "nll", "auc"),
                    by=("fitz",),
                    compare_with_reference=False,
                ),
                plan_mod.TestPlan(
                    "shift", "shifted", ("cnn",), ("accuracy", "nll", "auc"), rex_domains="pooled"
                ),
                plan_mod.TestPlan(
                    "corrupt",
                    "perturbed",
                    ("cnn",),
                    ("accuracy", "nll", "auc"),
                    variants=("noise@1", "noise@3"),
                    rex_domains="variants",
                ),
            ),
            higher_is_better={"accuracy": True, "nll": False, "auc": True},
        )
        self.metrics = self._metrics()
        self.loads: list[tuple[str, str, str]] = []

    def load(self, ensemble: str, test: str, variant: str) -> PredictionSet:
        self.loads.append((ensemble, test, variant))
        ps = self.sets[(test, variant)]
        return PredictionSet(**{f: getattr(ps, f) for f in ps.__dataclass_fields__})

    def _metrics(self) -> pd.DataFrame:
        rows = []
        kinds = {"iid": "iid", "skin": "stratified", "shift": "shifted", "corrupt": "perturbed"}
        for (test, variant), ps in self.sets.items():
            n = ps.target.size
            strata = [("all", np.arange(n))]
            if test == "skin":
                for v in sorted(set(ps.attributes["fitz"].tolist())):
                    strata.append((f"fitz={v}", np.flatnonzero(ps.attributes["fitz"] == v)))
            pert, sev = (
                (variant.split("@")[0], int(variant.split("@")[1])) if variant != "none" else (None, None)
            )
            for stratum, cols in strata:
                for metric, fn in (("accuracy", _acc), ("nll", _nll), ("auc", _auc)):
                    vals = fn(ps, cols)
                    for i, mem in enumerate(self.members):
                        rows.append(
                            dict(
                                ensemble="cnn",
                                member=mem,
                                group=self.groups[i],
                                test=test,
                                kind=kinds[test],
                                variant=variant,
                                perturbation=pert,
                                severity=sev,
                                stratum=stratum,
                                n=int(cols.size),
                                metric=metric,
                                value=float(vals[i]),
                            )
                        )
        df = pd.DataFrame(rows)
        df["severity"] = df["severity"].astype("Int64")
        df["n"] = df["n"].astype("int64")
        return df
