"""``iid``: the reference test set. Every other test of an ensemble is compared with its first iid test
(sd ratios, correlations, differences, the excess and degraded verdicts)."""

from __future__ import annotations

from uspec_audit.components import TestKindSpec

KIND = TestKindSpec(
    name="iid",
    doc="The reference test set; every other test is compared with it (sd ratio, Spearman).",
    reference=True,
)
