"""The issue's "done when": a third-party package written from docs/plugins.md alone -- a loader, a source with
its own options, a perturbation, a metric, a test kind that computes a statistic of its own and a report
section -- installs with pip and audits end to end.

The package is built from the guide's code blocks that start with a file name (``# pyproject.toml``,
``# src/uspec_audit_mypkg/linear.py``, ...): nothing else is added but the empty ``__init__.py`` the guide
asks for. A change to the guide that breaks its code fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plugin_packages import site_env

from uspec_audit.testing import TinyAudit

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```(?:python|toml)\n# ((?:src/\S+\.py)|pyproject\.toml)\n(.*?)^```", re.S | re.M)
FEATURES = [f"f{i}" for i in range(6)]


def guide_files() -> dict[str, str]:
    """File name -> text of every code block of the guide that starts with a file name (a later block of the
    same file replaces an earlier one: the quick start's plugin.py grows into the last one)."""
    files = {}
    for name, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        files[name] = body if name == "pyproject.toml" else f"# {name}\n{body}"
    return files


def test_the_guide_holds_a_whole_package():
    files = guide_files()
    assert set(files) == {
        "pyproject.toml",
        *(
            f"src/uspec_audit_mypkg/{m}.py"
            for m in ("plugin", "linear", "csv_source", "vignette", "metrics", "group_gap", "gap_section")
        ),
    }
    for name, text in files.items():
        if name.endswith(".py"):
            compile(text, name, "exec")  # every block is a whole, valid module


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package from the guide, pip-installed into a site folder (as the other plugin tests do)."""
    root = tmp_path_factory.mktemp("docs-plugin")
    project = root / "uspec-audit-mypkg"
    for name, text in guide_files().items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    (project / "src" / "uspec_audit_mypkg" / "__init__.py").write_text("")
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--target",
            str(site),
            str(project),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


def _uspec(site: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "uspec_audit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **site_env(site)},
        timeout=600,
    )


def _world(root: Path) -> tuple[TinyAudit, TinyAudit]:
    """Image data (Parquet, built-in source) and tabular data (a European CSV for mypkg/csv), each with three
    linear members saved as .npz for mypkg/linear."""
    images, tabular = TinyAudit(root / "img"), TinyAudit(root / "tab", modality="tabular")
    for world in (images, tabular):
        (world.root / "linear").mkdir()
        for index, (weight, bias) in enumerate(world.weights):
            np.savez(world.root / "linear" / f"member-{index}.npz", weight=weight, bias=bias)
    pd.DataFrame(tabular.inputs, columns=FEATURES).assign(
        id=np.arange(len(tabular.labels)), label=tabular.labels, site=tabular.sites
    ).to_csv(tabular.root / "data" / "clinic.csv", sep=";", decimal=",", index=False)
    return images, tabular


def _audit(root: Path, images: TinyAudit, tabular: TinyAudit, group_gap: str) -> Path:
    features = ", ".join(f'"{f}"' for f in FEATURES)
    text = f"""
[audit]
name = "docs"
seed = 3
output = "results/docs"
batch_size = 16
reports = ["html", "markdown"]

[ensembles.img]
loader = "mypkg/linear"
members = "{images.root}/linear/member-*.npz"
task = "multiclass"
preprocess = {{ layout = "NC", scale = 255.0 }}

[ensembles.tab]
loader = "mypkg/linear"
members = "{tabular.root}/linear/member-*.npz"
task = "multiclass"
preprocess = {{ layout = "NC" }}
options = {{ temperature = 2.0 }}

[datasets.pics]
source = "parquet"
path = "{images.data}"
input = "image"
shape = [8, 8, 3]
target = "label"
id = "id"
attributes = ["site"]

[datasets.clinic]
source = "mypkg/csv"
path = "{tabular.root}/data/clinic.csv"
features = [{features}]
target = "label"
id = "id"
attributes = ["site"]
options = {{ delimiter = ";", decimal = "," }}

[[tests]]
name = "iid-pics"
kind = "iid"
dataset = "pics"
ensembles = ["img"]
metrics = ["accuracy", "mypkg/error_rate"]

[[tests]]
name = "clinic-by-site"
kind = "stratified"
dataset = "clinic"
ensembles = ["tab"]
by = "site"
metrics = ["accuracy", "mypkg/error_rate"]
{group_gap}
"""
    path = root / "audit.toml"
    path.write_text(text, encoding="utf-8")
    return path


GROUP_GAP = """
[[tests]]
name = "vignette-by-site"
kind = "mypkg/group-gap"
dataset = "pics"
ensembles = ["img"]
by = "site"
perturbations = [{ name = "mypkg/vignette", severities = [1, 5] }]
metric = "accuracy"
metrics = ["accuracy", "mypkg/error_rate"]
"""


def test_the_guides_package_installs_and_audits_end_to_end(installed, tmp_path):
    listed = _uspec(installed, "plugins", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = {(c["family"], c["name"]) for c in json.loads(listed.stdout)["components"]}
    assert {
        ("loader", "mypkg/linear"),
        ("source", "mypkg/csv"),
        ("perturbation", "mypkg/vignette"),
        ("metric", "mypkg/error_rate"),
        ("test_kind", "mypkg/group-gap"),
        ("report_section", "mypkg/group-gap"),
    } <= names

    images, tabular = _world(tmp_path / "data")
    audit = _audit(tmp_path, images, tabular, GROUP_GAP)
    run = _uspec(installed, "run", audit, "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "results" / "docs"
    metrics = pd.read_parquet(out / "metrics.parquet")

    # the loader and the CSV source with its options: the linear members' own accuracy, recomputed here
    whole = metrics[(metrics["stratum"] == "all") & (metrics["variant"] == "none")]
    for ensemble, world, test, scale, temperature in (
        ("img", images, "iid-pics", 255.0, 1.0),
        ("tab", tabular, "clinic-by-site", 1.0, 2.0),
    ):
        x = world.inputs.reshape(len(world.inputs), -1) / scale
        for index, (weight, bias) in enumerate(world.weights):
            expected = float(np.mean(((x @ weight + bias) / temperature).argmax(axis=1) == world.labels))
            row = whole[
                (whole["ensemble"] == ensemble)
                & (whole["test"] == test)
                & (whole["member"] == f"member-{index}")
                & (whole["metric"] == "accuracy")
            ]
            assert row["value"].item() == pytest.approx(expected)
    pivot = whole.pivot_table(index=["ensemble", "test", "member"], columns="metric", values="value")
    assert np.allclose(pivot["accuracy"] + pivot["mypkg/error_rate"], 1.0)  # the metric

    # the kind: the perturbation composed with the split by site, and its own statistic
    mine = metrics[(metrics["test"] == "vignette-by-site") & (metrics["metric"] == "accuracy")]
    assert set(mine["variant"]) == {"none", "mypkg/vignette@1", "mypkg/vignette@5"}
    assert set(mine["stratum"]) == {"all"} | {f"site={s}" for s in set(images.sites)}
    summary = pd.read_parquet(out / "summary.parquet")
    assert {"mypkg/vignette@5"} <= set(summary.query("test == 'vignette-by-site'")["variant"])
    gaps = pd.read_parquet(out / "group_gap.parquet")
    assert len(gaps) == 3 * len(images.weights)
    strata = mine[mine["stratum"] != "all"]
    for row in gaps.itertuples():
        values = strata[(strata["variant"] == row.variant) & (strata["member"] == row.member)]["value"]
        assert row.gap == pytest.approx(values.max() - values.min())
    manifest = json.loads((out / "manifest.json").read_text())
    assert "group_gap.parquet" in {f["path"] for f in manifest["files"]}

    # the report section, with its figure, in the HTML report and in the Markdown report
    html = (out / "report.html").read_text()
    assert '<h2 id="mypkg/group-gap">6. Gap between groups</h2>' in html
    assert "Gap between groups per variant" in html and html.index("group-gap") < html.index(
        'id="limitations"'
    )
    assert "### Gap between groups" in (out / "report.md").read_text()


def test_the_guides_kind_reports_mistakes_at_their_line(installed, tmp_path):
    images, tabular = _world(tmp_path / "data")
    wrong = GROUP_GAP.replace('by = "site"', 'by = "sight"').replace(
        'metric = "accuracy"', 'metirc = "accuracy"'
    )
    audit = _audit(tmp_path, images, tabular, wrong)
    result = _uspec(installed, "validate", audit, cwd=tmp_path)
    stderr = " ".join(result.stderr.split())
    line = audit.read_text().splitlines().index('metirc = "accuracy"') + 1
    assert result.returncode == 2
    assert (
        f"{audit}:{line}: test 'vignette-by-site': unknown key 'tests[2].metirc' for a test of kind "
        f"'mypkg/group-gap'. Did you mean 'metric'?"
    ) in stderr
    fixed = _audit(tmp_path, images, tabular, GROUP_GAP.replace('by = "site"', 'by = "sight"'))
    result = _uspec(installed, "validate", fixed, cwd=tmp_path)
    stderr = " ".join(result.stderr.split())
    line = fixed.read_text().splitlines().index('by = "sight"') + 1
    assert result.returncode == 2
    assert (
        f"{fixed}:{line}: test 'vignette-by-site': 'sight' is not an attribute of dataset 'pics'." in stderr
    )
