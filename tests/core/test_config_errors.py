"""Bad audit files: every one gives a clear message naming file, line and key, exit code 2, nothing written."""

from __future__ import annotations

import pytest
from builders import basic_audit, write_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.config.load import parse_audit
from uspec_audit.errors import AuditFileError

runner = CliRunner()


def _validate(path):
    return runner.invoke(app, ["validate", str(path)])


def test_valid_audit_passes(digits_world, tmp_path):
    result = _validate(basic_audit(digits_world, tmp_path))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_malformed_toml_names_the_line(tmp_path):
    path = write_audit(
        tmp_path / "bad.toml",
        """
        [audit]
        name = "x"
        seed = = 3
        """,
    )
    result = _validate(path)
    assert result.exit_code == 2
    assert "malformed TOML" in result.output and "line 3" in result.output and "bad.toml" in result.output
    assert "Traceback" not in result.output


def test_unknown_key_with_did_you_mean_and_line(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    text = path.read_text().replace('task = "multiclass"', 'task = "multiclass"\nouptut = "logits"')
    path.write_text(text)
    line = text.splitlines().index('ouptut = "logits"') + 1
    result = _validate(path)
    assert result.exit_code == 2
    assert f"audit.toml:{line}" in result.output
    assert "ensembles.linear.ouptut" in result.output and "Did you mean 'output'" in result.output


def test_wrong_type_names_key_path(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(path.read_text().replace("batch_size = 128", 'batch_size = "many"'))
    result = _validate(path)
    assert result.exit_code == 2
    assert "audit.batch_size" in result.output and "'many'" in result.output


def test_misspelled_registered_names_get_suggestions(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(
        path.read_text()
        .replace('kind = "stratified"', 'kind = "stratifed"')
        .replace('metrics = ["accuracy", "nll", "ece"]', 'metrics = ["acuracy"]')
    )
    result = _validate(path)
    assert result.exit_code == 2
    assert "unknown test kind 'stratifed'" in result.output and "Did you mean 'stratified'" in result.output
    assert "unknown metric 'acuracy'" in result.output and "Did you mean 'accuracy'" in result.output


def test_glob_matching_nothing(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(path.read_text().replace("seed-*.onnx", "nothing-*.onnx"))
    result = _validate(path)
    assert result.exit_code == 2 and "matches no file" in result.output


def test_missing_data_file(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(
        path.read_text().replace(str(digits_world.shifted_parquet), "/nonexistent/shifted.parquet")
    )
    result = _validate(path)
    assert result.exit_code == 2 and "/nonexistent/shifted.parquet does not exist" in result.output


def test_stratified_attribute_not_declared(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(path.read_text().replace('by = "ink"', 'by = "inc"'))
    result = _validate(path)
    assert (
        result.exit_code == 2
        and "'inc' is not an attribute" in result.output
        and "Did you mean 'ink'" in result.output
    )


def test_metric_for_wrong_task(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(path.read_text().replace('metrics = ["accuracy", "nll", "ece"]', 'metrics = ["mse"]'))
    result = _validate(path)
    assert result.exit_code == 2 and "does not apply to the multiclass task" in result.output


def test_invalid_perturbation_params_are_reported(digits_world, tmp_path):
    extra = """
        [[tests]]
        name = "noisy"
        kind = "perturbed"
        dataset = "test"
        perturbations = [{ name = "gaussian_noise", severities = [9] }]
    """
    result = _validate(basic_audit(digits_world, tmp_path, extra=extra))
    assert result.exit_code == 2 and "gaussian_noise" in result.output and "9" in result.output


def test_several_problems_reported_together(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(
        path.read_text().replace('loader = "onnx"', 'loader = "onnxx"').replace('by = "ink"', 'by = "inc"')
    )
    result = _validate(path)
    assert result.exit_code == 2
    assert "unknown loader 'onnxx'" in result.output and "'inc' is not an attribute" in result.output


def test_parse_error_is_audit_file_error(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("[audit]\nname = 'a'\n")
    with pytest.raises(AuditFileError, match="missing required key 'ensembles'"):
        parse_audit(path)


def test_missing_audit_file(tmp_path):
    result = _validate(tmp_path / "nope.toml")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_json_output_of_errors(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("[audit\n")
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 2
    import json

    payload = json.loads(result.output)
    assert payload["status"] == "error" and payload["exit_code"] == 2
