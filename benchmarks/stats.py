"""Time the two heaviest ensemble statistics on an audit-sized correctness matrix.

- systematic-variation permutation test, 10,000 permutations of a 50 x 50,000
  0/1 correctness matrix (docs/methods.md §4);
- multi-bootstrap, 2,000 replicates (members and examples resampled) of the
  mean and SD of accuracy on the same matrix (docs/methods.md §11);
- for reference, a strata-shuffle test of a 5,000-example stratum.

Run: ``python benchmarks/stats.py [--members 50] [--examples 50000]``. Prints wall times.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from uspec_audit.stats.bootstrap import multi_bootstrap
from uspec_audit.stats.permutation import strata_shuffle, systematic_variation
from uspec_audit.stats.seeding import rng_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--examples", type=int, default=50_000)
    ap.add_argument("--permutations", type=int, default=10_000)
    ap.add_argument("--replicates", type=int, default=2_000)
    args = ap.parse_args()
    m, n = args.members, args.examples
    rng = np.random.default_rng(0)
    # realistic structure: per-example difficulty shared by members plus member skill
    difficulty = rng.beta(4, 1.3, size=n)
    skill = rng.normal(0, 0.02, size=m)
    c = rng.random((m, n)) < np.clip(difficulty[None, :] + skill[:, None], 0, 1)
    print(f"correctness matrix {m} x {n}, mean accuracy {c.mean():.3f}, cpus {os.cpu_count()}")

    t = time.perf_counter()
    res = systematic_variation(c, args.permutations, rng_for(0, "bench", "perm"))
    dt = time.perf_counter() - t
    print(f"systematic variation, {args.permutations} permutations: {dt:.2f} s (p = {res.p_value:.4g})")

    t = time.perf_counter()
    boot = multi_bootstrap(
        c.astype(np.float64), args.replicates, rng_for(0, "bench", "m"), rng_for(0, "bench", "e")
    )
    dt = time.perf_counter() - t
    print(
        f"multi-bootstrap, {args.replicates} replicates: {dt:.2f} s "
        f"(mean CI {boot.mean_ci[0]:.4f}..{boot.mean_ci[1]:.4f}, sd CI {boot.sd_ci[0]:.4f}..{boot.sd_ci[1]:.4f})"
    )

    mask = np.zeros(n, dtype=bool)
    mask[: min(5000, n)] = True
    t = time.perf_counter()
    res = strata_shuffle(c, mask, args.permutations, rng_for(0, "bench", "strata"))
    dt = time.perf_counter() - t
    print(
        f"strata shuffle (stratum of {int(mask.sum())}), {args.permutations} permutations: {dt:.2f} s (p = {res.p_value:.4g})"
    )


if __name__ == "__main__":
    main()
