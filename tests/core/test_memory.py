"""Peak memory of a run is bounded by the batch size, not by the dataset: flat as the data grows 10x.

Inputs are 128x128x3 images (48 KiB each) in one Parquet row group, so reading a whole column at once
would add the whole dataset (~140 MiB at 3,000 examples) to the peak; outputs are two probabilities per
example, so what a run must keep per example is tiny. Each run is measured in its own process.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from builders import write_audit
from safety_tools import peak_rss_of

SIDE = 128


def _dataset(path, n: int) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)
    labels = (images[:, :, :, 0].mean(axis=(1, 2)) > 127.5).astype(np.int64)
    pq.write_table(
        pa.table({"image": pa.FixedShapeTensorArray.from_numpy_ndarray(images), "label": labels}),
        path,
        row_group_size=n,
    )


def _model(path, seed: int) -> None:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2)).eval()
    torch.onnx.export(
        net,
        torch.zeros(1, 3, SIDE, SIDE),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
        dynamo=False,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    for seed in range(2):
        _model(root / f"m{seed}.onnx", seed)
    return root


def _peak_mb(world, n: int) -> float:
    data = world / f"data-{n}.parquet"
    _dataset(data, n)
    audit = write_audit(
        world / f"audit-{n}.toml",
        f"""
        [audit]
        name = "memory-{n}"
        output = "results-{n}"
        batch_size = 32

        [ensembles.net]
        members = "m*.onnx"
        task = "binary"
        preprocess = {{ layout = "NCHW", scale = 255.0 }}

        [datasets.test]
        source = "parquet"
        path = "{data.name}"

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy"]

        [analysis]
        permutations = 50
        bootstrap = 20
        member_bootstrap = 20
        """,
    )
    code, peak, stderr = peak_rss_of("run", str(audit), "--no-reports")
    assert code == 0, stderr
    data.unlink()
    return peak


def test_peak_memory_stays_flat_as_the_dataset_grows_tenfold(world):
    small, large = _peak_mb(world, 300), _peak_mb(world, 3000)
    growth = large - small
    input_growth = 2700 * SIDE * SIDE * 3 / 2**20  # what reading the whole input column would add
    print(
        f"peak RSS: {small:.0f} MiB at 300 examples, {large:.0f} MiB at 3,000 (+{growth:.0f} MiB; the inputs "
        f"grew by {input_growth:.0f} MiB)"
    )
    assert growth < 0.3 * input_growth, (small, large)
