"""schemas/ is in sync with the code: a change to the audit models or a built-in's params fails here."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.config.schema import audit_schema
from uspec_audit.plugins import build_registry
from uspec_audit.results.catalog import RESULT_FILES, TABLES, report_tables
from uspec_audit.results.schemas import RESULTS_DOC, SCHEMA_DIR, results_markdown, schema_document

ROOT = Path(__file__).resolve().parents[2]


def test_audit_schema_file_matches_the_models():
    committed = json.loads((ROOT / "schemas" / "audit.schema.json").read_text())
    generated = json.loads(json.dumps(audit_schema(build_registry(load_entry_points=False))))
    assert committed == generated, (
        "schemas/audit.schema.json is stale: regenerate it with `python -m uspec_audit.config.schema`"
    )


def test_schema_command_prints_the_schema():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "uspec-audit audit file"
    assert "perturbation:gaussian_noise_tabular" in schema["$defs"]


def test_table_schemas_match_the_catalog():
    """One schema file per catalog table, each as the catalog declares it, and no other."""
    assert {p.name for p in SCHEMA_DIR.glob("*.schema.json")} == {f"{t}.schema.json" for t in TABLES}
    for table in TABLES:
        committed = json.loads((SCHEMA_DIR / f"{table}.schema.json").read_text())
        assert committed == schema_document(table), (
            f"schemas/tables/{table}.schema.json is stale: regenerate with `python -m uspec_audit.results.schemas`"
        )


def test_results_document_matches_the_catalog():
    assert RESULTS_DOC.read_text(encoding="utf-8") == results_markdown(), (
        "docs/results.md is stale: regenerate it with `python -m uspec_audit.results.schemas`"
    )
    for table in TABLES.values():  # every column, with its description, is in the document
        for column in table.columns:
            assert f"| `{column.name}` |" in results_markdown()


def test_readme_lists_every_result_table():
    """The README's Results section names every table's file and points to docs/results.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Results\n") :]
    section = section[: section.index("\n## ", 1)]
    missing = [t.file for t in TABLES.values() if f"`{t.file}`" not in section]
    assert not missing, f"README's Results section does not name {missing}"
    assert "docs/results.md" in section


def test_result_files_and_report_tables_come_from_the_catalog():
    from uspec_audit.report import tables as report

    assert RESULT_FILES == tuple(f"{t}.parquet" for t in TABLES if t != "predictions")
    assert (report.REQUIRED, report.OPTIONAL) == (report_tables("required"), report_tables("optional"))
    assert report.REQUIRED == ("metrics", "summary")


def test_shipped_audits_validate_against_the_json_schema():
    import tomllib

    import jsonschema

    schema = json.loads((ROOT / "schemas" / "audit.schema.json").read_text())
    for path in sorted((ROOT / "audits").glob("*.toml")):
        jsonschema.validate(tomllib.loads(path.read_text()), schema)


def test_a_table_that_differs_from_the_catalog_is_never_written(tmp_path):
    import numpy as np
    import pandas as pd
    import pytest

    from uspec_audit.results.writer import check_result_tables, write_result_table

    row = {
        "ensemble": "e",
        "test": "t",
        "variant": "none",
        "stratum": "all",
        "metric": "accuracy",
        "contract": "min_mean",
        "bound": 0.5,
        "observed": 0.7,
        "status": "PASS",
        "message": "ok",
    }
    good = pd.DataFrame([row])
    write_result_table("contracts", good, tmp_path / "contracts.parquet")
    assert pd.read_parquet(tmp_path / "contracts.parquet").equals(good)
    for bad, why in (
        (good.drop(columns=["message"]), "differ from the catalog"),
        (good[list(reversed(good.columns))], "differ from the catalog"),
        (good.assign(bound="0.5"), "column 'bound' is .*string, the catalog says double"),
    ):
        with pytest.raises(ValueError, match=why):
            write_result_table("contracts", bad, tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="not a table of the catalog"):
        write_result_table("contract", good, tmp_path / "bad.parquet")
    check_result_tables({"contracts": good})  # what a run checks before storing or writing its tables
    with pytest.raises(ValueError, match="differ from the catalog"):
        check_result_tables({"contracts": good.drop(columns=["message"])})
    predictions = pd.DataFrame(
        {"member": ["a"], "example_id": [1], "target": [2.0], "prediction": [np.float64(1.5)]}
    )
    write_result_table("predictions", predictions, tmp_path / "part-0.parquet")  # regression: a subsequence
    # example ids are the dataset's own: a plugin source's float ids are written as they are
    write_result_table("predictions", predictions.assign(example_id=[1.5]), tmp_path / "part-0.parquet")
    with pytest.raises(ValueError, match="in its order"):
        write_result_table(
            "predictions",
            predictions[["example_id", "member", "target", "prediction"]],
            tmp_path / "bad.parquet",
        )
    assert not (tmp_path / "bad.parquet").exists()
