"""Dataset sources read real Parquet, npz and image folders with stable ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from uspec_audit.config.models import Dataset
from uspec_audit.data.sources import ImageFolderReader, NpzReader, ParquetReader
from uspec_audit.errors import RunError


def _collect(reader, batch_size=50):
    batches = list(reader.iter_batches(batch_size))
    return (
        np.concatenate([b.ids for b in batches]),
        np.concatenate([b.inputs for b in batches]),
        np.concatenate([b.targets for b in batches]),
        batches,
    )


def test_parquet_png_bytes(digits_world):
    config = Dataset(source="parquet", path=str(digits_world.parquet), id="id", attributes=["ink"])
    reader = ParquetReader(config, digits_world.parquet)
    ids, images, targets, batches = _collect(reader)
    assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 1)
    np.testing.assert_array_equal(images, digits_world.test_images)
    np.testing.assert_array_equal(targets, digits_world.test_labels)
    assert max(len(b) for b in batches) == 50
    meta = reader.metadata()
    np.testing.assert_array_equal(meta["id"].to_numpy(), ids)
    assert set(meta.columns) == {"id", "target", "ink"}


def test_npz_and_image_folder_agree_with_parquet(digits_world):
    npz = NpzReader(Dataset(source="npz", path="x", id="id", attributes=["ink"]), digits_world.npz)
    _, npz_images, _, _ = _collect(npz)
    np.testing.assert_array_equal(npz_images, digits_world.test_images)
    folder = ImageFolderReader(
        Dataset(source="images", path="x", table="t", attributes=["ink"]),
        digits_world.image_folder,
        digits_world.image_table,
    )
    _, folder_images, folder_targets, _ = _collect(folder, 16)
    np.testing.assert_array_equal(folder_images, digits_world.test_images[:60])
    np.testing.assert_array_equal(folder_targets, digits_world.test_labels[:60])


def test_fixed_shape_tensor_and_list_columns(tmp_path):
    data = np.random.default_rng(0).integers(0, 255, size=(10, 4, 4, 3), dtype=np.uint8)
    tensor_type = pa.fixed_shape_tensor(pa.uint8(), (4, 4, 3))
    tensor = pa.ExtensionArray.from_storage(
        tensor_type, pa.array(list(data.reshape(10, -1)), pa.list_(pa.uint8(), 48))
    )
    path = tmp_path / "tensor.parquet"
    pq.write_table(pa.table({"image": tensor, "label": np.arange(10) % 3}), path)
    _, images, _, _ = _collect(ParquetReader(Dataset(source="parquet", path="x"), path), 4)
    np.testing.assert_array_equal(images, data)

    lists = tmp_path / "lists.parquet"
    pq.write_table(
        pa.table({"image": [row.tolist() for row in data.reshape(10, -1)], "label": np.zeros(10, int)}), lists
    )
    with pytest.raises(RunError, match="declare the shape"):
        _collect(ParquetReader(Dataset(source="parquet", path="x"), lists))
    _, images, _, _ = _collect(ParquetReader(Dataset(source="parquet", path="x", shape=[4, 4, 3]), lists))
    np.testing.assert_array_equal(images, data)


def test_tabular_features(tmp_path):
    path = tmp_path / "tab.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "y": [0, 1, 0]}), path)
    reader = ParquetReader(Dataset(source="parquet", path="x", features=["a", "b"], target="y"), path)
    _, x, y, _ = _collect(reader)
    np.testing.assert_array_equal(x, [[1, 4], [2, 5], [3, 6]])
    assert reader.feature_names == ["a", "b"]


def test_missing_column_and_duplicate_ids(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"image": [b"x", b"y"], "label": [0, 1], "id": [1, 1]}), path)
    with pytest.raises(RunError, match=r"columns \['camera'\] are missing"):
        ParquetReader(Dataset(source="parquet", path="x", attributes=["camera"]), path)
    with pytest.raises(RunError, match="not unique"):
        ParquetReader(Dataset(source="parquet", path="x", id="id"), path).metadata()


def test_undecodable_image_names_the_rows(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"image": [b"not an image"], "label": [0]}), path)
    with pytest.raises(ValueError, match="cannot decode"):
        _collect(ParquetReader(Dataset(source="parquet", path="x"), path))


def test_fingerprint_changes_with_content(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0], "label": [0]}), path)
    config = Dataset(source="parquet", path="x", input="x")
    first = ParquetReader(config, path).fingerprint()
    pq.write_table(pa.table({"x": [2.0], "label": [0]}), path)
    assert ParquetReader(config, path).fingerprint() != first
