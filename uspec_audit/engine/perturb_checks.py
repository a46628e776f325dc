"""The engine's check of a perturbation's first batch: the cheap, always-on part of the plugin checks.

On the first batch of every (dataset, perturbation, severity) stream the
outputs are compared with the inputs (shape, dtype, scale: a perturbation that
returns floats in [0, 1] for uint8 images) and the last few examples are
perturbed again on their own with the same seeds (a perturbation drawing from a
global random generator, or depending on the rest of the batch, gives other
outputs). Problems become warnings of the run (in the report and the manifest),
once per stream; the run itself goes on, since the outputs may still be
what the author meant. The cost is one call on at most 8 examples per stream.
"""

from __future__ import annotations

from typing import Any

from uspec_audit.conformance import output_problems, rerun_problems
from uspec_audit.engine.notices import notice

RERUN_ROWS = 8


def first_batch_notices(record: Any, inputs: Any, outputs: Any, context: Any, group: Any) -> None:
    """Warn (:func:`uspec_audit.engine.notices.notice`) about what the first perturbed batch shows."""
    spec = record.spec
    problems = output_problems(inputs, outputs, spec.modality)
    try:
        problems += rerun_problems(spec.apply, inputs, outputs, context, RERUN_ROWS)
    except Exception as error:  # the perturbation failed on a smaller batch: that is worth saying too
        problems.append(
            f"applied again to the last {RERUN_ROWS} examples of the batch alone it raised "
            f"{type(error).__name__}: {error}"
        )
    origin = "" if record.builtin else f" ({record.origin})"
    severity = "" if context.severity is None else f" at severity {context.severity}"
    for problem in problems:
        notice(
            f"perturbation '{spec.name}'{origin}{severity} on dataset '{group.dataset}': {problem}. Its results "
            f"may not mean what they seem; uspec_audit.testing.check_perturbation shows the details."
        )
