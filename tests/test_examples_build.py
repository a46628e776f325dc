"""Smoke tests of the example builders (examples/derm, examples/digits).

Real subprocess builds at reduced size, real Parquet, real onnxruntime and torch.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DERM = ROOT / "examples" / "derm"
DIGITS = ROOT / "examples" / "digits"

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
ort = pytest.importorskip("onnxruntime")


def _load_generate():
    name = "uspec_examples_derm_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DERM / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


def _run(script: Path, out: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(script), "--small", "--out", str(out), "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _decode(blobs) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs])


def _derm_input(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32) / 255.0 - 0.5) / 0.25).transpose(0, 3, 1, 2).copy()


@pytest.fixture(scope="module")
def derm_build(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("derm")
    _run(DERM / "build.py", out)
    return out


EXPECTED_SCHEMA = {
    "id": pa.int64(),
    "image": pa.binary(),
    "label": pa.int64(),
    "condition": pa.string(),
    "fitzpatrick": pa.string(),
    "camera": pa.string(),
    "lesion_id": pa.int64(),
    "ita": pa.float64(),
}


@pytest.mark.parametrize("name", ["test", "heldout_camera", "counterfactual"])
def test_derm_parquet_schema(derm_build: Path, name: str) -> None:
    table = pq.read_table(derm_build / "data" / f"{name}.parquet")
    assert {f.name: f.type for f in table.schema} == EXPECTED_SCHEMA
    df = table.to_pandas()
    assert len(df) > 0
    assert df["id"].is_unique
    assert set(df["fitzpatrick"]) <= {"I", "II", "III", "IV", "V", "VI"}
    gen = _load_generate()
    assert (df["condition"] == np.asarray(gen.CLASSES)[df["label"]]).all()
    if name == "heldout_camera":
        assert set(df["camera"]) == {gen.HELDOUT_CAMERA}
    else:
        assert gen.HELDOUT_CAMERA not in set(df["camera"])
    img = _decode(df["image"][:3])
    assert img.shape == (3, 64, 64, 3) and img.dtype == np.uint8


def test_derm_counterfactual_matched_sets(derm_build: Path) -> None:
    df = pq.read_table(derm_build / "data" / "counterfactual.parquet").to_pandas()
    groups = df.groupby("lesion_id")
    assert groups.ngroups * 6 == len(df)
    for _, g in groups:
        assert sorted(g["fitzpatrick"]) == sorted(["I", "II", "III", "IV", "V", "VI"])
        assert g["label"].nunique() == 1 and g["camera"].nunique() == 1
        assert g["ita"].is_monotonic_decreasing  # I (lightest) ... VI (darkest), in row order
        imgs = _decode(g["image"])
        # darker skin, darker image
        assert imgs[0].mean() > imgs[-1].mean()


def test_derm_models_run(derm_build: Path) -> None:
    torch = pytest.importorskip("torch")
    meta = json.loads((derm_build / "models" / "training.json").read_text())
    k = len(meta["classes"])
    assert len(meta["members"]) == 2
    df = pq.read_table(derm_build / "data" / "test.parquet").to_pandas()
    x = _derm_input(_decode(df["image"]))
    onnx_out = {}
    for seed in range(2):
        sess = ort.InferenceSession(
            str(derm_build / "models" / f"seed-{seed}.onnx"), providers=["CPUExecutionProvider"]
        )
        assert [i.name for i in sess.get_inputs()] == ["image"]
        assert [o.name for o in sess.get_outputs()] == ["logits"]
        (logits,) = sess.run(["logits"], {"image": x})
        assert logits.shape == (len(df), k) and np.isfinite(logits).all()
        (one,) = sess.run(["logits"], {"image": x[:1]})  # dynamic batch axis
        assert one.shape == (1, k)
        onnx_out[seed] = logits
        ts = torch.jit.load(str(derm_build / "models" / f"seed-{seed}.pt"))
        with torch.no_grad():
            t_logits = ts(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(t_logits, logits, rtol=1e-3, atol=1e-3)
    assert not np.allclose(onnx_out[0], onnx_out[1])  # seeds differ


def test_derm_generator_deterministic() -> None:
    gen = _load_generate()
    a = gen.generate(40, seed=123)
    b = gen.generate(40, seed=123)
    c = gen.generate(40, seed=124)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.jpeg == b.jpeg
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (40, 64, 64, 3) and a.images.dtype == np.uint8


def test_derm_counterfactual_changes_only_skin() -> None:
    gen = _load_generate()
    cf = gen.counterfactual(4, seed=7)
    assert len(cf) == 24
    assert (cf.lesion_id.reshape(4, 6) == cf.lesion_id.reshape(4, 6)[:, :1]).all()
    assert (cf.fitzpatrick.reshape(4, 6) == np.asarray(gen.SKIN_TYPES)).all()
    # Rendering a lesion again with its own skin type reproduces the same raw image.
    rng = np.random.default_rng(7)
    params = gen.sample_params(rng, 4)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    for t in range(6):
        raw_t = gen.render(gen.set_skin(params, t), noise_seed)
        np.testing.assert_array_equal(raw_t, gen.render(gen.set_skin(params, t), noise_seed))
    raw_1, raw_6 = (gen.render(gen.set_skin(params, t), noise_seed) for t in (0, 5))
    assert raw_1.mean() > raw_6.mean()


def test_digits_build(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    _run(DIGITS / "build.py", tmp_path)
    test = np.load(tmp_path / "data" / "test.npz")
    shifted = np.load(tmp_path / "data" / "shifted.npz")
    for d in (test, shifted):
        assert d["id"].dtype == np.int64 and d["label"].dtype == np.int64
        assert d["image"].dtype == np.uint8 and d["image"].shape[1:] == (8, 8, 1)
        assert set(np.unique(d["ink"])) == {"light", "medium", "heavy"}
    np.testing.assert_array_equal(test["id"], shifted["id"])
    assert not np.array_equal(test["image"], shifted["image"])
    x = test["image"].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    sess = ort.InferenceSession(str(tmp_path / "models" / "seed-0.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"image": x})
    assert logits.shape == (len(x), 10)
