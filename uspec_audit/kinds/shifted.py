"""``shifted``: a different dataset (a held-out camera, another population). Shifted tests pool into one
REx domain set with the reference."""

from __future__ import annotations

from uspec_audit.components import TestKindSpec

KIND = TestKindSpec(
    name="shifted",
    doc="A different dataset (held-out camera, another population).",
    rex_domains="pooled",
)
