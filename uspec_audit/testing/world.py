"""A tiny, real audit for a plugin's end-to-end test: ONNX members, a Parquet dataset, the real CLI.

:class:`TinyAudit` builds, in a folder of its own, an ensemble of small ONNX
classifiers (nearest-prototype linear models, one per seed) and a Parquet test
set they classify well but not perfectly, writes audit files around the tests
you give, and runs ``uspec-audit`` on them in a subprocess -- the installed
command with every installed plugin, exactly as a user runs it. Nothing is
downloaded; building takes well under a second. The ONNX files are written
with the ``onnx`` package (``pip install 'uspec-audit[testing]'``).

Two modalities: ``image`` (8x8 RGB ``uint8`` images, an ``image`` column with
``shape = [8, 8, 3]``) and ``tabular`` (six float features ``f0``..``f5``).
Every example has an attribute ``site`` (``a`` or ``b``) to stratify on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SHAPE = (8, 8, 3)
FEATURES = 6


@dataclass
class AuditRun:
    """One ``uspec-audit`` command on a tiny audit: its exit code, output and results folder."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    output: Path

    def ok(self) -> AuditRun:
        """This run, or an ``AssertionError`` with its stderr when it exited non-zero."""
        if self.returncode != 0:
            raise AssertionError(
                f"uspec-audit {' '.join(self.args)} exited {self.returncode}:\n{self.stderr}"
            )
        return self

    @property
    def json(self) -> Any:
        """stdout parsed as JSON (commands run with ``--json``)."""
        return json.loads(self.stdout)

    def table(self, name: str):
        """A result table (``metrics``, ``summary``, ``contracts``, ...) as a pandas DataFrame."""
        import pandas as pd

        return pd.read_parquet(self.output / f"{name}.parquet")

    @property
    def manifest(self) -> dict:
        return json.loads((self.output / "manifest.json").read_text(encoding="utf-8"))


class TinyAudit:
    """A tiny audit world in ``root`` (created): members, data and audit files (see the module docstring).

    Attributes:
        root: the folder holding everything.
        members: the ONNX member files.
        data: the Parquet test set.
        inputs: the raw inputs (images ``(n, 8, 8, 3)`` uint8, or features ``(n, 6)`` float64).
        labels: the class labels ``(n,)``.
        sites: the ``site`` attribute ``(n,)``.
        weights: each member's ``(W, b)``: logits = x @ W + b, with x the image scaled to [0, 1] and
            flattened, or the features.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        modality: str = "image",
        members: int = 3,
        examples: int = 60,
        classes: int = 3,
        seed: int = 0,
    ):
        if modality not in ("image", "tabular"):
            raise ValueError(f"modality must be 'image' or 'tabular', got {modality!r}")
        self.root, self.modality, self.classes, self.seed = Path(root), modality, classes, seed
        (self.root / "models").mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, classes, examples)
        self.sites = np.where(rng.random(examples) < 0.5, "a", "b")
        self.inputs: np.ndarray
        if modality == "image":
            prototypes = rng.uniform(0.4, 0.6, (classes, int(np.prod(IMAGE_SHAPE))))
            flat = np.clip(
                prototypes[self.labels] + rng.normal(0, 0.3, (examples, prototypes.shape[1])), 0, 1
            )
            self.inputs = np.rint(flat * 255).astype(np.uint8).reshape(examples, *IMAGE_SHAPE)
        else:
            prototypes = rng.normal(0, 1.0, (classes, FEATURES))
            self.inputs = prototypes[self.labels] + rng.normal(0, 0.9, (examples, FEATURES))
        self.weights = []
        self.members = []
        for index in range(members):
            spread = 0.06 if modality == "image" else 0.08  # members differ by seed, and a little in accuracy
            noisy = prototypes + np.random.default_rng([seed, index]).normal(0, spread, prototypes.shape)
            weight = (4.0 * noisy.T).astype(np.float32)
            bias = (-2.0 * np.sum(noisy**2, axis=1)).astype(np.float32)
            self.weights.append((weight, bias))
            path = self.root / "models" / f"member-{index}.onnx"
            write_linear_onnx(path, weight, bias)
            self.members.append(path)
        self.data = self.root / "data" / "test.parquet"
        self._write_data()

    def model_inputs(self) -> np.ndarray:
        """The inputs as the members take them (float32 ``(n, d)``): images scaled to [0, 1] and flattened."""
        if self.modality == "image":
            return (self.inputs.reshape(len(self.inputs), -1) / 255.0).astype(np.float32)
        return self.inputs.astype(np.float32)

    def _write_data(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, Any] = {
            "id": np.arange(len(self.labels), dtype=np.int64),
            "label": self.labels,
            "site": self.sites,
        }
        if self.modality == "image":
            flat = pa.array(self.inputs.reshape(-1))
            columns["image"] = pa.FixedSizeListArray.from_arrays(flat, int(np.prod(IMAGE_SHAPE)))
        else:
            for index in range(FEATURES):
                columns[f"f{index}"] = self.inputs[:, index]
        pq.write_table(pa.table(columns), self.data)

    # ------------------------------------------------------------------ audit files

    @property
    def ensemble_table(self) -> str:
        """The default ``[ensembles.tiny]`` table."""
        layout = '{ layout = "NC", scale = 255.0 }' if self.modality == "image" else '{ layout = "NC" }'
        return textwrap.dedent(f"""\
            [ensembles.tiny]
            loader = "onnx"
            members = "models/member-*.onnx"
            task = "multiclass"
            output = "logits"
            preprocess = {layout}
            """)

    @property
    def dataset_table(self) -> str:
        """The default ``[datasets.test]`` table."""
        if self.modality == "image":
            reading = 'input = "image"\nshape = [8, 8, 3]'
        else:
            reading = "features = [" + ", ".join(f'"f{i}"' for i in range(FEATURES)) + "]"
        return (
            f'[datasets.test]\nsource = "parquet"\npath = "data/test.parquet"\n{reading}\ntarget = "label"\n'
            f'id = "id"\nattributes = ["site"]\n'
        )

    def audit_text(
        self,
        tests: str = "",
        *,
        ensembles: str | None = None,
        datasets: str | None = None,
        name: str = "tiny",
        seed: int = 1,
        batch_size: int = 16,
        reports: bool = False,
        extra: str = "",
    ) -> str:
        """An audit file: ``[audit]``, the ensembles (default :attr:`ensemble_table`), the datasets (default
        :attr:`dataset_table`), an ``iid`` test on ``test`` and your ``tests`` (TOML ``[[tests]]`` tables)."""
        reports_line = '["markdown"]' if reports else "[]"
        return "\n".join(
            [
                f'[audit]\nname = "{name}"\nseed = {seed}\noutput = "results/{name}"\nbatch_size = {batch_size}\n'
                f"reports = {reports_line}\n",
                textwrap.dedent(ensembles) if ensembles is not None else self.ensemble_table,
                textwrap.dedent(datasets) if datasets is not None else self.dataset_table,
                '[[tests]]\nname = "iid"\nkind = "iid"\ndataset = "test"\n',
                textwrap.dedent(tests),
                textwrap.dedent(extra),
            ]
        )

    def write_audit(self, tests: str = "", *, file: str = "audit.toml", **kwargs: Any) -> Path:
        """Write :meth:`audit_text` to ``root / file``; returns its path."""
        path = self.root / file
        path.write_text(self.audit_text(tests, **kwargs), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ commands

    def cli(
        self,
        *args: str | Path,
        env: dict[str, str] | None = None,
        output: Path | None = None,
        timeout: float = 600,
    ) -> AuditRun:
        """Run ``uspec-audit ARGS`` (the installed command, in a subprocess) from ``root``."""
        command = [sys.executable, "-m", "uspec_audit", *map(str, args)]
        completed = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        return AuditRun(
            [str(a) for a in args],
            completed.returncode,
            completed.stdout,
            completed.stderr,
            output or self.root / "results" / "tiny",
        )

    def run(
        self,
        tests: str = "",
        *args: str,
        env: dict[str, str] | None = None,
        fresh: bool = False,
        **kwargs: Any,
    ) -> AuditRun:
        """Write the audit (see :meth:`audit_text`) and ``uspec-audit run`` it with ``--json``."""
        audit = self.write_audit(tests, **kwargs)
        name = kwargs.get("name", "tiny")
        extra = ["--fresh"] if fresh else []
        return self.cli("run", audit, "--json", *extra, *args, env=env, output=self.root / "results" / name)

    def validate(
        self, tests: str = "", *args: str, env: dict[str, str] | None = None, **kwargs: Any
    ) -> AuditRun:
        """Write the audit and ``uspec-audit validate`` it."""
        audit = self.write_audit(tests, **kwargs)
        return self.cli("validate", audit, *args, env=env)


def write_linear_onnx(path: str | Path, weight: np.ndarray, bias: np.ndarray) -> Path:
    """An ONNX model ``logits = x @ weight + bias`` with input ``x`` ``(N, d)`` float32 (the ``onnx`` package)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "uspec_audit.testing writes ONNX models with the onnx package: pip install 'uspec-audit[testing]'"
        ) from error
    d, k = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["logits"])],
        "tiny_linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, d])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, k])],
        [
            numpy_helper.from_array(np.asarray(weight, np.float32), "W"),
            numpy_helper.from_array(np.asarray(bias, np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return Path(path)
