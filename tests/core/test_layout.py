"""preprocess.layout = "auto" (the default): the only reading of the data that fits the model, else an error
naming the setting. Explicit layouts are honoured, and checked against the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from builders import basic_audit, write_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.config.models import Preprocess
from uspec_audit.models.preprocess import LayoutError, preprocess, resolve_layout

runner = CliRunner()


@pytest.mark.parametrize(
    "example, model, expected",
    [
        ((64, 64, 3), ["batch", 3, 64, 64], "NCHW"),  # raw HWC images, CHW model
        ((8, 8, 1), ["batch", 1, 8, 8], "NCHW"),
        ((1, 8, 8), ["batch", 1, 8, 8], "none"),  # the issue's case: already CHW
        ((8, 8, 1), ["batch", 8, 8, 1], "none"),  # an NHWC model
        ((8, 8, 1), ["batch", 64], "NC"),  # a model taking vectors
        ((64,), ["batch", 64], "none"),
        ((64, 64, 3), [None, 3, "h", "w"], "NCHW"),  # free spatial sizes, fixed channels
    ],
)
def test_auto_picks_the_only_reading_that_fits(example, model, expected):
    assert resolve_layout("auto", example, model) == expected


@pytest.mark.parametrize(
    "example, model, words",
    [
        (
            (8, 8, 1),
            ["n", "c", "h", "w"],
            ["both as is and transposed", "preprocess.layout = 'none' or 'NCHW'"],
        ),
        ((3, 3, 3), ["n", 3, 3, 3], ["both as is and transposed"]),
        (
            (8, 8, 1),
            ["n", 3, 32, 32],
            ["neither as is, nor transposed (NCHW), nor flattened (NC)", "preprocess.layout"],
        ),
        ((64,), ["n", 1, 8, 8], ["neither"]),
    ],
)
def test_auto_refuses_to_guess(example, model, words):
    with pytest.raises(LayoutError) as error:
        resolve_layout("auto", example, model)
    for word in words:
        assert word in str(error.value)


def test_explicit_layouts_are_honoured_and_checked():
    assert resolve_layout("NCHW", (8, 8, 1), ["n", "c", "h", "w"]) == "NCHW"  # the user settled the ambiguity
    assert resolve_layout("none", (8, 8, 1), ["n", "c", "h", "w"]) == "none"
    with pytest.raises(
        LayoutError,
        match=r'layout = "NCHW" turns examples of shape \[1, 8, 8\] into \[8, 1, 8\].*'
        r'fits as is: set preprocess.layout = "none"',
    ):
        resolve_layout("NCHW", (1, 8, 8), ["batch", 1, 8, 8])
    assert resolve_layout("NHWC", (8, 8, 1), None) == "NHWC"


def test_without_a_declared_input_auto_reads_the_channel_axis():
    assert resolve_layout("auto", (64, 64, 3), None) == "NCHW"
    assert resolve_layout("auto", (3, 64, 64), None) == "none"
    assert resolve_layout("auto", (20,), None) == "none"
    with pytest.raises(LayoutError, match="channels-first or channels-last.*preprocess.layout"):
        resolve_layout("auto", (3, 8, 3), None)


def test_auto_gives_the_same_array_as_the_explicit_layout(digits_world):
    images = digits_world.test_images[:5]
    explicit = preprocess(images, Preprocess(layout="NCHW", scale=255.0))
    np.testing.assert_array_equal(preprocess(images, Preprocess(scale=255.0), ["batch", 1, 8, 8]), explicit)
    chw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(preprocess(chw, Preprocess(scale=255.0), ["batch", 1, 8, 8]), explicit)
    assert Preprocess().layout == "auto"


def _chw_parquet(world, path):
    """The test digits as a Parquet list column of CHW tensors (shape [1, 8, 8])."""
    table = pq.read_table(world.parquet)
    pixels = world.test_images.transpose(0, 3, 1, 2).reshape(len(world.test_images), -1).astype(np.float32)
    pq.write_table(table.drop(["image"]).append_column("pixels", pa.array(list(pixels))), path)
    return path


def test_the_issues_case_runs_without_a_layout(digits_world, tmp_path):
    """A Parquet list column declared shape = [1, 8, 8] for ONNX members whose input is [batch, 1, 8, 8]."""
    (tmp_path / "ref").mkdir()
    reference = basic_audit(digits_world, tmp_path / "ref")  # the same digits as PNG bytes, layout NCHW
    assert runner.invoke(app, ["run", str(reference), "--no-reports"]).exit_code == 0
    data = _chw_parquet(digits_world, tmp_path / "chw.parquet")
    path = basic_audit(digits_world, tmp_path)
    text = path.read_text().replace(
        'preprocess = { layout = "NCHW", scale = 255.0 }', "preprocess = { scale = 255.0 }"
    )
    text = text.replace(
        f'path = "{digits_world.parquet}"', f'path = "{data}"\ninput = "pixels"\nshape = [1, 8, 8]'
    )
    path.write_text(text)
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    result = runner.invoke(app, ["run", str(path), "--no-reports"])
    assert result.exit_code == 0, result.output
    ours = pd.read_parquet(tmp_path / "results" / "metrics.parquet").query("test == 'iid'")
    theirs = pd.read_parquet(tmp_path / "ref" / "results" / "metrics.parquet").query("test == 'iid'")
    np.testing.assert_allclose(ours["value"].to_numpy(), theirs["value"].to_numpy(), rtol=1e-6)


def test_an_ambiguous_model_is_an_audit_file_error_until_the_layout_is_set(digits_world, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for seed in range(2):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
        torch.onnx.export(
            net,
            torch.zeros(1, 1, 8, 8),
            str(models / f"m{seed}.onnx"),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n", 1: "c", 2: "h", 3: "w"}},
            dynamo=False,
        )
    path = basic_audit(digits_world, tmp_path)
    text = path.read_text().replace(f"{digits_world.root / 'models'}/seed-*.onnx", f"{models}/m*.onnx")
    path.write_text(text.replace('layout = "NCHW", ', ""))
    result = runner.invoke(app, ["run", str(path), "--no-reports"])
    assert result.exit_code == 2
    line = path.read_text().splitlines().index("preprocess = { scale = 255.0 }") + 1
    assert f"audit.toml:{line}: ensemble 'linear' on dataset 'test'" in result.output
    assert "both as is and transposed" in result.output and "preprocess.layout" in result.output
    path.write_text(text)  # layout = "NCHW" settles it
    assert runner.invoke(app, ["run", str(path), "--no-reports"]).exit_code == 0


def test_torch_members_without_a_declared_shape(digits_world, tmp_path):
    """TorchScript members declare no input shape: auto reads the channel axis (HWC images transposed, CHW
    lists kept), and both give the numbers of the explicit layout."""
    data = _chw_parquet(digits_world, tmp_path / "chw.parquet")
    members = ", ".join(f'"{p}"' for p in digits_world.torchscript_members)
    path = write_audit(
        tmp_path / "audit.toml",
        f"""
        [audit]
        name = "torch-auto"
        output = "{tmp_path / "results"}"

        [ensembles.hwc]
        loader = "torch"
        members = [{members}]
        task = "multiclass"
        preprocess = {{ scale = 255.0 }}

        [datasets.test]
        source = "parquet"
        path = "{digits_world.parquet}"
        id = "id"

        [datasets.chw]
        source = "parquet"
        path = "{data}"
        input = "pixels"
        shape = [1, 8, 8]
        id = "id"

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy"]

        [[tests]]
        name = "chw"
        kind = "shifted"
        dataset = "chw"
        metrics = ["accuracy"]

        [analysis]
        permutations = 50
        bootstrap = 20
        member_bootstrap = 20
        """,
    )
    result = runner.invoke(app, ["run", str(path), "--no-reports"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_parquet(tmp_path / "results" / "metrics.parquet").query("stratum == 'all'")
    iid = metrics.query("test == 'iid'").set_index("member")["value"]
    chw = metrics.query("test == 'chw'").set_index("member")["value"]
    pd.testing.assert_series_equal(iid, chw, check_names=False)
