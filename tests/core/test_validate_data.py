"""`validate` reads the datasets' schemas (not their data) and the members' declared inputs, and catches what
`run` would fail on, with the audit-file line; it counts work units exactly as `run` computes them."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import basic_audit, write_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.config.models import Dataset
from uspec_audit.data.probe import probe_dataset
from uspec_audit.models.signature import onnx_inputs

runner = CliRunner()


def _validate(path):
    return runner.invoke(app, ["validate", str(path)])


def _line(path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


@pytest.mark.parametrize(
    "key, old, new",
    [
        (
            "input",
            'id = "id"\nattributes = ["ink", "parity", "ink_total"]',
            'input = "img"\nid = "id"\nattributes = ["ink", "parity", "ink_total"]',
        ),
        (
            "target",
            'id = "id"\nattributes = ["ink", "parity", "ink_total"]',
            'target = "diagnosis"\nid = "id"\nattributes = ["ink", "parity", "ink_total"]',
        ),
        (
            "id",
            'id = "id"\nattributes = ["ink", "parity", "ink_total"]',
            'id = "idx"\nattributes = ["ink", "parity", "ink_total"]',
        ),
        (
            "attributes",
            'attributes = ["ink", "parity", "ink_total"]',
            'attributes = ["ink", "parity", "ink_totl"]',
        ),
    ],
)
def test_columns_that_do_not_exist(digits_world, tmp_path, key, old, new):
    path = basic_audit(digits_world, tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = _validate(path)
    assert result.exit_code == 2, result.output
    column = {"input": "img", "target": "diagnosis", "id": "idx", "attributes": "ink_totl"}[key]
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if column in t)
    assert f"audit.toml:{line}: dataset 'test': {key} column '{column}' is not in" in result.output
    assert "Columns: id, image, label, ink, parity, ink_total" in result.output.replace("\n", "")
    if key == "attributes":
        assert "Did you mean 'ink_total'" in result.output
    assert "Traceback" not in result.output
    run = runner.invoke(app, ["run", str(path), "--no-reports"])
    assert run.exit_code == 2 and not (tmp_path / "results").exists()  # caught before anything runs


def test_npz_keys_features_and_image_tables(digits_world, tmp_path):
    models = digits_world.root / "models"
    path = write_audit(
        tmp_path / "audit.toml",
        f"""
        [audit]
        name = "keys"
        output = "{tmp_path / "results"}"

        [ensembles.linear]
        members = "{models}/seed-*.onnx"
        task = "multiclass"
        preprocess = {{ scale = 255.0 }}

        [datasets.npz]
        source = "npz"
        path = "{digits_world.npz}"
        input = "images"
        id = "id"
        attributes = ["ink"]

        [datasets.folder]
        source = "images"
        path = "{digits_world.image_folder}"
        table = "{digits_world.image_table}"
        path_column = "file"
        target = "labels"

        [datasets.tabular]
        source = "parquet"
        path = "{digits_world.parquet}"
        features = ["ink_total", "inktotal"]

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "npz"
        metrics = ["accuracy"]
        """,
    )
    result = _validate(path)
    assert result.exit_code == 2
    out = result.output.replace("\n", " ")
    line = _line(path, 'input = "images"')
    assert f"audit.toml:{line}: dataset 'npz': input key 'images' is not in" in out
    assert "Did you mean 'image'?" in out and "Keys: id, image, label, ink" in out
    assert "dataset 'folder': path_column column 'file' is not in" in out
    assert "dataset 'folder': target column 'labels' is not in" in out and "Did you mean 'label'?" in out
    assert "dataset 'tabular': features column 'inktotal' is not in" in out


def test_list_column_needs_a_shape_and_the_right_size(digits_world, tmp_path):
    data = tmp_path / "lists.parquet"
    pixels = digits_world.test_images.reshape(len(digits_world.test_images), -1).astype(np.float32)
    pq.write_table(
        pa.table(
            {
                "pixels": pa.array(list(pixels), type=pa.list_(pa.float32(), 64)),
                "label": digits_world.test_labels,
            }
        ),
        data,
    )
    config = Dataset(source="parquet", path=str(data), input="pixels")
    assert probe_dataset(config, tmp_path).problems == [
        (
            "shape",
            "column 'pixels' is a list column; declare the shape of one example with shape = [...] in the "
            "dataset table.",
        )
    ]
    config = Dataset(source="parquet", path=str(data), input="pixels", shape=[1, 8, 9])
    assert (
        "holds 64 values per row; shape [1, 8, 9] needs 72" in probe_dataset(config, tmp_path).problems[0][1]
    )
    assert probe_dataset(
        Dataset(source="parquet", path=str(data), input="pixels", shape=[1, 8, 8]), tmp_path
    ).input_shape == (1, 8, 8)


def test_probes_read_headers_not_data(digits_world, tmp_path):
    """Damage the data after the headers: the probe still answers (it never reads the values), `run` would not."""
    # npz: the compressed bytes of the image array after its .npy header are garbage
    npz = tmp_path / "data.npz"
    images = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)  # incompressible
    np.savez_compressed(npz, image=images, label=np.zeros(300, np.int64))
    raw = bytearray(npz.read_bytes())
    start = raw.index(b"image.npy") + 100_000  # far past the .npy header, inside the compressed pixels
    raw[start : start + 50_000] = b"\x00" * 50_000
    npz.write_bytes(bytes(raw))
    schema = probe_dataset(Dataset(source="npz", path=str(npz)), tmp_path)
    assert schema.input_shape == (32, 32, 3) and schema.num_rows == 300
    with pytest.raises(Exception):  # noqa: B017 - whatever zlib/numpy raise: the data really is damaged
        np.load(npz)["image"].sum()
    # Parquet: overwrite the middle of the file (data pages); the footer still gives the schema
    data = tmp_path / "lists.parquet"
    pixels = digits_world.test_images.reshape(len(digits_world.test_images), -1).astype(np.float32)
    pq.write_table(
        pa.table(
            {
                "pixels": pa.array(list(pixels), type=pa.list_(pa.float32(), 64)),
                "label": digits_world.test_labels,
            }
        ),
        data,
        compression="none",
    )
    raw = bytearray(data.read_bytes())
    raw[100:20_000] = b"\xff" * 19_900
    data.write_bytes(bytes(raw))
    schema = probe_dataset(
        Dataset(source="parquet", path=str(data), input="pixels", shape=[8, 8, 1]), tmp_path
    )
    assert schema.columns == ["pixels", "label"] and schema.input_shape == (8, 8, 1)


def test_onnx_inputs_agree_with_onnxruntime(digits_world):
    import onnxruntime as ort

    for path in digits_world.onnx_members:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        expected = [(i.name, list(i.shape)) for i in session.get_inputs()]
        assert [(i.name, list(i.dims)) for i in onnx_inputs(path)] == expected
        assert [i.dtype for i in onnx_inputs(path)] == ["float32"]


def test_member_input_dtype_and_name(digits_world, tmp_path):
    path = basic_audit(digits_world, tmp_path)
    path.write_text(path.read_text().replace("scale = 255.0 }", 'scale = 255.0, dtype = "float64" }'))
    result = _validate(path)
    assert result.exit_code == 2 and "expects dtype float32; the preprocessing gives float64" in result.output
    path.write_text(
        basic_audit(digits_world, tmp_path)
        .read_text()
        .replace('task = "multiclass"', 'task = "multiclass"\ninput_name = "pixels"')
    )
    result = _validate(path)
    assert result.exit_code == 2 and "has no input named 'pixels'; its inputs: ['image']" in result.output


def test_original_must_name_an_attribute(digits_world, tmp_path):
    extra = """
        [[tests]]
        name = "pairs"
        kind = "contrastive"
        dataset = "test"
        link = "ink"
        original = { parity = "even", colour = "red" }
    """
    result = _validate(basic_audit(digits_world, tmp_path, extra=extra))
    assert result.exit_code == 2
    assert "`original` names 'colour', which is not an attribute of dataset 'test'" in result.output
    assert "'parity'" not in result.output.split("`original` names")[1].split("\n")[0]


def test_units_counted_as_the_run_computes_them(digits_world, tmp_path):
    """iid and two stratified tests share one stream of the test set: one unit, not three."""
    extra = """
        [[tests]]
        name = "by-parity"
        kind = "stratified"
        dataset = "test"
        by = "parity"
        metrics = ["accuracy"]

        [[tests]]
        name = "noise"
        kind = "perturbed"
        dataset = "test"
        metrics = ["accuracy"]
        perturbations = [{ name = "gaussian_noise", severities = [1, 3] }]
    """
    path = basic_audit(digits_world, tmp_path, extra=extra)
    validated = runner.invoke(app, ["validate", str(path), "--json"])
    assert validated.exit_code == 0, validated.output
    units = json.loads(validated.output)["units"]
    assert units == 1 + 1 + 2  # test set, shifted set, two noisy variants
    result = runner.invoke(app, ["run", str(path), "--no-reports", "--json"])
    assert result.exit_code == 0, result.output
    timings = json.loads(result.output)["timings"]
    assert timings["units_computed"] + timings["units_reused"] == units
    text = _validate(path).output.replace("\n", " ")
    assert f"{units} work units (one ensemble on one stream" in text
