"""Changing a plugin's code recomputes exactly the cached units that code produced (a real installed package).

The package ``uspec-audit-ident`` puts a perturbation (with a helper module of settings), a loader and a
source in modules of their own. An audit uses each beside built-in components; after each edit of an
installed module (no version bump) the next run recomputes the units that module touched and reuses every
other one, and a new version of the package recomputes everything the plugin touched.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from plugin_packages import pip_install, site_env, write_package

from uspec_audit.testing import TinyAudit

SETTINGS = """
    SCALE = 0.5
"""

PERTURBATION = """
    import numpy as np

    from uspec_audit_ident.settings import SCALE  # a constant from a helper module: its code counts too


    def shift(inputs, ctx):
        offsets = np.stack([np.random.default_rng(seed).normal(0, SCALE * ctx.severity, inputs.shape[1])
                            for seed in ctx.seeds])
        return inputs + offsets
"""

LOADER = """
    from dataclasses import dataclass

    import numpy as np

    from uspec_audit import file_sha256


    @dataclass(frozen=True)
    class Linear:
        weight: np.ndarray
        bias: np.ndarray
        fingerprint: str
        providers: tuple = ("numpy",)

        def predict(self, x):
            return np.asarray(x, np.float64).reshape(len(x), -1) @ self.weight + self.bias


    def load(request):
        with np.load(request.path) as archive:
            return Linear(archive["weight"], archive["bias"], file_sha256(request.path))
"""

SOURCE = """
    import numpy as np
    import pandas as pd

    from uspec_audit import BaseDatasetReader, Batch


    class Csv(BaseDatasetReader):
        def __init__(self, request):
            super().__init__(request)
            self.frame = pd.read_csv(self.path)
            self.num_examples = len(self.frame)

        def metadata(self):
            return self.metadata_frame(self.frame, self.frame["id"].to_numpy())

        def iter_batches(self, batch_size):
            for start in range(0, self.num_examples, batch_size):
                part = self.frame.iloc[start:start + batch_size]
                yield Batch(ids=part["id"].to_numpy(), inputs=part[self.config.features].to_numpy(np.float64),
                            targets=part["label"].to_numpy(), attributes={a: part[a].to_numpy() for a in self.config.attributes})
"""

PLUGIN = """
    from uspec_audit import DatasetSourceSpec, LoaderSpec, PerturbationSpec, hookimpl
    from uspec_audit_ident.load import load
    from uspec_audit_ident.perturb import shift
    from uspec_audit_ident.source import Csv


    @hookimpl
    def uspec_audit_register_perturbations(register):
        register(PerturbationSpec("ident/shift", shift, "tabular", "seeded offsets", severities=(1, 2)))


    @hookimpl
    def uspec_audit_register_loaders(register):
        register(LoaderSpec("ident/linear", load, (".npz",), "linear model in an npz"))


    @hookimpl
    def uspec_audit_register_sources(register):
        register(DatasetSourceSpec("ident/csv", Csv, "a csv file"))
"""

MODULES = {
    "settings.py": SETTINGS,
    "perturb.py": PERTURBATION,
    "load.py": LOADER,
    "source.py": SOURCE,
    "plugin.py": PLUGIN,
}


def _package(root, version: str):
    folder = root / f"ident-{version}"
    return write_package(folder, "uspec-audit-ident", version, MODULES, {"ident": "plugin"})


@pytest.fixture
def setup(tmp_path):
    site = pip_install(tmp_path / "site", _package(tmp_path, "1.0"))
    world = TinyAudit(tmp_path / "world", modality="tabular")
    (world.root / "linear").mkdir()
    for index, (weight, bias) in enumerate(world.weights):
        np.savez(world.root / "linear" / f"member-{index}.npz", weight=weight, bias=bias)
    features = [f"f{i}" for i in range(6)]
    pd.DataFrame(world.inputs, columns=features).assign(
        id=np.arange(len(world.labels)), label=world.labels, site=world.sites
    ).to_csv(world.root / "data" / "test.csv", index=False)
    quoted = ", ".join(f'"{f}"' for f in features)
    audit = dict(
        tests="""
            [[tests]]
            name = "shifted-inputs"
            kind = "perturbed"
            dataset = "test"
            perturbations = [{ name = "ident/shift" }]

            [[tests]]
            name = "from-csv"
            kind = "shifted"
            dataset = "csv"
            """,
        ensembles=world.ensemble_table
        + """
            [ensembles.lin]
            loader = "ident/linear"
            members = "linear/member-*.npz"
            task = "multiclass"
            """,
        datasets=world.dataset_table
        + f"""
            [datasets.csv]
            source = "ident/csv"
            path = "data/test.csv"
            features = [{quoted}]
            target = "label"
            id = "id"
            attributes = ["site"]
            """,
    )
    return tmp_path, site, world, audit


def _run(world: TinyAudit, site, audit: dict):
    result = world.run(
        audit["tests"], ensembles=audit["ensembles"], datasets=audit["datasets"], env=site_env(site)
    ).ok()
    timings = result.json["timings"]
    units = {(u["ensemble"], u["dataset"], u["variant"]): u["key"] for u in result.manifest["units"]}
    return timings["units_computed"], timings["units_reused"], units, result


def _edit(site, module: str, old: str, new: str) -> None:
    path = site / "uspec_audit_ident" / module
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)  # never run a stale compiled copy


def _changed(before: dict, after: dict) -> set:
    return {unit for unit in after if before.get(unit) != after[unit]}


def test_a_changed_plugin_recomputes_exactly_what_it_touched(setup):
    tmp_path, site, world, audit = setup
    computed, reused, first, result = _run(world, site, audit)
    assert (computed, reused) == (8, 0)  # 2 ensembles x (test: none, shift@1, shift@2; csv: none)
    assert _run(world, site, audit)[:2] == (0, 8)
    accuracy = result.table("metrics").query("test == 'shifted-inputs' and metric == 'accuracy'")["value"]

    _edit(site, "settings.py", "SCALE = 0.5", "SCALE = 3.0")  # the helper the perturbation imports
    computed, reused, units, result = _run(world, site, audit)
    assert _changed(first, units) == {
        (e, "test", v) for e in ("tiny", "lin") for v in ("ident/shift@1", "ident/shift@2")
    }
    assert (computed, reused) == (4, 4)
    changed = result.table("metrics").query("test == 'shifted-inputs' and metric == 'accuracy'")["value"]
    assert not np.allclose(changed.to_numpy(), accuracy.to_numpy())  # the new code ran, not a stale copy

    before = units
    _edit(site, "source.py", "def metadata(self):", "def metadata(self):  # reads only the small columns")
    computed, reused, units, _ = _run(world, site, audit)
    assert _changed(before, units) == {("tiny", "csv", "none"), ("lin", "csv", "none")}
    assert (computed, reused) == (2, 6)

    before = units
    _edit(site, "load.py", "def load(request):", "def load(request):  # one npz per member")
    computed, reused, units, _ = _run(world, site, audit)
    assert _changed(before, units) == {
        ("lin", "test", v) for v in ("none", "ident/shift@1", "ident/shift@2")
    } | {("lin", "csv", "none")}
    assert (
        computed == 4
    )  # (units_reused counts only fully cached groups on main; the issue-13 branch fixes it)

    # the same code under a new version of the distribution: everything the plugin produced
    before = units
    pip_install(site, _package(tmp_path, "1.1"))
    computed, reused, units, _ = _run(world, site, audit)
    assert _changed(before, units) == set(units) - {("tiny", "test", "none")}
    assert computed == 7
