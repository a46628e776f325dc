"""Overhead of an audit over bare inference: the same members and data, both read from Parquet.

    python benchmarks/overhead.py [--members 8] [--examples 10000] [--size 32] [--encoding tensor|png] [--pools ...]
                                  [--repeats 5] [--background-load 1]

Builds N small CNNs (random weights, exported to ONNX) and a Parquet test set
of uint8 images, then times, interleaved (bare, audit, bare, audit, ...) so
that each pair sees the same machine load, each in a fresh process:

- *bare*: a plain loop that reads the Parquet file in batches, preprocesses,
  and runs every member's onnxruntime session on every batch -- the least
  work any evaluation must do -- with default sessions (a thread pool each),
  with one shared pool (what uspec-audit's command uses: the fair baseline),
  and with per-session pools that do not spin; each with the process setting
  the command gives itself (no numpy huge-page advice, ``cli/memory.py``);
- *audit*: ``uspec-audit run --fresh --no-reports`` of an audit with one iid test
  on the same data (metrics, ensemble statistics, Parquet results, manifest).

The bare loop is timed two ways: the loop alone (as the historical ratio), and
the whole process (start-up, imports, sessions), which is what the audit's wall
clock contains too. Ratios are medians over repeats of the pair ratios.
``--background-load N`` runs N busy processes (one spinning Python loop each)
during the timings, to check that the thread pool holds up when the machine is
shared (no spin-wait collapse). Targets: audit / bare shared pool <= 1.05 at
64x64 and <= 1.08 at 32x32 (8 members, 10,000 images).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BARE = """
import sys, time
import numpy as np, onnxruntime as ort, pyarrow.parquet as pq
from PIL import Image
import io
models, data, batch, encoding, pool = sys.argv[1:6]
options = ort.SessionOptions()
if pool == "shared":  # what uspec-audit does in its CLI process: one shared pool for all sessions
    ort.set_global_thread_pool_sizes(0, 1)
    options.use_per_session_threads = False
elif pool == "nospin":  # a pool per session that sleeps instead of spinning while another session runs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
            torch.nn.Conv2d(3, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(64, 64, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(64, 10),
        ).eval()
        torch.onnx.export(
            net,
            torch.zeros(1, 3, size, size),
            str(models / f"seed-{seed}.onnx"),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}},
            dynamo=False,
        )
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
            tensor_type, pa.FixedSizeListArray.from_arrays(pa.array(images.reshape(-1)), size * size * 3)
        )
    pq.write_table(
        pa.table({"image": column, "label": labels, "id": np.arange(examples)}), folder / "test.parquet"
    )
    (folder / "audit.toml").write_text(
        textwrap.dedent("""
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
    """)
    )


POOLS = {
    "default": "default sessions",
    "shared": "one shared pool",
    "nospin": "per-session pools, no spinning",
}


@contextmanager
def background_load(processes: int):
    """``processes`` busy loops (competing work on a shared machine), stopped by process id afterwards."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


#: The bare loop runs with the process settings the command gives itself (cli/memory.py): no huge-page advice.
BARE_ENV = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}


def timed(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, str]:
    """Wall-clock seconds of a whole process (start to exit) and its stdout."""
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd, env=env)
    return time.perf_counter() - started, out.stdout


def compile_package() -> None:
    """Byte-compile uspec_audit once, as an installed wheel is: in a checkout run with PYTHONDONTWRITEBYTECODE
    every run would otherwise compile its modules from source, which the bare loop's libraries never do."""
    import compileall

    import uspec_audit

    compileall.compile_dir(str(Path(uspec_audit.__file__).parent), quiet=1)


def measure(folder: Path, args, load: int) -> dict:
    bare_loop: dict[str, list[float]] = {pool: [] for pool in POOLS}
    bare_process: dict[str, list[float]] = {pool: [] for pool in POOLS}
    audit, timings, loads = [], [], []
    with background_load(load):
        for _ in range(args.repeats):
            for pool in args.pools:
                wall, stdout = timed(
                    [
                        sys.executable,
                        "-c",
                        BARE,
                        str(folder / "models" / "seed-*.onnx"),
                        str(folder / "test.parquet"),
                        "256",
                        args.encoding,
                        pool,
                    ],
                    env=BARE_ENV,
                )
                bare_loop[pool].append(float(stdout.strip()))
                bare_process[pool].append(wall)
            wall, _ = timed(
                [
                    sys.executable,
                    "-m",
                    "uspec_audit",
                    "run",
                    str(folder / "audit.toml"),
                    "--fresh",
                    "--no-reports",
                    "--json",
                ],
                cwd=folder,
            )
            audit.append(wall)
            timings.append(json.loads((folder / "results" / "manifest.json").read_text())["timings"])
            loads.append(os.getloadavg()[0])  # the machine is shared: every pair is quoted with its load
    return {"loop": bare_loop, "process": bare_process, "audit": audit, "timings": timings, "loads": loads}


def report(result: dict, load: int, args) -> dict[str, float]:
    med = statistics.median
    audit = result["audit"]
    t = {
        key: med(x[key] for x in result["timings"])
        for key in ("load_s", "inference_s", "analysis_s", "total_s")
    }
    print(
        f"\n-- background load: {load} busy process(es); load average after each pair "
        f"{', '.join(f'{x:.1f}' for x in result['loads'])}; median of {args.repeats} interleaved repeats"
    )
    for pool, label in POOLS.items():
        if pool not in args.pools:
            continue
        print(
            f"bare onnxruntime, {label:31s}: loop {med(result['loop'][pool]):7.2f} s, "
            f"whole process {med(result['process'][pool]):7.2f} s"
        )
    print(
        f"uspec-audit run (whole process)                  : {med(audit):7.2f} s  (in the manifest: inference "
        f"{t['inference_s']:.2f} s, statistics {t['analysis_s']:.2f} s, run {t['total_s']:.2f} s)"
    )
    ratios = {}
    for pool in args.pools:
        for how in ("loop", "process"):
            ratios[f"{pool}/{how}"] = med(a / b for a, b in zip(audit, result[how][pool], strict=True))
    print("ratio audit / bare (median of pair ratios)       :   vs loop   vs whole process")
    for pool, label in POOLS.items():
        if pool in args.pools:
            print(f"  {label:47s}: {ratios[pool + '/loop']:8.3f}   {ratios[pool + '/process']:8.3f}")
    runs = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(audit, result["process"]["shared"], strict=True))
    print(f"  pairs (audit / bare shared pool, whole process): {runs}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--encoding", choices=["tensor", "png"], default="tensor")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--pools",
        nargs="+",
        choices=list(POOLS),
        default=list(POOLS),
        help="bare baselines to time (the target is against 'shared')",
    )
    parser.add_argument(
        "--background-load",
        type=int,
        default=0,
        help="also measure with this many competing busy processes (0: only without)",
    )
    args = parser.parse_args()
    if "shared" not in args.pools:
        parser.error("--pools must include shared (the baseline of the target)")
    target = 1.05 if args.size >= 64 else 1.08
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build(folder, args.members, args.examples, args.size, args.encoding)
        print(
            f"members={args.members} examples={args.examples} size={args.size} encoding={args.encoding} "
            f"cores={os.cpu_count()} load average before={os.getloadavg()[0]:.1f}"
        )
        quiet = report(measure(folder, args, 0), 0, args)
        loaded = (
            report(measure(folder, args, args.background_load), args.background_load, args)
            if args.background_load
            else None
        )
    print(
        f"\nratio audit / bare shared pool (target <= {target:.2f}): loop {quiet['shared/loop']:.3f}, "
        f"whole process {quiet['shared/process']:.3f}"
        + (
            f"; with {args.background_load} busy process(es): loop {loaded['shared/loop']:.3f}, "
            f"whole process {loaded['shared/process']:.3f}"
            if loaded
            else ""
        )
    )


if __name__ == "__main__":
    main()
