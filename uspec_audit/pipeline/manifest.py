"""The manifest: what a run used (tool, plugins, audit text, model and data hashes, seeds, host) and wrote.

``files`` lists every result file with its size and sha256: it is the record of
what the run created (the next run replaces or deletes exactly these, nothing
else) and what ``report`` checks before it renders. ``units`` lists the
prediction-cache entries the run used (``uspec-audit cache info|prune``).

The reports are rendered from the staged folder before the final manifest
exists, so they cite the sha256 of a first manifest; the final one adds
``timings.reports_s``, the reports' warnings, ``reports`` and ``files``, and
records that first manifest's sha256 as ``report_source_sha256``.
"""

from __future__ import annotations

import hashlib
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from uspec_audit import __version__
from uspec_audit.config.loaded import LoadedAudit
from uspec_audit.engine.plan import Plan


def file_records(folder: Path, names: list[str]) -> list[dict]:
    """``{"path", "bytes", "sha256"}`` of each file (relative POSIX names under ``folder``)."""
    records = []
    for name in names:
        digest, size = hashlib.sha256(), 0
        with open(folder / name, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        records.append({"path": name, "bytes": size, "sha256": digest.hexdigest()})
    return records


def unit_records(plan: Plan, unit_keys: dict) -> list[dict]:
    """The cache entries behind the results: one per (ensemble, dataset, variant)."""
    records = []
    for group in plan.groups:
        for ensemble in group.ensembles:
            key = unit_keys.get((ensemble, group.key))
            if key is not None:
                records.append(
                    {
                        "ensemble": ensemble,
                        "dataset": group.dataset,
                        "variant": group.variant.label,
                        "key": key,
                    }
                )
    return records


def build_manifest(
    loaded: LoadedAudit,
    plan: Plan,
    ensembles: dict,
    readers: dict,
    metadata: dict,
    fingerprints: dict,
    output: Path,
    command: str,
    warnings: list[str],
    started_at: str,
    timings: dict,
    units: list[dict],
    registry,
) -> dict:
    """The manifest of a run, ``"status": "complete"`` (it is written only when everything else is)."""
    audit = loaded.model
    return {
        "status": "complete",
        "tool": {"name": "uspec-audit", "version": __version__},
        "plugins": registry.plugins,
        "audit": {
            "path": str(loaded.path),
            "sha256": loaded.sha256,
            "text": loaded.text,
            "name": audit.audit.name,
            "title": audit.audit.title,
            "seed": audit.audit.seed,
        },
        "command": command or f"uspec-audit run {loaded.path}",
        "output": str(output),
        "ensembles": [
            {
                "name": name,
                "loader": e.config.loader,
                "task": e.config.task,
                "output": e.config.output,
                "reference": plan.references.get(name),
                "members": [
                    {
                        "name": m.name,
                        "path": str(ref.path),
                        "sha256": m.fingerprint,
                        "group": ref.group,
                        "providers": list(m.providers),
                    }
                    for m, ref in zip(e.members, plan.members[name], strict=True)
                ],
            }
            for name, e in ensembles.items()
        ],
        "datasets": [
            {
                "name": name,
                "source": audit.datasets[name].source,
                "path": str(reader.path),
                "sha256": reader.content_hash(),
                "fingerprint": fingerprints[name],
                "n_examples": int(len(metadata[name])),
                "synthetic": audit.datasets[name].synthetic,
            }
            for name, reader in readers.items()
        ],
        "tests": [
            {
                "name": t.config.name,
                "kind": t.config.kind,
                "dataset": t.config.dataset,
                "ensembles": t.ensembles,
                "metrics": t.config.metrics,
                "by": list(t.checked.by),
                "variants": [v.label for v in t.variants],
                # what the kind says about its tests, so a report reads the results without knowing kinds by name
                "reference": bool(t.kind.reference),
                "strata": t.strata is not None,
                "produces": list(t.kind.produces),
            }
            for t in plan.tests
        ],
        "analysis": audit.analysis.model_dump(),
        "timings": timings,
        "units": units,
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "notes": warnings,
    }
