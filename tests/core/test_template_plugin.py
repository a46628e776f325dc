"""plugins/template is pip-installed for real; its components appear and work from an audit file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from builders import basic_audit

TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "template"
USE_TEMPLATE = """
        [[tests]]
        name = "vignetted"
        kind = "perturbed"
        dataset = "test"
        metrics = ["accuracy", "template/error_rate"]
        perturbations = [{ name = "template/vignette", severities = [1, 5], params = { radius = 0.8 } }]
"""


@pytest.fixture(scope="module")
def template_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("template-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(TEMPLATE),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    return subprocess.run(
        [sys.executable, "-m", "uspec_audit", *args], capture_output=True, text=True, env=env
    )


def test_installed_template_components_are_listed(template_site):
    listed = _cli(template_site, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    components = {(c["family"], c["name"]): c for c in json.loads(listed.stdout)["components"]}
    vignette = components[("perturbation", "template/vignette")]
    assert vignette["plugin"] == "template" and vignette["package"] == "uspec-audit-template"
    assert vignette["version"] == "0.3.0"
    assert {
        ("metric", "template/error_rate"),
        ("loader", "template/linear"),
        ("source", "template/csv"),
        ("test_kind", "template/group-gap"),
        ("report_section", "template/group-gap"),
    } <= set(components)


def test_template_components_run_from_an_audit(template_site, digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path, extra=USE_TEMPLATE)
    result = _cli(template_site, "run", str(audit), "--no-reports", "--json")
    assert result.returncode == 0, result.stderr
    metrics = pd.read_parquet(tmp_path / "results" / "metrics.parquet")
    rows = metrics.query("test == 'vignetted' and stratum == 'all'")
    assert set(rows["variant"]) == {"template/vignette@1", "template/vignette@5"}
    pivot = rows.pivot_table(index=["member", "variant"], columns="metric", values="value")
    assert ((pivot["accuracy"] + pivot["template/error_rate"]) - 1).abs().max() < 1e-12


def test_template_params_are_validated(template_site, digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path, extra=USE_TEMPLATE.replace("radius = 0.8", "radius = 5.0"))
    result = _cli(template_site, "validate", str(audit))
    assert result.returncode == 2 and "template/vignette" in result.stderr and "radius" in result.stderr


def test_template_params_and_options_join_the_schema(template_site):
    result = _cli(template_site, "schema")
    schema = json.loads(result.stdout)
    assert {"perturbation:template/vignette", "loader:template/linear", "source:template/csv"} <= set(
        schema["$defs"]
    )
    assert set(schema["$defs"]["source:template/csv"]["properties"]) == {"delimiter", "decimal", "encoding"}


def test_template_source_options_are_validated(template_site, digits_world, tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("a;label\n1,5;0\n")
    audit = basic_audit(
        digits_world,
        tmp_path,
        extra=f"""
        [[tests]]
        name = "from-csv"
        kind = "shifted"
        dataset = "csv"

        [datasets.csv]
        source = "template/csv"
        path = "{csv}"
        features = ["a"]
        options = {{ delimiter = ";;" }}
""",
    )
    result = _cli(template_site, "validate", str(audit))
    said = " ".join(result.stderr.split())
    assert (
        result.returncode == 2
        and "dataset 'csv': options.delimiter:" in said
        and "at most 1 character" in said
    )
