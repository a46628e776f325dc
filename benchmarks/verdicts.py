"""Calibration of the verdicts: false-positive rate and power on simulated ensembles (docs/methods.md §14).

Each repetition simulates one audit and runs it through the real statistics
(:func:`uspec_audit.stats.analyze.analyze`, the same call ``uspec-audit run``
makes), then records the verdict of every row. The simulated ensemble follows
the measurement setup of issue 9:

- M members; example i has a base probability of being classified correctly
  p_i ~ Beta(1.7, 0.3) (accuracy ~0.85); member m is correct with probability
  sigmoid(logit(p_i) + a_m + b_m(row)), independently over members and examples;
- the iid test has 2000 examples, split by an attribute into strata of
  1000 / 600 / 300 / 100 examples (a stratified test on the iid data);
- shifted tests of 2000 and 300 new examples from the same difficulty
  distribution, and a harder shifted test (p_i ~ Beta(1.4, 0.6), accuracy ~0.70,
  1000 examples) -- a real drop of the mean, every member alike.

Scenarios:

- ``pure null``: a = b = 0 (members exchangeable everywhere);
- ``carry-over null``: a_m ~ N(0, sd_carry^2), the same offset on every test and
  stratum (no underspecification: the members keep their iid order; on the hard
  test the same logit offset moves accuracy more);
- ``shifted alternative sd=s``: b_m(row) ~ N(0, s^2) drawn independently for
  each shifted test (the 2000, 300 and hard one), absent on the iid test;
  a = 0. Power is read on the shifted rows;
- ``strata alternative sd=s``: b_m(stratum) ~ N(0, s^2) drawn independently for
  each stratum of the iid test (the iid test as a whole then carries their
  size-weighted mixture); a = 0. Power is read on the strata rows.

Printed per scenario, verdict and row kind: the share of repetitions with that
verdict (false-positive rate under the nulls, power under the alternatives),
with a binomial Monte Carlo standard error. Targets (issue 9): under both nulls
``underspecified`` <= alpha on every row kind and ``degraded`` <= alpha on every
row kind that is not really worse (all but the hard test), within Monte Carlo
error; power of ``underspecified`` >= 0.8 at b sd = 0.2 on the 2000-example
shifted test.

Run: ``python benchmarks/verdicts.py [--reps 250] [--workers 2] [--quick]``.
``--quick`` runs 60 repetitions of the two nulls and one alternative.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from uspec_audit.results.prediction_set import PredictionSet
from uspec_audit.stats.analyze import analyze
from uspec_audit.stats.plan import AnalysisPlan, EnsemblePlan, TestPlan
from uspec_audit.stats.settings import AnalysisSettings

STRATA = (("s1000", 1000), ("s600", 600), ("s300", 300), ("s100", 100))
SHIFTED = (
    ("shifted-2000", 2000, (1.7, 0.3)),
    ("shifted-300", 300, (1.7, 0.3)),
    ("hard-1000", 1000, (1.4, 0.6)),
)
ROW_KINDS = tuple(f"stratum n={n}" for _, n in STRATA) + (
    "shifted n=2000",
    "shifted n=300",
    "hard (acc 0.70) n=1000",
)
VERDICTS = ("underspecified", "degraded")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _prediction_set(
    test: str,
    correct: np.ndarray,
    rng: np.random.Generator,
    ids: np.ndarray,
    attributes: dict[str, np.ndarray],
    members: list[str],
) -> PredictionSet:
    """Binary outputs consistent with a correctness matrix: the true class gets q > 0.5 exactly when correct."""
    m, n = correct.shape
    y = rng.integers(0, 2, n)
    q = np.where(correct, rng.uniform(0.55, 0.99, (m, n)), rng.uniform(0.01, 0.45, (m, n)))
    p1 = np.where(y[None, :] == 1, q, 1 - q)
    outputs = np.stack([1 - p1, p1], axis=-1)
    return PredictionSet("sim", test, "none", "binary", members, ids, y, outputs, attributes=attributes)


def simulate(scenario: str, effect: float, carry_sd: float, members: int, seed: int):
    """One simulated audit: (metrics frame, prediction sets, analysis plan)."""
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(members)]
    a = rng.normal(0, carry_sd, members) if scenario == "carry" else np.zeros(members)

    def extra(where: str) -> np.ndarray:
        return rng.normal(0, effect, members) if scenario == f"alt-{where}" else np.zeros(members)

    sets: dict[str, PredictionSet] = {}
    # iid test with strata
    n_iid = sum(n for _, n in STRATA)
    p = rng.beta(1.7, 0.3, n_iid)
    labels = np.concatenate([np.full(n, name) for name, n in STRATA]).astype(object)
    rng.shuffle(labels)
    offset = np.zeros((members, n_iid))
    for name, _ in STRATA:
        offset[:, labels == name] = extra("strata")[:, None]
    correct = rng.random((members, n_iid)) < _sigmoid(_logit(p)[None, :] + a[:, None] + offset)
    iid = _prediction_set("iid", correct, rng, np.arange(n_iid), {"group": labels}, names)
    sets["iid"] = iid
    sets["strata"] = PredictionSet(**{f: getattr(iid, f) for f in iid.__dataclass_fields__})
    sets["strata"].test = "strata"
    for name, n, (alpha, beta) in SHIFTED:
        p = rng.beta(alpha, beta, n)
        correct = rng.random((members, n)) < _sigmoid(
            _logit(p)[None, :] + a[:, None] + extra("shift")[:, None]
        )
        sets[name] = _prediction_set(name, correct, rng, np.arange(n) + 10_000_000, {}, names)

    rows = []
    kinds = {"iid": "iid", "strata": "stratified"}
    for test, ps in sets.items():
        acc = ps.correct.astype(np.float64)
        parts = [("all", np.ones(acc.shape[1], dtype=bool))]
        if test == "strata":
            parts += [(f"group={name}", ps.attributes["group"] == name) for name, _ in STRATA]
        for stratum, mask in parts:
            values = acc[:, mask].mean(axis=1)
            for i, member in enumerate(names):
                rows.append(
                    dict(
                        ensemble="sim",
                        member=member,
                        group=None,
                        test=test,
                        kind=kinds.get(test, "shifted"),
                        variant="none",
                        perturbation=None,
                        severity=None,
                        stratum=stratum,
                        n=int(mask.sum()),
                        metric="accuracy",
                        value=float(values[i]),
                    )
                )
    metrics = pd.DataFrame(rows)
    metrics["severity"] = metrics["severity"].astype("Int64")
    plan = AnalysisPlan(
        (EnsemblePlan("sim", "binary", tuple(names), "iid"),),
        (
            TestPlan("iid", "iid", ("sim",), ("accuracy",)),
            TestPlan(
                "strata", "stratified", ("sim",), ("accuracy",), by=("group",), compare_with_reference=False
            ),
            *(
                TestPlan(name, "shifted", ("sim",), ("accuracy",), rex_domains="pooled")
                for name, _, _ in SHIFTED
            ),
        ),
        {"accuracy": True},
    )
    return metrics, sets, plan


def _row_kind(test: str, stratum: str) -> str | None:
    if test == "strata" and stratum != "all":
        return f"stratum n={dict(STRATA)[stratum.split('=')[1]]}"
    for name, n, _ in SHIFTED:
        if test == name:
            return "hard (acc 0.70) n=1000" if name.startswith("hard") else f"shifted n={n}"
    return None


def one_repetition(job: tuple) -> dict[str, str]:
    scenario, effect, carry_sd, members, seed, settings = job
    metrics, sets, plan = simulate(scenario, effect, carry_sd, members, seed)
    tables = analyze(metrics, lambda e, t, v: sets[t], plan, AnalysisSettings(**settings), seed=seed)
    summary = tables["summary"]
    out = {}
    for row in summary.itertuples():
        kind = _row_kind(row.test, row.stratum)
        if kind is not None:
            out[kind] = row.verdict
    return out


def run(
    scenarios: list[tuple[str, str, float, int]], carry_sd: float, members: int, settings: dict, workers: int
) -> dict[str, dict[str, list[str]]]:
    jobs, labels = [], []
    for label, scenario, effect, reps in scenarios:
        for r in range(reps):
            jobs.append(
                (
                    scenario,
                    effect,
                    carry_sd,
                    members,
                    1_000_003 * (r + 1) + zlib.crc32(label.encode()) % 997,
                    settings,
                )
            )
            labels.append(label)
    results: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for label, verdicts in zip(labels, pool.map(one_repetition, jobs, chunksize=4), strict=True):
            for kind, verdict in verdicts.items():
                results[label][kind].append(verdict)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=250, help="repetitions per null scenario")
    ap.add_argument("--power-reps", type=int, default=100, help="repetitions per alternative")
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--carry-sd", type=float, default=0.3, help="sd of the carry-over logit offsets")
    ap.add_argument("--effects", default="0.1,0.2,0.3,0.5", help="sd of the alternatives' logit offsets")
    ap.add_argument("--permutations", type=int, default=2000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--quick", action="store_true", help="60 repetitions; the nulls and the sd=0.2 alternatives"
    )
    args = ap.parse_args()
    reps = 60 if args.quick else args.reps
    power_reps = 60 if args.quick else args.power_reps
    effects = [0.2] if args.quick else [float(x) for x in args.effects.split(",")]
    settings = dict(
        permutations=args.permutations,
        bootstrap=args.bootstrap,
        member_bootstrap=200,
        alpha=args.alpha,
        fdr=True,
        marginalization_subsets=1,
        pca_components=1,
        pca_scores=False,
    )
    scenarios = [
        ("pure null", "pure", 0.0, reps),
        (f"carry-over null (sd {args.carry_sd})", "carry", 0.0, reps),
    ]
    scenarios += [(f"shifted alternative sd={e}", "alt-shift", e, power_reps) for e in effects]
    scenarios += [(f"strata alternative sd={e}", "alt-strata", e, power_reps) for e in effects]
    print(
        f"verdict calibration: {args.members} members, p_i ~ Beta(1.7, 0.3); iid n=2000 with strata "
        f"{'/'.join(str(n) for _, n in STRATA)}; shifted n=2000, 300; hard n=1000 ~ Beta(1.4, 0.6)"
    )
    print(
        f"{reps} repetitions per null, {power_reps} per alternative; permutations {args.permutations}, "
        f"bootstrap {args.bootstrap}, BH on, alpha {args.alpha}; workers {args.workers}"
    )
    started = time.perf_counter()
    results = run(scenarios, args.carry_sd, args.members, settings, args.workers)
    se = math.sqrt(args.alpha * (1 - args.alpha) / reps)
    print(
        f"\nrate of each verdict (Monte Carlo se at rate alpha: {se:.3f}; a null passes at <= alpha + 2 se "
        f"= {args.alpha + 2 * se:.3f})\n"
    )
    header = f"{'scenario':32s} {'row kind':26s}" + "".join(f"{v:>16s}" for v in VERDICTS)
    print(header)
    print("-" * len(header))
    failures = []
    for label, scenario, _, _ in scenarios:
        for kind in ROW_KINDS:
            verdicts = results[label].get(kind, [])
            if (
                not verdicts
                or (scenario == "alt-shift" and kind.startswith("stratum"))
                or (scenario == "alt-strata" and not kind.startswith("stratum"))
            ):
                continue
            rates = {v: float(np.mean([x == v for x in verdicts])) for v in VERDICTS}
            print(f"{label:32s} {kind:26s}" + "".join(f"{rates[v]:16.3f}" for v in VERDICTS))
            if "null" in label:
                if rates["underspecified"] > args.alpha + 2 * se:
                    failures.append(f"{label} / {kind}: underspecified {rates['underspecified']:.3f}")
                if not kind.startswith("hard") and rates["degraded"] > args.alpha + 2 * se:
                    failures.append(f"{label} / {kind}: degraded {rates['degraded']:.3f}")
        print()
    target = results.get("shifted alternative sd=0.2", {}).get("shifted n=2000")
    if target:
        power = float(np.mean([x == "underspecified" for x in target]))
        print(
            f"power of 'underspecified' at logit-offset sd 0.2 on the 2000-example shifted test: {power:.3f} "
            f"(target >= 0.8)"
        )
        if power < 0.8:
            failures.append(f"power {power:.3f} < 0.8")
    print(f"\n{'all targets met' if not failures else 'targets missed: ' + '; '.join(failures)}")
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
