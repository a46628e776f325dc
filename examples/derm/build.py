"""Build the synthetic dermatology example: data sets and a ten-member CNN ensemble.

    python examples/derm/build.py            # full build into examples/derm/
    python examples/derm/build.py --small --out /tmp/derm   # seconds; for tests

The ten members are identical except for the random seed, which sets both the
weight initialization and the order (and flips) of the training batches.

Model input: ``image``, float32 (N, 3, 64, 64), NCHW, computed from the uint8 HWC
RGB image as ``(pixel / 255 - 0.5) / 0.25`` per channel. Output: ``logits`` (N, K).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate as gen  # noqa: E402

MEAN, STD = 0.5, 0.25

FULL = {
    "n_train": 6000,
    "n_val": 1000,
    "n_test": 2000,
    "n_heldout": 600,
    "n_counterfactual": 200,
    "seeds": 10,
    "epochs": 8,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 1e-4,
}
SMALL = {
    "n_train": 300,
    "n_val": 60,
    "n_test": 60,
    "n_heldout": 30,
    "n_counterfactual": 6,
    "seeds": 2,
    "epochs": 1,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 1e-4,
}
# generator seeds of the data sets (distinct, fixed)
DATA_SEEDS = {
    "train": 20201106,
    "val": 20201107,
    "test": 20201108,
    "heldout": 20201109,
    "counterfactual": 20201110,
}


class SmallCNN(nn.Module):
    """A deliberately small CNN: 2x average pooling, three conv blocks, global pooling."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        self.features = nn.Sequential(
            nn.AvgPool2d(2),
            *block(3, 16),
            nn.MaxPool2d(2),
            *block(16, 32),
            nn.MaxPool2d(2),
            *block(32, 64),
            nn.MaxPool2d(2),
            *block(64, 64),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(64, n_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))


def preprocess(images_u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W): ((x / 255) - 0.5) / 0.25."""
    x = torch.as_tensor(np.asarray(images_u8)).permute(0, 3, 1, 2).float()
    return (x / 255.0 - MEAN) / STD


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(images), batch):
            pred = model(preprocess(images[s : s + batch])).argmax(1).numpy()
            correct += int((pred == labels[s : s + batch]).sum())
    return correct / max(len(images), 1)


def train_one(seed: int, train: gen.LesionSet, val: gen.LesionSet, cfg: dict) -> tuple[nn.Module, dict]:
    torch.manual_seed(seed)
    model = SmallCNN(len(gen.CLASSES))
    g = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(train.images).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    y_all = torch.from_numpy(train.label)
    n = len(y_all)
    steps = cfg["epochs"] * ((n + cfg["batch_size"] - 1) // cfg["batch_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1.0 + math.cos(math.pi * min(i, steps) / steps))
    )
    t0 = time.perf_counter()
    last_losses: list[float] = []
    for _epoch in range(cfg["epochs"]):
        model.train()
        order = torch.randperm(n, generator=g)
        last_losses = []
        for s in range(0, n, cfg["batch_size"]):
            idx = order[s : s + cfg["batch_size"]]
            x = (x_all[idx].float() / 255.0 - MEAN) / STD
            # random flips (from the seeded generator): lesions have no orientation
            flips = torch.rand(2, generator=g)
            if flips[0] < 0.5:
                x = x.flip(3)
            if flips[1] < 0.5:
                x = x.flip(2)
            loss = nn.functional.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            last_losses.append(loss.item())
    train_time = time.perf_counter() - t0
    model.eval()
    info = {
        "seed": seed,
        "train_time_s": round(train_time, 2),
        "final_train_loss": round(float(np.mean(last_losses)), 4),
        "val_accuracy": round(accuracy(model, val.images, val.label), 4),
    }
    return model, info


def export(model: nn.Module, path_onnx: Path, path_pt: Path | None) -> None:
    model.eval()
    example = torch.zeros(2, 3, gen.SIZE, gen.SIZE)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*")
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    torch.onnx.export(
        model,
        (example,),
        str(path_onnx),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    if path_pt is not None:
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(path_pt))


def write_parquet(frame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("image", pa.binary()),
            ("label", pa.int64()),
            ("condition", pa.string()),
            ("fitzpatrick", pa.string()),
            ("camera", pa.string()),
            ("lesion_id", pa.int64()),
            ("ita", pa.float64()),
        ]
    )
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, str(path), compression="zstd")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="tiny sizes, 2 seeds, 1 epoch (tests)")
    ap.add_argument("--out", type=Path, default=HERE, help="output root (data/ and models/ go under it)")
    ap.add_argument("--seeds", type=int, default=None, help="override the number of members")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.small and args.out.resolve() == HERE:
        ap.error("--small needs --out DIR (it would overwrite the shipped artifacts)")

    cfg = dict(SMALL if args.small else FULL)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    torch.set_num_threads(args.threads)
    data_dir, model_dir = args.out / "data", args.out / "models"
    data_dir.mkdir(parents=True, exist_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)

    t_start = time.perf_counter()
    # lesion ids are disjoint across sets; row ids are stable within each file
    train = gen.generate(cfg["n_train"], DATA_SEEDS["train"], lesion_id_start=0)
    val = gen.generate(cfg["n_val"], DATA_SEEDS["val"], lesion_id_start=1_000_000)
    test = gen.generate(cfg["n_test"], DATA_SEEDS["test"], lesion_id_start=2_000_000)
    heldout = gen.generate(
        cfg["n_heldout"],
        DATA_SEEDS["heldout"],
        cameras=(gen.HELDOUT_CAMERA,),
        camera_probs=(1.0,),
        lesion_id_start=3_000_000,
    )
    cf = gen.counterfactual(cfg["n_counterfactual"], DATA_SEEDS["counterfactual"], lesion_id_start=4_000_000)
    t_data = time.perf_counter() - t_start
    print(
        f"generated data in {t_data:.1f}s (train {len(train)}, test {len(test)}, "
        f"heldout {len(heldout)}, counterfactual {len(cf)})",
        flush=True,
    )
    write_parquet(test.to_frame(), data_dir / "test.parquet")
    write_parquet(heldout.to_frame(), data_dir / "heldout_camera.parquet")
    write_parquet(cf.to_frame(), data_dir / "counterfactual.parquet")

    members = []
    for seed in range(cfg["seeds"]):
        model, info = train_one(seed, train, val, cfg)
        info["test_accuracy"] = round(accuracy(model, test.images, test.label), 4)
        info["heldout_camera_accuracy"] = round(accuracy(model, heldout.images, heldout.label), 4)
        export(model, model_dir / f"seed-{seed}.onnx", model_dir / f"seed-{seed}.pt" if seed < 2 else None)
        info["onnx"] = f"seed-{seed}.onnx"
        members.append(info)
        print(json.dumps(info), flush=True)

    counts = {t: int((train.fitzpatrick == t).sum()) for t in gen.SKIN_TYPES}
    meta = {
        "description": "Synthetic dermatology example (procedural images; not patient data).",
        "classes": list(gen.CLASSES),
        "preprocessing": {
            "layout": "NCHW",
            "scale": 255.0,
            "mean": [MEAN] * 3,
            "std": [STD] * 3,
            "formula": "x = (uint8_rgb / 255 - 0.5) / 0.25",
        },
        "input": {"name": "image", "shape": ["N", 3, gen.SIZE, gen.SIZE], "dtype": "float32"},
        "output": {"name": "logits", "shape": ["N", len(gen.CLASSES)]},
        "architecture": "SmallCNN (build.py): avgpool2, 4 conv3x3-BN-ReLU blocks (16-32-64-64), GAP, linear",
        "training": {k: v for k, v in cfg.items()},
        "optimizer": "AdamW, linear warm-up then cosine decay, random horizontal/vertical flips per batch",
        "data_seeds": DATA_SEEDS,
        "train_skin_type_counts": counts,
        "generator": gen.settings(),
        "small": bool(args.small),
        "torch_threads": args.threads,
        "torch_version": torch.__version__,
        "members": members,
        "build_time_s": round(time.perf_counter() - t_start, 1),
    }
    (model_dir / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"done in {meta['build_time_s']}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
