"""Builders of small, real test artifacts: torch models exported to ONNX and TorchScript, and datasets.

Members are softmax regressions on 8x8 digits, each trained from its own seed
on its own bootstrap of the training split: they tie on iid data and differ a
little elsewhere, like the ensembles the tool audits.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


@dataclass
class DigitsWorld:
    root: Path
    onnx_members: list[Path]
    torchscript_members: list[Path]
    state_dict: Path
    parquet: Path
    shifted_parquet: Path
    npz: Path
    image_folder: Path
    image_table: Path
    test_images: np.ndarray
    test_labels: np.ndarray


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0], mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_net(seed: int = 0):
    """The architecture of the test members (also used as a state-dict factory)."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))


def _train(images: np.ndarray, labels: np.ndarray, seed: int):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=len(images) // 2, replace=True)
    x = torch.from_numpy(images[picks].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels[picks])
    model = tiny_net(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return model.eval()


def build_digits_world(root: Path, members: int = 4) -> DigitsWorld:
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1200], order[1200:]
    models_dir = root / "models"
    models_dir.mkdir(parents=True)
    onnx_paths, script_paths = [], []
    example = torch.zeros(1, 1, 8, 8)
    for seed in range(members):
        model = _train(images[train], labels[train], seed)
        path = models_dir / f"seed-{seed}.onnx"
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
            dynamo=False,
        )
        onnx_paths.append(path)
        if seed < 2:
            script = models_dir / f"seed-{seed}.pt"
            torch.jit.save(torch.jit.trace(model, example), str(script))
            script_paths.append(script)
        if seed == 0:
            state_dict = models_dir / "seed-0.weights.pt"
            torch.save(model.state_dict(), str(state_dict))

    test_images, test_labels = images[test], labels[test]
    ink = test_images.reshape(len(test), -1).sum(1)
    ink_band = np.where(
        ink < np.quantile(ink, 1 / 3), "light", np.where(ink < np.quantile(ink, 2 / 3), "medium", "heavy")
    )
    parity = np.where(test_labels % 2 == 0, "even", "odd")
    ids = (1000 + test).astype(np.int64)
    data_dir = root / "data"
    data_dir.mkdir()
    parquet = data_dir / "test.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ids,
                "image": [_png(im) for im in test_images],
                "label": test_labels,
                "ink": ink_band,
                "parity": parity,
                "ink_total": ink.astype(np.float64),
            }
        ),
        parquet,
    )
    shifted = np.roll(test_images, shift=1, axis=2)
    shifted_parquet = data_dir / "shifted.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ids,
                "image": [_png(im) for im in shifted],
                "label": test_labels,
                "ink": ink_band,
                "parity": parity,
                "ink_total": ink.astype(np.float64),
            }
        ),
        shifted_parquet,
    )
    npz = data_dir / "test.npz"
    np.savez(npz, id=ids, image=test_images, label=test_labels, ink=ink_band.astype("U6"))
    folder = data_dir / "images"
    folder.mkdir()
    for i, image in zip(ids[:60], test_images[:60], strict=True):
        (folder / f"{i}.png").write_bytes(_png(image))
    table = data_dir / "images.csv"
    pd.DataFrame(
        {"path": [f"{i}.png" for i in ids[:60]], "label": test_labels[:60], "ink": ink_band[:60]}
    ).to_csv(table, index=False)
    return DigitsWorld(
        root,
        onnx_paths,
        script_paths,
        state_dict,
        parquet,
        shifted_parquet,
        npz,
        folder,
        table,
        test_images,
        test_labels,
    )


def write_audit(path: Path, body: str) -> Path:
    """Write an audit file (dedented)."""
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def basic_audit(world: DigitsWorld, folder: Path, extra: str = "", analysis: str = "") -> Path:
    """An audit with one ONNX ensemble, iid + stratified + shifted tests on Parquet data."""
    models = world.root / "models"
    return write_audit(
        folder / "audit.toml",
        f"""
        [audit]
        name = "digits-test"
        title = "Digits test audit"
        seed = 7
        output = "{folder / "results"}"
        batch_size = 128

        [ensembles.linear]
        loader = "onnx"
        members = "{models}/seed-*.onnx"
        task = "multiclass"
        output = "logits"
        preprocess = {{ layout = "NCHW", scale = 255.0 }}

        [datasets.test]
        source = "parquet"
        path = "{world.parquet}"
        id = "id"
        attributes = ["ink", "parity", "ink_total"]

        [datasets.shifted]
        source = "parquet"
        path = "{world.shifted_parquet}"
        id = "id"
        attributes = ["ink", "parity"]

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy", "nll", "ece"]

        [[tests]]
        name = "by-ink"
        kind = "stratified"
        dataset = "test"
        by = "ink"
        metrics = ["accuracy", "nll"]

        [[tests]]
        name = "shift"
        kind = "shifted"
        dataset = "shifted"
        metrics = ["accuracy", "nll"]
        {extra}

        [analysis]
        permutations = 200
        bootstrap = 100
        member_bootstrap = 100
        {analysis}
        """,
    )
