"""Test kinds are components: the built-in kinds come through the plugin hook, own their keys (validated with
file:line), and a kind's variants, strata and tables pass through the one path every kind takes; report
sections likewise. Runs use real ONNX members and Parquet data (uspec_audit.testing.TinyAudit), in-process
with a registry that holds a test-only kind."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from uspec_audit import (
    PluginError,
    Problem,
    ReportSectionSpec,
    Strata,
    TestKindSpec,
    Variant,
)
from uspec_audit.components import Registered
from uspec_audit.config.schema import audit_schema
from uspec_audit.errors import AuditFileError
from uspec_audit.kinds import contrastive, iid, perturbed, shifted, stratified
from uspec_audit.pipeline.run import RunOptions, execute_audit
from uspec_audit.plugins import build_registry
from uspec_audit.report.html import build_html
from uspec_audit.report.tables import load_results
from uspec_audit.testing import TinyAudit
from uspec_audit.validation import load_audit

PACKAGE = Path(__file__).resolve().parents[2] / "uspec_audit"


def _with(registry, family: str, spec) -> object:
    """The registry plus ``spec``, registered as the test plugin 'mine' would."""
    registry.components[family][spec.name] = Registered(
        family, spec.name, spec, "mine", "uspec-audit-mine", "1.0"
    )
    return registry


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TinyAudit:
    return TinyAudit(tmp_path_factory.mktemp("kinds"))


def test_builtin_kinds_are_the_kinds_modules_registered_through_the_hook():
    registry = build_registry(load_entry_points=False)
    for module in (iid, stratified, shifted, perturbed, contrastive):
        record = registry.record("test_kind", module.KIND.name)
        assert record.spec is module.KIND and record.builtin
    assert registry.get("test_kind", "iid").reference and not registry.get("test_kind", "shifted").reference
    assert registry.get("test_kind", "contrastive").produces == ("flips",)


def test_no_kind_is_named_outside_its_module():
    """Engine, statistics, config and contracts never branch on a kind's name; the report reads the kind
    names written into the results (labels of the tables), so it is the one layer left out of the scan."""
    pattern = re.compile(
        r"""(==|!=|\bin\b)\s*[\(\[\{]?\s*["'](iid|stratified|shifted|perturbed|contrastive)["']"""
    )
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("kinds/", "report/")):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and "kind" in line:
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


def _check(world: TinyAudit, tests: str, registry=None) -> str:
    path = world.write_audit(tests)
    with pytest.raises(AuditFileError) as error:
        load_audit(path, registry or build_registry(load_entry_points=False))
    return str(error.value)


def test_a_kinds_keys_belong_to_it(world):
    text = world.audit_text('[[tests]]\nname = "s"\nkind = "shifted"\ndataset = "test"\nby = "site"\n')
    line = text.splitlines().index('by = "site"') + 1
    message = _check(world, '[[tests]]\nname = "s"\nkind = "shifted"\ndataset = "test"\nby = "site"\n')
    assert f"audit.toml:{line}: test 's': unknown key 'tests[1].by' for a test of kind 'shifted'." in message
    message = _check(world, '[[tests]]\nname = "s"\nkind = "stratified"\ndataset = "test"\nbyy = "site"\n')
    assert "unknown key 'tests[1].byy' for a test of kind 'stratified'. Did you mean 'by'?" in message
    message = _check(world, '[[tests]]\nname = "s"\nkind = "stratified"\ndataset = "test"\n')
    assert "a stratified test needs 'tests[1].by'" in message
    message = _check(world, '[[tests]]\nname = "p"\nkind = "perturbed"\ndataset = "test"\n')
    assert "a perturbed test needs `suite` or `perturbations`" in message
    message = _check(
        world,
        '[[tests]]\nname = "p"\nkind = "perturbed"\ndataset = "test"\n'
        'perturbations = [{ name = "gausian_noise" }]\n',
    )
    assert "unknown perturbation 'gausian_noise'. Did you mean 'gaussian_noise'?" in message


def test_a_plugin_kind_without_parameters_refuses_perturbations(world):
    """The issue's case: a plugin kind given `perturbations` used to validate and run unperturbed."""
    registry = _with(
        build_registry(load_entry_points=False), "test_kind", TestKindSpec("mine/plain", "plain")
    )
    message = _check(
        world,
        '[[tests]]\nname = "m"\nkind = "mine/plain"\ndataset = "test"\n'
        'perturbations = [{ name = "gaussian_noise" }]\n',
        registry,
    )
    assert "unknown key 'tests[1].perturbations' for a test of kind 'mine/plain'" in message


class _Every(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every: int = 2


def _every_other(request):
    """A kind of its own: strata by parity of the example id, and a table of the mean accuracy per stratum."""
    return [Problem("every must be 2 or more", ("every",))] if request.params.every < 2 else []


def _tables(request):
    m = request.metrics
    part = m[m["test"].isin([t.name for t in request.tests]) & (m["metric"] == "accuracy")]
    return {"mine_strata": part.groupby(["test", "variant", "stratum"], as_index=False)["value"].mean()}


EVERY = TestKindSpec(
    "mine/every",
    "strata by site, under a noise",
    params=_Every,
    check=_every_other,
    variants=lambda request: [Variant(), Variant("gaussian_noise", 1)],
    strata=lambda params: Strata(("site",)),
    tables=_tables,
    produces=("mine_strata",),
)
EVERY_TEST = (
    '[[tests]]\nname = "m"\nkind = "mine/every"\ndataset = "test"\nevery = 3\nmetrics = ["accuracy"]\n'
)


def test_a_plugin_kinds_variants_strata_and_tables_run_like_a_builtins(world, tmp_path):
    registry = _with(build_registry(load_entry_points=False), "test_kind", EVERY)
    checked = load_audit(world.write_audit(EVERY_TEST), registry)
    assert [t.variants for t in checked.tests if t.name == "m"] == [(Variant(), Variant("gaussian_noise", 1))]
    outcome = execute_audit(checked, registry, RunOptions(output=tmp_path / "out", reports=set()))
    metrics = outcome.tables["metrics"].query("test == 'm'")
    assert set(metrics["variant"]) == {"none", "gaussian_noise@1"}
    assert set(metrics["stratum"]) == {"all"} | {f"site={s}" for s in set(world.sites)}
    assert set(outcome.tables["summary"].query("test == 'm'")["stratum"]) == set(metrics["stratum"])
    table = pd.read_parquet(tmp_path / "out" / "mine_strata.parquet")
    expected = metrics.groupby(["test", "variant", "stratum"], as_index=False)["value"].mean()
    pd.testing.assert_frame_equal(table, expected)
    assert (
        _check(world, EVERY_TEST.replace("every = 3", "every = 1"), registry).count("every must be 2 or more")
        == 1
    )


@pytest.mark.parametrize(
    "tables, expected",
    [
        (lambda request: {"mine_x": 3}, "table 'mine_x' is a int, not a pandas DataFrame"),
        (lambda request: {"summary": pd.DataFrame()}, "table 'summary' is a table of the statistics"),
        (lambda request: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_a_kinds_broken_tables_name_the_plugin(world, tmp_path, tables, expected):
    registry = _with(build_registry(load_entry_points=False), "test_kind", replace(EVERY, tables=tables))
    checked = load_audit(world.write_audit(EVERY_TEST), registry)
    with pytest.raises(PluginError) as error:
        execute_audit(checked, registry, RunOptions(output=tmp_path / "out", reports=set()))
    assert "test kind 'mine/every' (plugin 'mine' (uspec-audit-mine 1.0))" in str(error.value)
    assert expected in str(error.value)
    assert not (tmp_path / "out" / "manifest.json").exists()  # nothing that looks complete


def test_report_sections_come_from_the_registry_and_a_broken_one_stays_local(world, tmp_path):
    registry = build_registry(load_entry_points=False)
    checked = load_audit(world.write_audit(""), registry)
    execute_audit(checked, registry, RunOptions(output=tmp_path / "out", reports=set()))
    results = load_results(tmp_path / "out")
    plain = build_html(results, registry=registry).html
    assert [m for m in re.findall(r'<h2 id="([^"]+)"', plain)] == [
        "summary",
        "scope",
        "methods",
        "ensembles",
        "tests",
        "limitations",
        "repro",
    ]

    def good(request):
        n = len(request.results.table("metrics"))
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, n])
        return (
            request.heading()
            + request.table(["rows"], [[n]])
            + request.figure(fig, title="Rows", alt="a line")
        )

    _with(registry, "report_section", ReportSectionSpec("mine/rows", "Rows <&>", good))
    _with(
        registry,
        "report_section",
        ReportSectionSpec("mine/broken", "Broken", lambda request: 1 / 0, order=65),
    )
    html = build_html(results, registry=registry).html
    assert re.findall(r'<h2 id="([^"]+)"', html) == [
        "summary",
        "scope",
        "methods",
        "ensembles",
        "tests",
        "mine/rows",
        "mine/broken",
        "limitations",
        "repro",
    ]
    assert (
        '<h2 id="mine/rows">6. Rows &lt;&amp;&gt;</h2>' in html
        and '<h2 id="limitations">8. Limitations' in html
    )
    assert (
        "report section 'mine/broken' (plugin 'mine' (uspec-audit-mine 1.0)) failed: ZeroDivisionError"
        in unescape(html)
    )
    assert html.count("<figure") == plain.count("<figure") + 1


def test_the_schema_holds_each_kinds_keys():
    schema = audit_schema(build_registry(load_entry_points=False))
    assert set(schema["$defs"]["test_kind:stratified"]["properties"]) == {
        "by",
        "min_stratum_size",
        "max_strata",
    }
    audit = {
        "audit": {"name": "a"},
        "ensembles": {"e": {"members": "m", "task": "binary"}},
        "datasets": {"d": {"source": "npz", "path": "d"}},
        "tests": [{"name": "s", "kind": "stratified", "dataset": "d", "by": "site"}],
    }
    jsonschema.validate(audit, schema)
    for wrong in (
        {"kind": "iid", "by": "site"},
        {"kind": "stratified"},
        {"kind": "stratified", "by": "x", "bi": 1},
    ):
        bad = {**audit, "tests": [{"name": "s", "dataset": "d", **wrong}]}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_a_kinds_strata_bounds_reach_the_run(world, tmp_path):
    """Strata(min_size, max_count) from the stratified kind's params: the measure stage refuses a small
    stratum and the strata check a test with too many strata, each naming the test."""
    from uspec_audit.errors import RunError

    registry = build_registry(load_entry_points=False)
    small = (
        '[[tests]]\nname = "s"\nkind = "stratified"\ndataset = "test"\nby = "site"\nmin_stratum_size = 1000\n'
    )
    checked = load_audit(world.write_audit(small), registry)
    assert checked.test("s").strata == Strata(("site",), 1000, 100)
    with pytest.raises(
        RunError, match=r"stratum 'site=\w+' has \d+ examples, fewer than min_stratum_size = 1000"
    ):
        execute_audit(checked, registry, RunOptions(output=tmp_path / "small", reports=set()))
    many = small.replace("min_stratum_size = 1000", "max_strata = 1")
    with pytest.raises(AuditFileError, match="more than max_strata = 1"):
        execute_audit(
            load_audit(world.write_audit(many), registry),
            registry,
            RunOptions(output=tmp_path / "many", reports=set()),
        )


def test_what_a_kind_says_decides_the_differences(world, tmp_path):
    """compare_with_reference: a stratified test's whole test is the reference's own examples, so the
    differences table compares only the other tests with the reference; the kinds say so, not their names."""
    registry = build_registry(load_entry_points=False)
    tests = (
        '[[tests]]\nname = "s"\nkind = "stratified"\ndataset = "test"\nby = "site"\nmetrics = ["accuracy"]\n'
        '[[tests]]\nname = "noisy"\nkind = "perturbed"\ndataset = "test"\nmetrics = ["accuracy"]\n'
        'perturbations = [{ name = "gaussian_noise", severities = [1] }]\n'
    )
    outcome = execute_audit(
        load_audit(world.write_audit(tests), registry),
        registry,
        RunOptions(output=tmp_path / "out", reports=set()),
    )
    compared = outcome.tables["differences"].query("comparison == 'test_vs_reference'")
    assert set(compared["test_a"]) == {"noisy"} and set(compared["test_b"]) == {"iid"}
