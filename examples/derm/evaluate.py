"""Quick check of the shipped derm ensemble with onnxruntime (not the audit tool).

    python examples/derm/evaluate.py [--root examples/derm]

Prints each member's accuracy on test.parquet, per Fitzpatrick type, and on the
held-out camera, with the mean and standard deviation across members.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from PIL import Image

HERE = Path(__file__).resolve().parent
SKIN_TYPES = ("I", "II", "III", "IV", "V", "VI")


def load(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    df = pd.read_parquet(path)
    imgs = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in df["image"]])
    x = (imgs.astype(np.float32).transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.25
    return x, df


def predict(model: Path, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], {"image": x[s : s + 512]})[0] for s in range(0, len(x), 512)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=HERE)
    args = ap.parse_args()
    models = sorted((args.root / "models").glob("seed-*.onnx"), key=lambda p: int(p.stem.split("-")[1]))
    x_t, t = load(args.root / "data" / "test.parquet")
    x_h, h = load(args.root / "data" / "heldout_camera.parquet")
    rows = {}
    for m in models:
        pt = predict(m, x_t).argmax(1) == t["label"].to_numpy()
        ph = predict(m, x_h).argmax(1) == h["label"].to_numpy()
        r = {"iid": pt.mean()}
        for s in SKIN_TYPES:
            r[s] = pt[t["fitzpatrick"].to_numpy() == s].mean()
        r["heldout_camera"] = ph.mean()
        for s in ("V", "VI"):
            r[f"heldout_{s}"] = ph[h["fitzpatrick"].to_numpy() == s].mean()
        rows[m.stem] = r
    res = pd.DataFrame(rows).T
    n = {
        "iid": len(t),
        **{s: int((t["fitzpatrick"] == s).sum()) for s in SKIN_TYPES},
        "heldout_camera": len(h),
    }
    n.update({f"heldout_{s}": int((h["fitzpatrick"] == s).sum()) for s in ("V", "VI")})
    pd.set_option("display.width", 200)
    print(res.round(3))
    summ = pd.DataFrame({"n": pd.Series(n), "mean": res.mean(), "sd": res.std(ddof=1)})
    summ["sd_ratio_vs_iid"] = summ["sd"] / summ.loc["iid", "sd"]
    print(summ.round(4))

    x_c, c = load(args.root / "data" / "counterfactual.parquet")
    order = np.lexsort((c["ita"].to_numpy() * -1, c["lesion_id"].to_numpy()))
    n_les = len(c) // len(SKIN_TYPES)
    flips = {}
    for m in models:
        pred = predict(m, x_c[order]).argmax(1).reshape(n_les, len(SKIN_TYPES))
        flips[m.stem] = (pred != pred[:, :1]).any(axis=1)
    f = pd.DataFrame(flips)
    print(f"counterfactual: lesions whose prediction changes with skin type, per member (n={n_les}):")
    print(f.mean().round(3).to_string())
    both = f.to_numpy()
    agree = np.mean([np.mean(both[:, i] == both[:, j]) for i in range(both.shape[1]) for j in range(i)])
    print(f"mean pairwise agreement on which lesions flip: {agree:.3f}")


if __name__ == "__main__":
    main()
