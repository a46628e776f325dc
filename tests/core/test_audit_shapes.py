"""Audit-file shapes end to end: members as tables with groups, combined strata, image folders, npz."""

from __future__ import annotations

import numpy as np
import pandas as pd
from builders import write_audit
from scipy import stats as sps
from typer.testing import CliRunner

from uspec_audit.cli.app import app


def test_member_tables_groups_combined_strata_and_sources(digits_world, tmp_path):
    models = digits_world.root / "models"
    member_tables = "\n".join(
        f'[[ensembles.nested.member]]\npath = "{models}/seed-{i}.onnx"\nname = "m{i}"\ngroup = "g{i // 2}"\n'
        for i in range(4)
    )
    audit = write_audit(
        tmp_path / "audit.toml",
        f"""
        [audit]
        name = "shapes"
        seed = 11
        output = "{tmp_path / "results"}"

        [ensembles.nested]
        task = "multiclass"
        preprocess = {{ layout = "NCHW", scale = 255.0 }}
        """
        + member_tables
        + f"""
        [datasets.test]
        source = "npz"
        path = "{digits_world.npz}"
        id = "id"
        attributes = ["ink"]

        [datasets.folder]
        source = "images"
        path = "{digits_world.image_folder}"
        table = "{digits_world.image_table}"
        attributes = ["ink"]

        [datasets.parquet]
        source = "parquet"
        path = "{digits_world.parquet}"
        id = "id"
        attributes = ["ink", "parity"]

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy"]

        [[tests]]
        name = "ink-parity"
        kind = "stratified"
        dataset = "parquet"
        by = ["ink", "parity"]
        metrics = ["accuracy"]

        [[tests]]
        name = "folder"
        kind = "shifted"
        dataset = "folder"
        metrics = ["accuracy"]

        [analysis]
        permutations = 100
        bootstrap = 50
        member_bootstrap = 50
        """,
    )
    result = CliRunner().invoke(app, ["run", str(audit), "--no-reports"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_parquet(tmp_path / "results" / "metrics.parquet")
    strata = set(metrics.query("test == 'ink-parity'")["stratum"])
    assert strata == {"all"} | {
        f"ink={i};parity={p}" for i in ("heavy", "light", "medium") for p in ("even", "odd")
    }
    assert set(metrics["member"]) == {"m0", "m1", "m2", "m3"}
    assert dict(metrics.drop_duplicates("member")[["member", "group"]].values) == {
        "m0": "g0",
        "m1": "g0",
        "m2": "g1",
        "m3": "g1",
    }
    # the image folder holds the first 60 test digits: same predictions as the npz rows with those ids
    assert metrics.query("test == 'folder' and stratum == 'all'")["n"].unique().tolist() == [60]
    # one-way ANOVA across groups, against scipy
    summary = pd.read_parquet(tmp_path / "results" / "summary.parquet")
    row = summary.query("test == 'iid' and stratum == 'all' and metric == 'accuracy'").iloc[0]
    values = metrics.query("test == 'iid' and stratum == 'all'").set_index("member")["value"]
    expected = sps.f_oneway(values[["m0", "m1"]].to_numpy(), values[["m2", "m3"]].to_numpy())
    assert np.isclose(row["anova_f"], expected.statistic) and np.isclose(row["anova_p"], expected.pvalue)
