"""Audit vs bare onnxruntime on a GPU, with a ResNet-50-sized member ensemble made here (no downloads).

    python benchmarks/gpu.py [--members 4] [--examples 2048] [--batch 128] [--fp16]

Builds ``--members`` ResNet-50 networks (torch, random weights, one seed each;
the standard 3-4-6-3 bottleneck layout, 25.6 M parameters) and exports them to
ONNX, writes ``--examples`` 224 x 224 uint8 images to Parquet, then times in
fresh processes:

- *bare*: the least work an evaluation on a GPU must do -- read the Parquet
  batches, preprocess, copy each batch to the device once (an ``OrtValue``
  shared by every member through IO binding) and run every member;
- *audit*: ``uspec-audit run --fresh --no-reports --device cuda`` of an iid
  audit on the same data (metrics, statistics, Parquet results, manifest);

and prints audit / bare and images/s (member-inferences/s). ``--fp16`` runs
both with float16 members (the audit's ``options.fp16``).

Without a CUDA device (and onnxruntime-gpu) it says so and exits 0: nothing
is measured. ``--dry-run-on-cpu`` runs the same script on the CPU with small
members to check that it works; its numbers are CPU numbers, not GPU ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

BARE = """
import sys, time, glob
import numpy as np, onnxruntime as ort, pyarrow.parquet as pq
models, data, batch, device, fp16 = sys.argv[1:6]
provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
options = ort.SessionOptions()
options.log_severity_level = 3
sources = sorted(glob.glob(models))
if fp16 == "1":
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    sources = [convert_float_to_float16(onnx.load(p), keep_io_types=True).SerializeToString() for p in sources]
sessions = [ort.InferenceSession(s, options, providers=[provider]) for s in sources]
name, out = sessions[0].get_inputs()[0].name, sessions[0].get_outputs()[0].name
mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
std = np.array([0.229, 0.224, 0.225], np.float32) * 255
start = time.perf_counter()
n = 0
for record in pq.ParquetFile(data).iter_batches(batch_size=int(batch), columns=["image"]):
    images = record.column("image").to_numpy_ndarray()
    x = np.ascontiguousarray(((images.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2))
    if len(x) < int(batch):  # the same fixed shape as the audit's last batch
        x = np.concatenate([x, np.zeros((int(batch) - len(x), *x.shape[1:]), np.float32)])
    on_device = ort.OrtValue.ortvalue_from_numpy(x, device, 0)  # copied once, shared by every member
    for session in sessions:
        binding = session.io_binding()
        binding.bind_ortvalue_input(name, on_device)
        binding.bind_output(out, device, 0)
        session.run_with_iobinding(binding)
        binding.copy_outputs_to_cpu()
    n += len(images)
print(time.perf_counter() - start)
"""


def gpu_status() -> str | None:
    """None when a CUDA device is usable by onnxruntime, else why not."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return (
            f"this onnxruntime offers {providers}, no CUDAExecutionProvider (pip install 'uspec-audit[gpu]' "
            f"without the CPU onnxruntime beside it)"
        )
    try:
        import torch

        if not torch.cuda.is_available():
            return "torch sees no CUDA device"
    except ImportError:
        pass
    return None


def resnet50(seed: int, width: float = 1.0, classes: int = 1000):
    """ResNet-50 (He et al. 2016): bottleneck blocks 3-4-6-3; ``width`` < 1 shrinks it for CPU dry runs."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Bottleneck(nn.Module):
        def __init__(self, inputs: int, planes: int, stride: int):
            super().__init__()
            out = planes * 4
            self.body = nn.Sequential(
                nn.Conv2d(inputs, planes, 1, bias=False),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True),
                nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True),
                nn.Conv2d(planes, out, 1, bias=False),
                nn.BatchNorm2d(out),
            )
            self.skip = (
                nn.Sequential(nn.Conv2d(inputs, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                if stride != 1 or inputs != out
                else nn.Identity()
            )

        def forward(self, x):
            return torch.relu(self.body(x) + self.skip(x))

    base = max(8, int(64 * width))
    layers: list = [
        nn.Conv2d(3, base, 7, 2, 3, bias=False),
        nn.BatchNorm2d(base),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    inputs = base
    for index, (blocks, planes) in enumerate(
        zip((3, 4, 6, 3), (base, base * 2, base * 4, base * 8), strict=True)
    ):
        for block in range(blocks):
            layers.append(Bottleneck(inputs, planes, 2 if block == 0 and index > 0 else 1))
            inputs = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inputs, classes)]
    model = nn.Sequential(*layers).eval()
    with torch.no_grad():  # non-trivial running statistics, so batch norm is not an identity
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 1.5)
                module.running_mean.uniform_(-0.1, 0.1)
    return model


def build(folder: Path, members: int, examples: int, width: float, side: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    models = folder / "models"
    models.mkdir(parents=True)
    for seed in range(members):
        torch.onnx.export(
            resnet50(seed, width),
            torch.zeros(1, 3, side, side),
            str(models / f"seed-{seed}.onnx"),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}},
            dynamo=False,
        )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(examples, side, side, 3), dtype=np.uint8)
    tensor_type = pa.fixed_shape_tensor(pa.uint8(), (side, side, 3))
    column = pa.ExtensionArray.from_storage(
        tensor_type, pa.FixedSizeListArray.from_arrays(pa.array(images.reshape(-1)), side * side * 3)
    )
    labels = rng.integers(0, 1000, size=examples)
    pq.write_table(
        pa.table({"image": column, "label": labels, "id": np.arange(examples)}), folder / "test.parquet"
    )


def write_audit(folder: Path, batch: int, fp16: bool) -> Path:
    options = "options = { fp16 = true }" if fp16 else ""
    path = folder / "audit.toml"
    path.write_text(
        textwrap.dedent(f"""
        [audit]
        name = "gpu"
        seed = 1
        output = "results"
        batch_size = {batch}

        [ensembles.resnet50]
        members = "models/seed-*.onnx"
        task = "multiclass"
        num_classes = 1000
        preprocess = {{ layout = "NCHW", scale = 1.0, mean = [123.675, 116.28, 103.53], std = [58.395, 57.12, 57.375] }}
        {options}

        [datasets.test]
        source = "parquet"
        path = "test.parquet"
        id = "id"

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy", "nll"]
    """)
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--examples", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fp16", action="store_true", help="float16 members (options.fp16), bare and audit")
    parser.add_argument(
        "--dry-run-on-cpu",
        action="store_true",
        help="no GPU: run the script on the CPU with small members (checks the script, measures no GPU)",
    )
    args = parser.parse_args()
    reason = gpu_status()
    device, width, side = "cuda", 1.0, 224
    if reason is not None:
        if not args.dry_run_on_cpu:
            print(f"no GPU: {reason}. Nothing was measured (run this on a machine with a CUDA GPU).")
            return 0
        device, width, side = "cpu", 0.125, 64
        print(
            f"no GPU ({reason}): DRY RUN ON THE CPU with ResNet-50 at width {width} on {side}x{side} images; "
            f"these are CPU numbers, not GPU numbers."
        )
    with tempfile.TemporaryDirectory(prefix="uspec-gpu-") as tmp:
        folder = Path(tmp)
        build(folder, args.members, args.examples, width, side)
        write_audit(folder, args.batch, args.fp16)
        bare_times, audit_times, inference_times = [], [], []
        for _ in range(args.repeats):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    BARE,
                    str(folder / "models" / "seed-*.onnx"),
                    str(folder / "test.parquet"),
                    str(args.batch),
                    device,
                    "1" if args.fp16 else "0",
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                print(out.stderr[-3000:])
                return 1
            bare_times.append(float(out.stdout.strip().splitlines()[-1]))
            started = time.perf_counter()
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "uspec_audit",
                    "run",
                    str(folder / "audit.toml"),
                    "--fresh",
                    "--no-reports",
                    "--json",
                    "--device",
                    device,
                ],
                capture_output=True,
                text=True,
                cwd=folder,
            )
            if out.returncode not in (0, 1):
                print(out.stdout[-3000:], out.stderr[-3000:])
                return 1
            audit_times.append(time.perf_counter() - started)
            manifest = json.loads((folder / "results" / "manifest.json").read_text())
            inference_times.append(manifest["timings"]["inference_s"])
        providers = {p for e in manifest["ensembles"] for m in e["members"] for p in m["providers"][:1]}
    bare, audit, inference = (statistics.median(t) for t in (bare_times, audit_times, inference_times))
    work = args.members * args.examples
    print(
        f"device {device} ({', '.join(sorted(providers))}); {args.members} ResNet-50 members"
        f"{' (fp16)' if args.fp16 else ''} x {args.examples} images {side}x{side}, batch {args.batch}; "
        f"median of {args.repeats}"
    )
    print(
        f"bare onnxruntime loop (IO binding, one device copy per batch) : {bare:8.2f} s  "
        f"{args.examples / bare:8.0f} images/s  {work / bare:8.0f} member-inferences/s"
    )
    print(
        f"uspec-audit run, inference stage                              : {inference:8.2f} s  "
        f"{args.examples / inference:8.0f} images/s  {work / inference:8.0f} member-inferences/s"
    )
    print(f"uspec-audit run, whole process                                : {audit:8.2f} s")
    print(f"ratio audit inference / bare : {inference / bare:6.3f}")
    print(
        f"ratio audit process / bare   : {audit / bare:6.3f}  (the process includes start-up, model loading, "
        f"statistics and writing results)"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    sys.exit(main())
