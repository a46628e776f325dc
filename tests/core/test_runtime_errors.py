"""Run-time bad input: clear message, documented exit code, and no results folder that looks complete."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from builders import basic_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app

runner = CliRunner()


def _run(audit: Path, *extra: str):
    return runner.invoke(app, ["run", str(audit), "--no-reports", *extra])


def _assert_incomplete(folder: Path) -> None:
    assert not (folder / "results" / "manifest.json").exists()


def test_layout_mismatch_is_caught_before_the_run(digits_world, tmp_path):
    """The members' declared input is read from the ONNX file when the audit is checked: an audit-file error
    with its line, before any model loads (tests/core/test_layout.py has the cases)."""
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace('layout = "NCHW"', 'layout = "NC"'))
    result = _run(audit)
    assert result.exit_code == 2
    assert 'preprocess.layout = "NC"' in result.output and "audit.toml:" in result.output
    _assert_incomplete(tmp_path)


def test_nan_outputs_are_reported_per_member(digits_world, tmp_path):
    models = tmp_path / "nan-models"
    models.mkdir()
    for seed in range(2):
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
        if seed == 1:
            with torch.no_grad():
                net[1].bias[3] = float("nan")
        torch.onnx.export(
            net,
            torch.zeros(1, 1, 8, 8),
            str(models / f"m{seed}.onnx"),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}},
            dynamo=False,
        )
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(
        audit.read_text().replace(f"{digits_world.root / 'models'}/seed-*.onnx", f"{models}/m*.onnx")
    )
    result = _run(audit)
    assert result.exit_code == 3
    assert "member 'm1'" in result.output and "NaN" in result.output
    _assert_incomplete(tmp_path)


def test_labels_out_of_range(digits_world, tmp_path):
    bad = tmp_path / "bad.parquet"
    table = pq.read_table(digits_world.parquet)
    labels = table.column("label").to_numpy().copy()
    labels[:3] = 12
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels)), bad)
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace(str(digits_world.shifted_parquet), str(bad)))
    result = _run(audit)
    assert result.exit_code == 3 and "3 labels are outside the class range 0..9" in result.output
    _assert_incomplete(tmp_path)


def test_missing_stratum_values(digits_world, tmp_path):
    bad = tmp_path / "holes.parquet"
    table = pq.read_table(digits_world.parquet)
    ink = table.column("ink").to_pylist()
    ink[5] = None
    pq.write_table(table.set_column(table.schema.get_field_index("ink"), "ink", pa.array(ink)), bad)
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace(str(digits_world.parquet), str(bad)))
    result = _run(audit)
    assert (
        result.exit_code == 3 and "1 examples have no value for the stratification attribute" in result.output
    )


def test_one_member_ensemble_runs_with_null_spread(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(audit.read_text().replace("seed-*.onnx", "seed-0.onnx"))
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert any("one member" in w for w in payload["warnings"])
    import pandas as pd

    summary = pd.read_parquet(tmp_path / "results" / "summary.parquet")
    assert summary["sd"].isna().all() and summary["sd_ratio"].isna().all()


def test_corrupt_onnx_at_run_time(digits_world, tmp_path):
    models = tmp_path / "corrupt"
    models.mkdir()
    (models / "a.onnx").write_bytes(digits_world.onnx_members[0].read_bytes())
    (models / "b.onnx").write_bytes(b"\x08\x07garbage")
    audit = basic_audit(digits_world, tmp_path)
    audit.write_text(
        audit.read_text().replace(f"{digits_world.root / 'models'}/seed-*.onnx", f"{models}/*.onnx")
    )
    result = _run(audit)
    assert result.exit_code == 3 and "b.onnx: onnxruntime cannot load this model" in result.output
    _assert_incomplete(tmp_path)


def test_failed_run_leaves_previous_complete_results_untouched(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    assert _run(audit).exit_code == 0
    results = tmp_path / "results"
    before = {
        p.relative_to(results): p.read_bytes()
        for p in results.rglob("*")
        if p.is_file() and not p.name.startswith(".uspec-audit.")
    }
    bad = tmp_path / "bad-labels.parquet"  # a failure only the run can see: labels outside the class range
    table = pq.read_table(digits_world.shifted_parquet)
    labels = table.column("label").to_numpy().copy()
    labels[:3] = 12
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels)), bad)
    audit.write_text(audit.read_text().replace(str(digits_world.shifted_parquet), str(bad)))
    assert _run(audit).exit_code == 3
    after = {
        p.relative_to(results): p.read_bytes()
        for p in results.rglob("*")
        if p.is_file() and not p.name.startswith(".uspec-audit.")
    }
    assert after == before  # byte for byte, and no staging or temporary file left behind


def test_contract_failure_exit_code(digits_world, tmp_path):
    extra = 'contract = { min_mean = { accuracy = 0.99 }, max_sd_ratio = 1000.0, strata = "all" }'
    audit = basic_audit(digits_world, tmp_path, extra=extra)
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    statuses = {(r["contract"], r["status"]) for r in payload["contracts"]["rows"]}
    assert statuses == {("min_mean", "FAIL"), ("max_sd_ratio", "PASS")}
    assert (tmp_path / "results" / "manifest.json").exists()  # passing and failing results are both kept
