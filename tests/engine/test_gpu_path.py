"""The GPU feeding path through the whole engine, exercised on the CPU (no GPU here).

On CUDA a member's batches are bound through IO binding at a fixed shape;
``io_binding`` and ``pad_batches`` force the same path on the CPU, so the
engine's handling of it (shared batches, padding the short last batch to the
audit's batch size, cutting outputs back) is checked against plain runs.
"""

from __future__ import annotations

import pandas as pd
from builders import basic_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app

runner = CliRunner()


def test_io_binding_and_fixed_shapes_give_the_plain_tables(digits_world, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "bound").mkdir()
    plain = basic_audit(digits_world, tmp_path / "plain")
    bound = basic_audit(digits_world, tmp_path / "bound")
    bound.write_text(
        bound.read_text().replace(
            'preprocess = { layout = "NCHW", scale = 255.0 }',
            'preprocess = { layout = "NCHW", scale = 255.0 }\noptions = { io_binding = true, pad_batches = true }',
        )
    )
    for audit in (plain, bound):
        result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
        assert result.exit_code == 0, result.output
    # 597 test examples in batches of 128: the last batch (85) is padded to 128 and cut back
    for name in ("metrics", "summary"):
        a = pd.read_parquet(tmp_path / "plain" / "results" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "bound" / "results" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-9)
    predictions = "predictions/ensemble=linear/test=iid/variant=none/part-0.parquet"
    a = pd.read_parquet(tmp_path / "plain" / "results" / predictions)
    b = pd.read_parquet(tmp_path / "bound" / "results" / predictions)
    assert len(a) == len(b) == 4 * 597
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5)
