"""Contracts never vanish: bad bounds fail validation with file:line, unverifiable bounds are FAIL rows,
and the exit code, the terminal report and report.md agree with contracts.parquet."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from builders import basic_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.config.models import Contract, StressTest
from uspec_audit.contracts import check_contracts

runner = CliRunner()


def _validate(path):
    return runner.invoke(app, ["validate", str(path)])


def _with_contract(world, folder, contract: str, kind: str = "shifted"):
    """The basic audit with ``contract`` on its shifted test (line of the contract returned too)."""
    path = basic_audit(world, folder)
    text = path.read_text()
    anchor = 'name = "shift"\nkind = "shifted"\ndataset = "shifted"\nmetrics = ["accuracy", "nll"]'
    assert anchor in text
    text = text.replace(
        anchor, anchor.replace('kind = "shifted"', f'kind = "{kind}"') + f"\ncontract = {contract}"
    )
    path.write_text(text)
    return path, text.splitlines().index(f"contract = {contract}") + 1


def test_misspelled_metric_is_an_error_with_line_and_suggestion(digits_world, tmp_path):
    path, line = _with_contract(digits_world, tmp_path, "{ min_mean = { acuracy = 0.5 } }")
    result = _validate(path)
    assert result.exit_code == 2, result.output
    assert f"audit.toml:{line}" in result.output
    assert "min_mean bounds metric 'acuracy'" in result.output and "Did you mean 'accuracy'" in result.output
    run = runner.invoke(app, ["run", str(path), "--no-reports"])
    assert run.exit_code == 2 and not (tmp_path / "results" / "manifest.json").exists()


def test_metric_the_test_does_not_compute_is_an_error(digits_world, tmp_path):
    path, line = _with_contract(
        digits_world, tmp_path, "{ max_sd = { ece = 0.1 }, min_worst = { auc = 0.9 } }"
    )
    result = _validate(path)
    assert result.exit_code == 2
    assert "max_sd bounds metric 'ece', which the test does not compute" in result.output
    assert (
        "min_worst bounds metric 'auc'" in result.output
        and "It computes (its `metrics`): accuracy, nll" in result.output
    )


def test_default_metrics_of_the_task_count_as_computed(digits_world, tmp_path):
    path, _ = _with_contract(digits_world, tmp_path, "{ max_sd = { brier = 0.5 } }")
    path.write_text(
        path.read_text().replace('dataset = "shifted"\nmetrics = ["accuracy", "nll"]', 'dataset = "shifted"')
    )
    assert _validate(path).exit_code == 0  # brier is a multiclass default


def test_bounds_on_statistics_the_test_cannot_have(digits_world, tmp_path):
    path, line = _with_contract(digits_world, tmp_path, "{ max_flip_rate = 0.2 }")
    result = _validate(path)
    assert result.exit_code == 2 and f"audit.toml:{line}" in result.output
    assert "max_flip_rate bounds the label flips of a contrastive test" in result.output
    (tmp_path / "iid").mkdir()
    path, _ = _with_contract(digits_world, tmp_path / "iid", "{ max_sd_ratio = 2.0 }", kind="iid")
    result = _validate(path)
    assert result.exit_code == 2 and "on the iid test itself the ratio is 1 by definition" in result.output


def test_unknown_statistic_is_an_error_with_suggestion(digits_world, tmp_path):
    path, line = _with_contract(digits_world, tmp_path, "{ max_sdratio = 2.0 }")
    result = _validate(path)
    assert result.exit_code == 2
    assert "max_sdratio" in result.output and "Did you mean 'max_sd_ratio'" in result.output


# ------------------------------------------------------------------ run time: a bound is never an absent row


def _summary(rows: list[dict]) -> pd.DataFrame:
    base = {
        "variant": "none",
        "stratum": "all",
        "sd_ratio": 1.0,
        "mean": 0.9,
        "sd": 0.01,
        "worst_value": 0.88,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_a_metric_without_rows_is_a_fail_row_with_the_reason():
    test = StressTest(name="shift", kind="shifted", dataset="d", contract=Contract(min_mean={"auc": 0.8}))
    summary = _summary([{"ensemble": "a", "test": "shift", "metric": "accuracy"}])
    out = check_contracts([test], summary, None, {"accuracy": True})
    assert len(out) == 1
    row = out.iloc[0]
    assert row["status"] == "FAIL" and row["metric"] == "auc" and np.isnan(row["observed"])
    assert "no 'auc' statistics" in row["message"] and "unverified" in row["message"]


def test_an_ensemble_without_rows_gets_fail_rows():
    test = StressTest(
        name="shift",
        kind="shifted",
        dataset="d",
        contract=Contract(max_sd_ratio=2.0, min_mean={"accuracy": 0.5}),
    )
    summary = _summary(
        [
            {"ensemble": "a", "test": "shift", "metric": "accuracy"},
            {"ensemble": "b", "test": "iid", "metric": "accuracy"},
        ]
    )
    out = check_contracts([test], summary, None, {"accuracy": True}, ensembles_of={"shift": ["a", "b"]})
    b = out[out["ensemble"] == "b"]
    assert sorted(b["contract"]) == ["max_sd_ratio", "min_mean"] and (b["status"] == "FAIL").all()
    assert (out[out["ensemble"] == "a"]["status"] == "PASS").all()
    # without ensembles_of, the ensembles of the summary are used: the same rows
    assert len(check_contracts([test], summary, None, {"accuracy": True})) == len(out)


def test_missing_flips_are_a_fail_row():
    test = StressTest(
        name="cf", kind="contrastive", dataset="d", link="set", contract=Contract(max_flip_rate=0.3)
    )
    summary = _summary([{"ensemble": "a", "test": "cf", "metric": "accuracy"}])
    for flips in (None, pd.DataFrame(columns=["ensemble", "test", "variant", "member", "kind", "value"])):
        out = check_contracts([test], summary, flips, {"accuracy": True})
        assert len(out) == 1 and out.iloc[0]["status"] == "FAIL" and "flips" in out.iloc[0]["message"]
    flips = pd.DataFrame(
        {
            "ensemble": "a",
            "test": "cf",
            "variant": "none",
            "member": ["m0", "m1"],
            "kind": "rate",
            "value": [0.1, 0.4],
        }
    )
    out = check_contracts([test], summary, flips, {"accuracy": True})
    assert list(out["status"]) == ["PASS", "FAIL"] and list(out["metric"]) == [
        "flip_rate[m0]",
        "flip_rate[m1]",
    ]


def test_nan_statistic_fails_and_min_worst_follows_the_metric_direction():
    test = StressTest(
        name="shift",
        kind="shifted",
        dataset="d",
        contract=Contract(max_sd={"accuracy": 0.1}, min_worst={"accuracy": 0.8, "nll": 0.5}),
    )
    summary = _summary(
        [
            {"ensemble": "a", "test": "shift", "metric": "accuracy", "sd": float("nan"), "worst_value": 0.85},
            {"ensemble": "a", "test": "shift", "metric": "nll", "worst_value": 0.6},
        ]
    )
    out = check_contracts([test], summary, None, {"accuracy": True, "nll": False}).set_index(
        ["contract", "metric"]
    )
    assert out.loc[("max_sd", "accuracy"), "status"] == "FAIL"
    assert "could not be computed" in out.loc[("max_sd", "accuracy"), "message"]
    assert out.loc[("min_worst", "accuracy"), "status"] == "PASS"  # 0.85 >= 0.8
    assert out.loc[("min_worst", "nll"), "status"] == "FAIL"  # lower is better: 0.6 > 0.5


# ------------------------------------------------------------------ exit code, terminal and report.md agree


@pytest.mark.parametrize("bound", ["0.99", "0.01"])
def test_exit_code_terminal_and_markdown_agree_with_contracts_parquet(digits_world, tmp_path, bound):
    path, _ = _with_contract(
        digits_world, tmp_path, f"{{ min_mean = {{ accuracy = {bound} }}, max_sd_ratio = 1000.0 }}"
    )
    path.write_text(path.read_text().replace("batch_size = 128", 'batch_size = 128\nreports = ["markdown"]'))
    result = runner.invoke(app, ["run", str(path)], env={"COLUMNS": "100"})
    contracts = pd.read_parquet(tmp_path / "results" / "contracts.parquet")
    failed, total = int((contracts["status"] == "FAIL").sum()), len(contracts)
    assert total == 3  # min_mean on accuracy, max_sd_ratio on accuracy and nll
    assert result.exit_code == (1 if failed else 0), result.output
    assert (failed > 0) == (bound == "0.99")
    text = re.sub(r"\s+", " ", result.output)
    assert (
        f"{failed} of {total} contract checks FAILED" if failed else f"all {total} contract checks PASS"
    ) in text
    markdown = (tmp_path / "results" / "report.md").read_text(encoding="utf-8")
    assert (f"{failed} of {total} contracts FAIL" if failed else f"All {total} contracts PASS") in markdown
    assert markdown.count("❌ FAIL") == failed and markdown.count("✅ PASS") == total - failed


def test_one_member_ensemble_fails_spread_bounds_instead_of_dropping_them(digits_world, tmp_path):
    path, _ = _with_contract(digits_world, tmp_path, "{ max_sd = { accuracy = 0.5 } }")
    path.write_text(path.read_text().replace("seed-*.onnx", "seed-0.onnx"))
    result = runner.invoke(app, ["run", str(path), "--no-reports"])
    assert result.exit_code == 1, result.output
    contracts = pd.read_parquet(tmp_path / "results" / "contracts.parquet")
    assert len(contracts) == 1 and contracts.iloc[0]["status"] == "FAIL"
    assert "could not be computed" in contracts.iloc[0]["message"]
