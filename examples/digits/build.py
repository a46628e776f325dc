"""Build the digits example: real data (scikit-learn's bundled handwritten digits).

    python examples/digits/build.py                  # full build into examples/digits/
    python examples/digits/build.py --small --out /tmp/digits   # seconds; for tests

Eight small CNNs, identical except for the random seed (initialization and batch
order), are trained on a fixed train/test split of ``sklearn.datasets.load_digits``
(1,797 8x8 images, UCI optical recognition of handwritten digits; no download).

Images are shipped as uint8 (n, 8, 8, 1) with the original 0-16 values scaled by
255/16 and rounded. Model input ``image``: float32 (N, 1, 8, 8), NCHW, = uint8 / 255.
Output ``logits``: (N, 10).

``shifted.npz`` is a real shift of the same test digits: each rotated by +15 or -15
degrees (sign drawn per digit from a seeded generator) with scipy.ndimage (bilinear),
then quantized the same way.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 20201106
SHIFT_SEED = 20201107
ROTATION_DEG = 15.0
FULL = {"seeds": 8, "epochs": 40, "batch_size": 64, "lr": 3e-3, "test_size": 0.3}
SMALL = {"seeds": 2, "epochs": 2, "batch_size": 64, "lr": 3e-3, "test_size": 0.3}


class DigitCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


def to_uint8(images16: np.ndarray) -> np.ndarray:
    """0-16 float (n, 8, 8) -> uint8 (n, 8, 8, 1) scaled by 255/16 and rounded."""
    return np.clip(np.rint(images16 * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]


def preprocess(u8: np.ndarray) -> torch.Tensor:
    """uint8 (n, 8, 8, 1) -> float32 (n, 1, 8, 8) = uint8 / 255."""
    return torch.from_numpy(u8.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()


def ink_terciles(u8: np.ndarray, edges: np.ndarray) -> np.ndarray:
    total = u8.reshape(len(u8), -1).sum(axis=1)
    names = np.array(["light", "medium", "heavy"], dtype=object)
    return names[np.searchsorted(edges, total, side="right")].astype(str)


def rotate(images16: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    angles = np.where(rng.uniform(size=len(images16)) < 0.5, -ROTATION_DEG, ROTATION_DEG)
    out = np.stack(
        [
            ndimage.rotate(im, a, reshape=False, order=1, mode="constant", cval=0.0)
            for im, a in zip(images16, angles, strict=True)
        ]
    )
    return np.clip(out, 0.0, 16.0), angles


def train_one(seed: int, x: torch.Tensor, y: torch.Tensor, cfg: dict) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    model = DigitCNN()
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    n = len(y)
    t0 = time.perf_counter()
    losses: list[float] = []
    for _ in range(cfg["epochs"]):
        model.train()
        order = torch.randperm(n, generator=g)
        losses = []
        for s in range(0, n, cfg["batch_size"]):
            idx = order[s : s + cfg["batch_size"]]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    return model, {
        "seed": seed,
        "train_time_s": round(time.perf_counter() - t0, 2),
        "final_train_loss": round(float(np.mean(losses)), 4),
    }


def export(model: nn.Module, path: Path) -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    torch.onnx.export(
        model,
        (torch.zeros(2, 1, 8, 8),),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.small and args.out.resolve() == HERE:
        ap.error("--small needs --out DIR (it would overwrite the shipped artifacts)")
    cfg = dict(SMALL if args.small else FULL)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    data_dir, model_dir = args.out / "data", args.out / "models"
    data_dir.mkdir(parents=True, exist_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)

    digits = load_digits()
    ids = np.arange(len(digits.target), dtype=np.int64)
    id_tr, id_te = train_test_split(
        ids, test_size=cfg["test_size"], random_state=SPLIT_SEED, stratify=digits.target
    )
    id_te = np.sort(id_te)
    u8_tr = to_uint8(digits.images[id_tr])
    u8_te = to_uint8(digits.images[id_te])
    rot16, angles = rotate(digits.images[id_te], SHIFT_SEED)
    u8_sh = to_uint8(rot16)
    y_tr = digits.target[id_tr].astype(np.int64)
    y_te = digits.target[id_te].astype(np.int64)
    # ink terciles: edges from the (unshifted) test set; both files carry the
    # tercile of the original digit, so the strata are matched.
    ink_total = u8_te.reshape(len(u8_te), -1).sum(axis=1)
    edges = np.quantile(ink_total, [1 / 3, 2 / 3])
    ink = ink_terciles(u8_te, edges)
    np.savez_compressed(
        data_dir / "test.npz", id=id_te, image=u8_te, label=y_te, ink=ink, angle=np.zeros(len(id_te))
    )
    np.savez_compressed(data_dir / "shifted.npz", id=id_te, image=u8_sh, label=y_te, ink=ink, angle=angles)

    x_tr, t_tr = preprocess(u8_tr), torch.from_numpy(y_tr)
    x_te, x_sh = preprocess(u8_te), preprocess(u8_sh)
    members = []
    for seed in range(cfg["seeds"]):
        model, info = train_one(seed, x_tr, t_tr, cfg)
        with torch.no_grad():
            info["test_accuracy"] = round(float((model(x_te).argmax(1).numpy() == y_te).mean()), 4)
            info["shifted_accuracy"] = round(float((model(x_sh).argmax(1).numpy() == y_te).mean()), 4)
        export(model, model_dir / f"seed-{seed}.onnx")
        info["onnx"] = f"seed-{seed}.onnx"
        members.append(info)
        print(json.dumps(info), flush=True)
    meta = {
        "description": "sklearn load_digits (UCI handwritten digits, 8x8), fixed stratified split",
        "classes": [str(i) for i in range(10)],
        "preprocessing": {
            "layout": "NCHW",
            "scale": 255.0,
            "mean": [0.0],
            "std": [1.0],
            "formula": "x = uint8 / 255",
        },
        "input": {"name": "image", "shape": ["N", 1, 8, 8], "dtype": "float32"},
        "output": {"name": "logits", "shape": ["N", 10]},
        "split_seed": SPLIT_SEED,
        "shift": {"kind": "rotation", "degrees": [-ROTATION_DEG, ROTATION_DEG], "seed": SHIFT_SEED},
        "ink_tercile_edges": [float(e) for e in edges],
        "n_train": len(id_tr),
        "n_test": len(id_te),
        "training": cfg,
        "torch_version": torch.__version__,
        "members": members,
        "build_time_s": round(time.perf_counter() - t_start, 1),
    }
    (model_dir / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"done in {meta['build_time_s']}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
