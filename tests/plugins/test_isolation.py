"""One broken plugin is reported and left out; everything else keeps working (real installed packages).

Two distributions are built and pip-installed once for the module: ``uspec-audit-misfits`` holds plugins
with every registration mistake (a misspelled hook, a hook without @hookimpl, a hook with the wrong
argument, an import error, a raising hook, invalid specs, name clashes); ``uspec-audit-goodparts`` holds a
plugin that registers fine and whose components fail at run time (a loader that raises, objects that miss
protocol attributes, a metric and a perturbation that raise, a reader that fails mid-stream, perturbations
that break the seeding and dtype rules), plus the other side of a plugin-plugin clash.
"""

from __future__ import annotations

import json

import pytest
from plugin_packages import pip_install, site_env, uspec, write_package

from uspec_audit.testing import TinyAudit

MISFITS = {
    "typo.py": """
        from uspec_audit import hookimpl

        @hookimpl
        def uspec_audit_register_metric(register):
            pass
    """,
    "undecorated.py": """
        def uspec_audit_register_metrics(register):
            pass
    """,
    "badargs.py": """
        from uspec_audit import hookimpl

        @hookimpl
        def uspec_audit_register_metrics(reg):
            pass
    """,
    "broken.py": """
        import not_a_module_anywhere
    """,
    "raising.py": """
        from uspec_audit import MetricSpec, PerturbationSpec, hookimpl

        @hookimpl
        def uspec_audit_register_perturbations(register):
            register(PerturbationSpec("raising/first", lambda x, ctx: x, "image", "registered before the error"))
            raise RuntimeError("database unreachable")

        @hookimpl
        def uspec_audit_register_metrics(register):
            register(MetricSpec("raising/kept", lambda t, p, task: 0.5, ("multiclass",), True, "still works"))
    """,
    "clasher.py": """
        from uspec_audit import MetricSpec, hookimpl

        def half(target, prediction, task):
            return 0.5

        @hookimpl
        def uspec_audit_register_metrics(register):
            register(MetricSpec("accuracy", half, ("multiclass",), True, "clashes with a built-in"))
            register(MetricSpec("shared/metric", half, ("multiclass",), True, "clashes with goodparts"))
            register(MetricSpec("clasher/fine", half, ("multiclass",), True, "kept"))
    """,
    "badspec.py": """
        from uspec_audit import MetricSpec, PerturbationSpec, hookimpl

        @hookimpl
        def uspec_audit_register_perturbations(register):
            register(MetricSpec("badspec/wrong-type", lambda t, p, task: 0.0, ("multiclass",), True, "not a perturbation"))
            register(PerturbationSpec("badspec/audio", lambda x, ctx: x, "audio", "unknown modality"))
            register(PerturbationSpec("has space", lambda x, ctx: x, "image", "invalid name"))
            register(PerturbationSpec("badspec/ok", lambda x, ctx: x, "image", "kept"))
    """,
}

GOODPARTS = {
    "parts.py": """
        import numpy as np
        import pandas as pd

        from uspec_audit import (BaseDatasetReader, Batch, DatasetSourceSpec, LoaderSpec, MetricSpec,
                                 PerturbationSpec, hookimpl)
        from uspec_audit.data.sources import ParquetReader


        class NoFingerprint:
            providers = ["cpu"]

            def predict(self, x):
                return np.zeros((len(x), 3))


        def failing_load(request):
            raise ValueError("no weights in " + request.path.name)


        class Incomplete:  # no content_hash, no iter_batches
            def __init__(self, request):
                self.path, self.num_examples, self.feature_names = request.path, 3, None

            def metadata(self):
                return pd.DataFrame({"id": [0, 1, 2], "target": [0, 1, 2]})

            def fingerprint(self):
                return "x"


        class FailsMidStream(BaseDatasetReader):
            def __init__(self, request):
                super().__init__(request)
                self.inner = ParquetReader(request.config, request.path)
                self.num_examples = self.inner.num_examples

            def metadata(self):
                return self.inner.metadata()

            def iter_batches(self, batch_size):
                for index, batch in enumerate(self.inner.iter_batches(batch_size)):
                    if index == 1:
                        raise OSError("connection reset by peer")
                    yield batch


        def global_rng(images, ctx):  # the global generator: another run, other noise
            noise = np.random.normal(0, 20, images.shape)
            return np.clip(images + noise, 0, 255).astype(np.uint8)


        def unit_range(images, ctx):  # floats in [0, 1] for uint8 images
            return images / 255.0


        def boom(images, ctx):
            raise KeyError("missing lookup table")


        def metric_boom(target, prediction, task):
            raise ZeroDivisionError("division by zero")


        @hookimpl
        def uspec_audit_register_loaders(register):
            register(LoaderSpec("goodparts/failing", failing_load, (".onnx",), "raises"))
            register(LoaderSpec("goodparts/noproto", lambda request: NoFingerprint(), (".onnx",), "no fingerprint"))


        @hookimpl
        def uspec_audit_register_sources(register):
            register(DatasetSourceSpec("goodparts/incomplete", Incomplete, "misses protocol methods"))
            register(DatasetSourceSpec("goodparts/midstream", FailsMidStream, "fails on the second batch"))


        @hookimpl
        def uspec_audit_register_perturbations(register):
            register(PerturbationSpec("goodparts/global_rng", global_rng, "image", "global generator"))
            register(PerturbationSpec("goodparts/unit_range", unit_range, "image", "wrong scale"))
            register(PerturbationSpec("goodparts/boom", boom, "image", "raises"))


        @hookimpl
        def uspec_audit_register_metrics(register):
            register(MetricSpec("goodparts/boom", metric_boom, ("multiclass",), True, "raises"))
            register(MetricSpec("shared/metric", lambda t, p, task: 1.0, ("multiclass",), True, "clash"))
    """,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin-packages")
    misfits = write_package(
        root, "uspec-audit-misfits", "1.0", MISFITS, {name[:-3]: name[:-3] for name in MISFITS}
    )
    goodparts = write_package(root, "uspec-audit-goodparts", "2.5", GOODPARTS, {"goodparts": "parts"})
    return pip_install(root / "site", misfits, goodparts)


@pytest.fixture(scope="module")
def listing(site):
    result = uspec(site, "plugins", "--json")
    return result.returncode, json.loads(result.stdout), result


def _failures(listing, plugin: str) -> list[str]:
    return [f["error"] for f in listing[1]["failures"] if f["plugin"] == plugin]


def _components(listing) -> set[tuple[str, str, str]]:
    return {(c["family"], c["name"], c["plugin"]) for c in listing[1]["components"]}


def test_plugins_exits_3_and_still_lists_everything_else(listing):
    code, payload, _ = listing
    assert code == 3
    components = _components(listing)
    assert ("metric", "accuracy", "builtin") in components
    assert ("metric", "raising/kept", "raising") in components
    assert ("metric", "clasher/fine", "clasher") in components
    assert ("perturbation", "badspec/ok", "badspec") in components
    assert ("perturbation", "goodparts/global_rng", "goodparts") in components
    assert {"plugin": "goodparts", "package": "uspec-audit-goodparts", "version": "2.5"} in payload["plugins"]


def test_a_misspelled_hook_leaves_the_plugin_out_with_a_did_you_mean(listing):
    (error,) = _failures(listing, "typo")
    assert (
        "'uspec_audit_register_metric'" in error and "Did you mean 'uspec_audit_register_metrics'?" in error
    )
    assert "USPEC_AUDIT_DISABLE_PLUGINS=typo" in error and "uspec-audit-misfits 1.0" in error


def test_a_hook_without_hookimpl_and_one_with_the_wrong_argument_are_reported(listing):
    (undecorated,) = _failures(listing, "undecorated")
    assert "lacks the @uspec_audit.hookimpl decorator" in undecorated
    (badargs,) = _failures(listing, "badargs")
    assert "reg" in badargs and "every hook takes one argument, register" in badargs


def test_an_import_error_leaves_the_plugin_out(listing):
    (error,) = _failures(listing, "broken")
    assert "could not be imported" in error and "not_a_module_anywhere" in error


def test_a_raising_hook_loses_its_registrations_only(listing):
    errors = _failures(listing, "raising")
    assert any("database unreachable" in e and "raising/first" in e for e in errors)
    components = _components(listing)
    assert ("perturbation", "raising/first", "raising") not in components
    assert ("metric", "raising/kept", "raising") in components


def test_invalid_specs_are_left_out_one_by_one(listing):
    errors = " ".join(_failures(listing, "badspec"))
    assert "registered a MetricSpec 'badspec/wrong-type' through uspec_audit_register_perturbations" in errors
    assert "modality 'audio'" in errors and "'has space'" in errors
    assert ("perturbation", "badspec/ok", "badspec") in _components(listing)


def test_name_clashes(listing):
    components = _components(listing)
    clasher = " ".join(_failures(listing, "clasher"))
    # with a built-in: the built-in keeps the name, the plugin is told how to rename
    assert ("metric", "accuracy", "builtin") in components
    assert "built-in metric of that name" in clasher and "'clasher/accuracy'" in clasher
    # between two plugins: neither keeps it, both are named
    assert not any(name == "shared/metric" for _, name, _ in components)
    goodparts = " ".join(_failures(listing, "goodparts"))
    for text in (clasher, goodparts):
        assert "plugin 'clasher'" in text and "plugin 'goodparts'" in text and "neither is chosen" in text
    assert ("metric", "clasher/fine", "clasher") in components  # their other components stay


def test_the_disable_variable_switches_plugins_off(site):
    result = uspec(
        site,
        "plugins",
        "--json",
        USPEC_AUDIT_DISABLE_PLUGINS="typo,undecorated,badargs,broken,raising,clasher,badspec,goodparts",
    )
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["failures"] == []


@pytest.fixture
def world(tmp_path):
    return TinyAudit(tmp_path / "world")


def _use(world: TinyAudit, site, tests: str = "", command: str = "validate", **kwargs):
    audit = world.write_audit(tests, **kwargs)
    args = [command, audit] + (["--json"] if command == "run" else [])
    return world.cli(*args, env=site_env(site))


def test_an_audit_that_does_not_use_a_broken_plugin_validates_and_runs(world, site):
    validated = _use(world, site)
    assert validated.returncode == 0, validated.stderr
    assert "warning:" in validated.stderr and "typo" in validated.stderr  # said, but not fatal
    # the lines given follow the iid test's table: the plugin's components that were kept are usable
    ran = _use(world, site, 'metrics = ["accuracy", "clasher/fine", "raising/kept"]', command="run")
    assert ran.returncode == 0, ran.stderr
    assert set(ran.json["summary"][0]) and {"clasher/fine", "raising/kept"} <= {
        row["metric"] for row in ran.json["summary"]
    }


def test_an_audit_that_uses_a_left_out_component_says_which_plugin_failed_and_why(world, site):
    tests = """
        [[tests]]
        name = "p"
        kind = "perturbed"
        dataset = "test"
        perturbations = [{ name = "raising/first" }]
        """
    result = _use(world, site, tests)
    assert result.returncode == 3
    assert "unknown perturbation 'raising/first'" in result.stderr
    assert "raising/first" in result.stderr and "database unreachable" in result.stderr
    clash = _use(
        world,
        site,
        tests.replace("perturbed", "iid").replace(
            'perturbations = [{ name = "raising/first" }]', 'metrics = ["shared/metric"]'
        ),
    )
    assert clash.returncode == 3 and "neither is chosen silently" in clash.stderr


RUNTIME = {
    "loader raises": (
        '[ensembles.tiny]\nloader = "goodparts/failing"\nmembers = "models/member-*.onnx"\n'
        'task = "multiclass"\n',
        None,
        "",
        [
            "loader 'goodparts/failing' (plugin 'goodparts' (uspec-audit-goodparts 2.5))",
            "failed to load member 'member-0' of ensemble 'tiny'",
            "ValueError: no weights in member-0.onnx",
        ],
    ),
    "member lacks fingerprint": (
        '[ensembles.tiny]\nloader = "goodparts/noproto"\nmembers = "models/member-*.onnx"\n'
        'task = "multiclass"\n',
        None,
        "",
        [
            "loader 'goodparts/noproto' (plugin 'goodparts'",
            "ensemble 'tiny'",
            "does not follow the Member protocol",
            "it has no `fingerprint`",
        ],
    ),
    "reader lacks methods": (
        None,
        'source = "goodparts/incomplete"',
        "",
        [
            "dataset source 'goodparts/incomplete' (plugin 'goodparts'",
            "dataset 'test'",
            "it has no `iter_batches()` method",
            "it has no `content_hash()` method",
        ],
    ),
    "reader fails mid-stream": (
        None,
        'source = "goodparts/midstream"',
        "",
        [
            "dataset source 'goodparts/midstream' (plugin 'goodparts'",
            "failed reading dataset 'test'",
            "OSError: connection reset by peer",
        ],
    ),
    "metric raises": (
        None,
        None,
        'metrics = ["goodparts/boom"]',
        ["metric 'goodparts/boom' (plugin 'goodparts'", "test 'iid' of ensemble 'tiny'", "ZeroDivisionError"],
    ),
    "perturbation raises": (
        None,
        None,
        '\n[[tests]]\nname = "p"\nkind = "perturbed"\ndataset = "test"\n'
        'perturbations = [{ name = "goodparts/boom" }]\n',
        [
            "perturbation 'goodparts/boom' (plugin 'goodparts'",
            "dataset 'test'",
            "KeyError: 'missing lookup table'",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(RUNTIME))
def test_errors_inside_a_plugin_component_name_plugin_component_and_audit_key(world, site, case):
    ensembles, source, tests, expected = RUNTIME[case]
    datasets = world.dataset_table.replace('source = "parquet"', source) if source else None
    audit = world.write_audit(tests, ensembles=ensembles, datasets=datasets)  # `tests` follows the iid test
    result = world.cli("run", audit, env=site_env(site))
    assert result.returncode == 3, result.stderr
    message = " ".join(result.stderr.split())
    for part in expected:
        assert part in message, message
    assert "please report" not in message and "unexpected" not in message and "Traceback" not in message
    assert not (world.root / "results" / "tiny" / "manifest.json").exists()


def test_the_engine_warns_about_seeding_and_dtype_mistakes_on_the_first_batch(world, site):
    tests = """
        [[tests]]
        name = "p"
        kind = "perturbed"
        dataset = "test"
        perturbations = [{ name = "goodparts/global_rng" }, { name = "goodparts/unit_range" }]
        """
    result = world.run(tests, env=site_env(site))
    assert result.returncode == 0, result.stderr
    warnings = " ".join(result.json["warnings"])
    assert "perturbation 'goodparts/global_rng' (plugin 'goodparts'" in warnings
    assert "gave different outputs" in warnings
    assert "perturbation 'goodparts/unit_range'" in warnings and "dtype from uint8 to float64" in warnings
    assert "values in [0, 1]" in warnings
    assert any("goodparts" in note for note in result.manifest["notes"])  # in the manifest, for the reader
