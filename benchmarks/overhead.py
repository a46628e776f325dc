"""Overhead of an audit over bare inference: the same members and data, both read from Parquet.

    python benchmarks/overhead.py [--members 8] [--examples 10000] [--size 32] [--encoding tensor|png]

Builds N small CNNs (random weights, exported to ONNX) and a Parquet test set
of uint8 images, then times

- *bare*: a plain loop that reads the Parquet file in batches, preprocesses,
  and runs every member's onnxruntime session on every batch — the least
  work any evaluation must do — once with default sessions (a thread pool
  each) and once with the shared pool uspec-audit uses (the fair baseline);
- *audit*: ``uspec-audit run --fresh --no-reports`` of an audit with one iid test
  on the same data (metrics, ensemble statistics, Parquet results, manifest),

each in a fresh process, and prints audit / bare. Target: <= 1.15 at 8
members on 10,000 images.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BARE = """
import sys, time
import numpy as np, onnxruntime as ort, pyarrow.parquet as pq
from PIL import Image
import io
models, data, batch, encoding, tuned = sys.argv[1:6]
options = ort.SessionOptions()
if tuned == "1":  # what uspec-audit does in its CLI process: one shared pool for all sessions
    ort.set_global_thread_pool_sizes(0, 1)
    options.use_per_session_threads = False
paths = sorted(__import__("glob").glob(models))
sessions = [ort.InferenceSession(p, options, providers=["CPUExecutionProvider"]) for p in paths]
start = time.perf_counter()
for record in pq.ParquetFile(data).iter_batches(batch_size=int(batch), columns=["image", "label"]):
    column = record.column("image")
    if encoding == "png":
        images = np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in column.to_pylist()])
    else:
        images = column.to_numpy_ndarray()
    x = np.ascontiguousarray(((images.astype(np.float32) / 255.0 - 0.5) / 0.25).transpose(0, 3, 1, 2))
    outputs = [s.run(None, {"image": x})[0] for s in sessions]
print(time.perf_counter() - start)
"""


def build(folder: Path, members: int, examples: int, size: int, encoding: str) -> None:
    import torch

    models = folder / "models"
    models.mkdir(parents=True)
    for seed in range(members):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(), torch.nn.Linear(64, 10),
        ).eval()
        torch.onnx.export(net, torch.zeros(1, 3, size, size), str(models / f"seed-{seed}.onnx"),
                          input_names=["image"], output_names=["logits"], dynamic_axes={"image": {0: "n"}},
                          dynamo=False)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(examples, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=examples)
    if encoding == "png":
        from PIL import Image

        def png(image):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            return buffer.getvalue()

        column = pa.array([png(im) for im in images], pa.binary())
    else:
        tensor_type = pa.fixed_shape_tensor(pa.uint8(), (size, size, 3))
        column = pa.ExtensionArray.from_storage(
            tensor_type, pa.FixedSizeListArray.from_arrays(pa.array(images.reshape(-1)), size * size * 3))
    pq.write_table(pa.table({"image": column, "label": labels, "id": np.arange(examples)}), folder / "test.parquet")
    (folder / "audit.toml").write_text(textwrap.dedent("""
        [audit]
        name = "overhead"
        seed = 1
        output = "results"
        batch_size = 256

        [ensembles.cnn]
        members = "models/seed-*.onnx"
        task = "multiclass"
        preprocess = { layout = "NCHW", scale = 255.0, mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25] }

        [datasets.test]
        source = "parquet"
        path = "test.parquet"
        id = "id"

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
    """))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--encoding", choices=["tensor", "png"], default="tensor")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build(folder, args.members, args.examples, args.size, args.encoding)
        bare_times, tuned_times, audit_times = [], [], []
        for _ in range(args.repeats):
            for tuned, times in (("0", bare_times), ("1", tuned_times)):
                out = subprocess.run([sys.executable, "-c", BARE, str(folder / "models" / "seed-*.onnx"),
                                      str(folder / "test.parquet"), "256", args.encoding, tuned],
                                     capture_output=True, text=True, check=True)
                times.append(float(out.stdout.strip()))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "uspec_audit", "run", str(folder / "audit.toml"), "--fresh",
                            "--no-reports", "--json"], capture_output=True, text=True, check=True, cwd=folder)
            audit_times.append(time.perf_counter() - start)
        manifest = __import__("json").loads((folder / "results" / "manifest.json").read_text())
        bare, tuned, audit = min(bare_times), min(tuned_times), min(audit_times)
        timings = manifest["timings"]
        print(f"members={args.members} examples={args.examples} size={args.size} encoding={args.encoding}")
        print(f"bare onnxruntime loop, default sessions     : {bare:8.2f} s")
        print(f"bare onnxruntime loop, one shared pool      : {tuned:8.2f} s")
        print(f"uspec-audit run (whole process, wall clock) : {audit:8.2f} s  (load {timings['load_s']:.2f} s, "
              f"inference {timings['inference_s']:.2f} s, statistics {timings['analysis_s']:.2f} s)")
        print(f"ratio audit / bare default                  : {audit / bare:8.3f}")
        print(f"ratio audit / bare shared pool              : {audit / tuned:8.3f}   (target <= 1.15)")


if __name__ == "__main__":
    main()
