"""The template plugin's own tests, written with uspec_audit.testing (run after `pip install ./plugins/template`).

Copy them with the plugin: each check runs a component the way an audit does, and the last tests run real
audits end to end with the `uspec_tiny_audit` fixtures that come with uspec-audit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uspec_audit.testing import (
    ComponentCheckError,
    TinyAudit,
    check_loader,
    check_metric,
    check_perturbation,
    check_plugin,
    check_source,
)

FEATURES = [f"f{i}" for i in range(6)]


def test_the_plugin_registers_every_component():
    names = {(c.family, c.name) for c in check_plugin("template")}
    assert names == {
        ("perturbation", "template/vignette"),
        ("metric", "template/error_rate"),
        ("loader", "template/linear"),
        ("source", "template/csv"),
        ("test_kind", "template/group-gap"),
        ("report_section", "template/group-gap"),
    }


def test_vignette_keeps_shape_dtype_seeding_and_grows_with_severity(tmp_path):
    images = TinyAudit(tmp_path).inputs  # 60 RGB images, uint8
    report = check_perturbation("template/vignette", images, params={"radius": 0.8}, value_range=(0, 255))
    change = list(report.change.values())
    assert change == sorted(change) and change[0] > 0  # darker corners at every higher severity


def test_the_kit_catches_a_vignette_that_forgets_the_dtype(tmp_path):
    from uspec_audit_template.vignette import vignette

    from uspec_audit import PerturbationSpec

    def in_unit_range(images, ctx):  # the classic mistake: floats in [0, 1] for uint8 images
        return vignette(images, ctx) / 255.0

    spec = PerturbationSpec("mine/vignette01", in_unit_range, "image", "wrong scale", severities=(1, 5))
    with pytest.raises(ComponentCheckError, match="dtype from uint8 to float64"):
        check_perturbation(spec, TinyAudit(tmp_path).inputs)


def test_error_rate_agrees_with_a_hand_count():
    target = np.array([0, 1, 2, 1])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.2, 0.5, 0.3]])
    assert check_metric("template/error_rate", target, probabilities, expected=1 / 4) == 0.25


def _linear_members(world: TinyAudit, folder) -> list:
    folder.mkdir()
    paths = []
    for index, (weight, bias) in enumerate(world.weights):
        paths.append(folder / f"member-{index}.npz")
        np.savez(paths[-1], weight=weight, bias=bias)
    return paths


def _european_csv(world: TinyAudit, path) -> None:
    frame = pd.DataFrame(world.inputs, columns=FEATURES).assign(
        id=np.arange(len(world.labels)), label=world.labels, site=world.sites
    )
    frame.to_csv(path, sep=";", decimal=",", index=False)


def test_linear_loader_predicts_like_the_onnx_members(tmp_path):
    world = TinyAudit(tmp_path / "world", modality="tabular")
    path = _linear_members(world, tmp_path / "linear")[0]
    member = check_loader("template/linear", path, options={"temperature": 2.0}, inputs=world.model_inputs())
    weight, bias = world.weights[0]
    np.testing.assert_allclose(
        member.predict(world.model_inputs()), (world.model_inputs() @ weight + bias) / 2, rtol=1e-5
    )


def test_csv_source_reads_european_csv(tmp_path):
    world = TinyAudit(tmp_path / "world", modality="tabular")
    _european_csv(world, tmp_path / "test.csv")
    table = {
        "path": "test.csv",
        "features": FEATURES,
        "target": "label",
        "id": "id",
        "attributes": ["site"],
        "options": {"delimiter": ";", "decimal": ","},
    }
    reader = check_source("template/csv", table, base_dir=tmp_path)
    assert reader.num_examples == len(world.labels)
    with pytest.raises(ComponentCheckError, match="has no option 'delimeter'. Did you mean 'delimiter'"):
        check_source("template/csv", {**table, "options": {"delimeter": ";"}}, base_dir=tmp_path)


def test_every_component_in_one_audit(uspec_tiny_tabular_audit):
    """The template's loader and source beside the built-in ONNX loader and Parquet source, on the same
    members and data: the accuracies must agree member by member, and error_rate must be 1 - accuracy."""
    world = uspec_tiny_tabular_audit
    _linear_members(world, world.root / "linear")
    _european_csv(world, world.root / "data" / "test.csv")
    features = ", ".join(f'"{f}"' for f in FEATURES)
    run = world.run(
        """
        [[tests]]
        name = "csv-by-site"
        kind = "stratified"
        dataset = "csv"
        by = "site"
        metrics = ["accuracy", "template/error_rate"]
        """,
        ensembles=world.ensemble_table
        + """
        [ensembles.linear]
        loader = "template/linear"
        members = "linear/member-*.npz"
        task = "multiclass"
        options = { temperature = 2.0 }
        """,
        datasets=world.dataset_table
        + f"""
        [datasets.csv]
        source = "template/csv"
        path = "data/test.csv"
        features = [{features}]
        target = "label"
        id = "id"
        attributes = ["site"]
        options = {{ delimiter = ";", decimal = "," }}
        """,
    ).ok()
    metrics = run.table("metrics").query("stratum == 'all'")
    accuracy = metrics.query("metric == 'accuracy'").pivot_table(
        index="member", columns=["ensemble", "test"], values="value"
    )
    assert np.allclose(accuracy[("tiny", "iid")], accuracy[("linear", "csv-by-site")])
    pivot = metrics.query("test == 'csv-by-site'").pivot_table(
        index=["ensemble", "member"], columns="metric", values="value"
    )
    assert np.allclose(pivot["accuracy"] + pivot["template/error_rate"], 1.0)


def test_vignette_in_an_audit(uspec_tiny_audit):
    run = uspec_tiny_audit.run("""
        [[tests]]
        name = "vignetted"
        kind = "perturbed"
        dataset = "test"
        perturbations = [{ name = "template/vignette", severities = [1, 5] }]
        """).ok()
    assert run.json["warnings"] == []  # the engine's first-batch checks found nothing to say
    assert set(run.table("metrics").query("test == 'vignetted'")["variant"]) == {
        "template/vignette@1",
        "template/vignette@5",
    }


GROUP_GAP_TEST = """
    [[tests]]
    name = "vignette-by-site"
    kind = "template/group-gap"
    dataset = "test"
    by = "site"
    perturbations = [{ name = "template/vignette", severities = [1, 5] }]
    metric = "accuracy"
    metrics = ["accuracy", "nll"]
    """


def test_group_gap_kind_in_an_audit(uspec_tiny_audit):
    """The kind composes the perturbation with the split by site, and its own table agrees with the per-site
    accuracies of the metrics table, recomputed here by hand."""
    run = uspec_tiny_audit.run(GROUP_GAP_TEST, reports=True).ok()
    metrics = run.table("metrics").query("test == 'vignette-by-site' and metric == 'accuracy'")
    assert set(metrics["variant"]) == {"none", "template/vignette@1", "template/vignette@5"}
    assert set(metrics["stratum"]) == {"all"} | {f"site={s}" for s in set(uspec_tiny_audit.sites)}
    gaps = run.table("group_gap")
    strata = metrics[metrics["stratum"] != "all"]
    for row in gaps.itertuples():
        values = strata[(strata["variant"] == row.variant) & (strata["member"] == row.member)]["value"]
        assert row.gap == pytest.approx(values.max() - values.min())
        assert row.worst_value == pytest.approx(values.min())
        unperturbed = gaps[(gaps["variant"] == "none") & (gaps["member"] == row.member)]["gap"].iloc[0]
        assert row.gap_change == pytest.approx(row.gap - unperturbed)
    assert len(gaps) == 3 * len(set(metrics["member"]))
    report = (run.output / "report.md").read_text()
    assert "### Gap between groups" in report and "template/vignette@5" in report


def test_group_gap_mistakes_are_reported_with_file_and_line(uspec_tiny_audit):
    wrong = GROUP_GAP_TEST.replace('by = "site"', 'by = "sight"').replace(
        'metric = "accuracy"', 'metirc = "nll"'
    )
    result = uspec_tiny_audit.validate(wrong)
    assert result.returncode == 2
    stderr = " ".join(result.stderr.split())
    assert (
        "unknown key 'tests[1].metirc' for a test of kind 'template/group-gap'. Did you mean 'metric'?"
        in stderr
    )
    result = uspec_tiny_audit.validate(GROUP_GAP_TEST.replace('by = "site"', 'by = "sight"'))
    stderr = " ".join(result.stderr.split())
    assert (
        result.returncode == 2
        and "'sight' is not an attribute of dataset 'test'. Did you mean 'site'?" in stderr
    )
    assert "audit.toml:" in stderr
