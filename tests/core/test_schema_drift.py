"""schemas/ is in sync with the code: a change to the audit models or a built-in's params fails here."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.config.schema import audit_schema
from uspec_audit.plugins import build_registry
from uspec_audit.results.schemas import CORE_TABLES, SCHEMA_DIR, schema_document

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


def test_core_table_schemas_match_the_code():
    for table, columns in CORE_TABLES.items():
        committed = json.loads((SCHEMA_DIR / f"{table}.schema.json").read_text())
        assert committed == schema_document(table, columns), table


def test_shipped_audits_validate_against_the_json_schema():
    import tomllib

    import jsonschema

    schema = json.loads((ROOT / "schemas" / "audit.schema.json").read_text())
    for path in sorted((ROOT / "audits").glob("*.toml")):
        jsonschema.validate(tomllib.loads(path.read_text()), schema)

