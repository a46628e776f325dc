"""Fidelity and throughput of the built-in image corruptions against imagecorruptions 1.1.2.

    python benchmarks/corruptions.py                      # fidelity table + throughput (256 images)
    python benchmarks/corruptions.py --images 64 --reference-images 2
    python benchmarks/corruptions.py --skip-throughput    # fidelity only

Needs ``pip install imagecorruptions==1.1.2`` (a dev dependency, never a runtime
one) and scikit-image for the sample images and SSIM; the shims that make
1.1.2 import on numpy 2 / scikit-image >= 0.19 / setuptools >= 81 are in
:func:`load_reference`.

Fidelity, for each corruption and severity, on natural sample images (skimage.data, 224 x 224):

* ``pixel`` corruptions (deterministic given their random draws: brightness,
  contrast, saturate, pixelate, JPEG, defocus, Gaussian, zoom blur, and motion
  blur with the reference called at *our* drawn angle): mean absolute change
  from the clean image, ours vs reference (MAC), SSIM of our corrupted image vs
  the reference's, and the maximum absolute pixel difference.
* ``stat`` corruptions (their output is random): MAC and the sd of the signed
  pixel change, ours (several seeds) vs reference (several draws); the table
  shows their relative difference.

Tolerances (also the tests' assertions in tests/perturb/test_image_reference.py)
are in ``TOLERANCES``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from uspec_audit.components import PerturbContext  # noqa: E402
from uspec_audit.perturb.image import APPLY, IMAGE_PERTURBATIONS  # noqa: E402
from uspec_audit.perturb.image_blur import MOTION_BLUR  # noqa: E402

PIXEL = (
    "brightness",
    "contrast",
    "saturate",
    "pixelate",
    "jpeg_compression",
    "defocus_blur",
    "gaussian_blur",
    "zoom_blur",
    "motion_blur",
)
# pixel corruptions: (min SSIM vs reference, max |MAC ours - MAC ref| in grey levels)
# stat corruptions: max relative difference of MAC, of the sd of the change
TOLERANCES: dict[str, tuple[float, float]] = {
    **{name: (0.99, 0.5) for name in PIXEL},
    "gaussian_noise": (0.05, 0.05),
    "shot_noise": (0.05, 0.05),
    "impulse_noise": (0.10, 0.10),
    "speckle_noise": (0.05, 0.05),
    "glass_blur": (0.05, 0.05),
    "elastic_transform": (0.05, 0.05),
    "snow": (0.10, 0.10),
    "fog": (0.15, 0.15),
    "frost": (0.25, 0.25),
    "spatter": (0.25, 0.25),
}


def load_reference():
    """imagecorruptions 1.1.2 with its compatibility shims, or None when it is not installed.

    Shims (test/benchmark only): ``np.float_`` (removed in numpy 2), a
    ``pkg_resources.resource_filename`` stand-in (setuptools >= 81 dropped
    ``pkg_resources``), and ``skimage.filters.gaussian(multichannel=True)`` ->
    ``channel_axis=-1`` (scikit-image >= 0.19), and ``skimage.util.random_noise``
    seeded from numpy's global state (scikit-image >= 0.19 ignores ``np.random.seed``).
    """
    if importlib.util.find_spec("imagecorruptions") is None:
        return None
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    if importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, path: str) -> str:
            return os.path.join(os.path.dirname(sys.modules[package].__file__), path)

        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import imagecorruptions
        import imagecorruptions.corruptions as ref
    from skimage.filters import gaussian as sk_gaussian

    def gaussian(image, sigma=1, multichannel=None, **kw):
        if multichannel:
            kw["channel_axis"] = -1
        return sk_gaussian(image, sigma=sigma, **kw)

    ref.gaussian = gaussian

    # scikit-image >= 0.19 draws random_noise from an unseeded default_rng, so np.random.seed no longer
    # controls impulse noise: derive its generator from the (seeded) legacy global state instead.
    import skimage.util

    if not getattr(skimage.util.random_noise, "_uspec_seeded", False):
        unseeded = skimage.util.random_noise

        def random_noise(image, *args, **kwargs):
            if kwargs.get("rng") is None and kwargs.get("seed") is None:
                kwargs["rng"] = int(np.random.randint(0, 2**31 - 1))
            return unseeded(image, *args, **kwargs)

        random_noise._uspec_seeded = True
        skimage.util.random_noise = random_noise
    return imagecorruptions


def sample_images(size: int = 224, count: int = 4) -> np.ndarray:
    """Natural images shipped with scikit-image, centre-cropped and resized to size x size."""
    from PIL import Image
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"]
    out = []
    for name in names[:count]:
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        out.append(np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC)))
    return np.stack(out)


def ours(name: str, images: np.ndarray, severity: int, seeds: np.ndarray, device: str = "cpu") -> np.ndarray:
    return APPLY[name](
        images, PerturbContext(seeds=np.asarray(seeds, dtype=np.uint64), severity=severity, device=device)
    )


def reference(
    ic, name: str, image: np.ndarray, severity: int, seed: int, angle: float | None = None
) -> np.ndarray:
    """The reference corruption of one image; motion blur at a given angle when ``angle`` is set."""
    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "motion_blur" and angle is not None:
            radius, sigma = MOTION_BLUR[severity - 1]
            out = ic.corruptions._motion_blur(image, radius=radius, sigma=sigma, angle=angle)
            return np.uint8(np.clip(out, 0, 255))
        return ic.corrupt(image, severity=severity, corruption_name=name)


def our_motion_angles(seeds: np.ndarray) -> list[float]:
    return [float(np.random.default_rng(int(s)).uniform(-45, 45)) for s in seeds]


def compare(ic, name: str, images: np.ndarray, severity: int, draws: int) -> dict[str, float]:
    """Fidelity numbers of one corruption and severity (see the module docstring)."""
    from skimage.metrics import structural_similarity

    clean = images.astype(np.float64)
    if name in PIXEL:
        seeds = np.arange(len(images), dtype=np.uint64) + 1000 * severity
        got = ours(name, images, severity, seeds)
        angles = our_motion_angles(seeds) if name == "motion_blur" else [None] * len(images)
        exp = np.stack(
            [reference(ic, name, img, severity, 0, a) for img, a in zip(images, angles, strict=True)]
        )
        ssim = [
            structural_similarity(g, e, channel_axis=-1, data_range=255)
            for g, e in zip(got, exp, strict=True)
        ]
        mac_o = np.abs(got - clean).mean()
        mac_r = np.abs(exp - clean).mean()
        return {
            "kind": "pixel",
            "mac_ours": mac_o,
            "mac_ref": mac_r,
            "ssim": float(np.min(ssim)),
            "maxdiff": float(np.abs(got.astype(int) - exp.astype(int)).max()),
            "ok": bool(np.min(ssim) >= TOLERANCES[name][0] and abs(mac_o - mac_r) <= TOLERANCES[name][1]),
        }
    got, exp = [], []
    for k in range(draws):
        seeds = np.arange(len(images), dtype=np.uint64) + 7919 * k + 100 * severity
        got.append(ours(name, images, severity, seeds).astype(np.float64) - clean)
        exp.append(
            np.stack([reference(ic, name, img, severity, 31 * k + i) for i, img in enumerate(images)]) - clean
        )
    got, exp = np.stack(got), np.stack(exp)
    mac_o, mac_r = np.abs(got).mean(), np.abs(exp).mean()
    sd_o, sd_r = got.std(), exp.std()
    rel_mac = abs(mac_o - mac_r) / max(mac_r, 1.0)
    rel_sd = abs(sd_o - sd_r) / max(sd_r, 1.0)
    return {
        "kind": "stat",
        "mac_ours": mac_o,
        "mac_ref": mac_r,
        "sd_ours": sd_o,
        "sd_ref": sd_r,
        "rel_mac": rel_mac,
        "rel_sd": rel_sd,
        "ok": bool(rel_mac <= TOLERANCES[name][0] and rel_sd <= TOLERANCES[name][1]),
    }


def fidelity(ic, images: np.ndarray, draws: int, names: list[str]) -> bool:
    print(
        f"\nFidelity vs imagecorruptions 1.1.2 on {len(images)} images of {images.shape[1]}x{images.shape[2]}"
    )
    print(f"{'corruption':18s} sev kind   MAC ours  MAC ref   SSIM / rel.MAC  maxdiff / rel.sd   ok")
    all_ok = True
    for name in names:
        for sev in range(1, 6):
            r = compare(ic, name, images, sev, draws)
            all_ok &= r["ok"]
            if r["kind"] == "pixel":
                a, b = f"{r['ssim']:.4f}", f"{r['maxdiff']:.0f}"
            else:
                a, b = f"{r['rel_mac']:.3f}", f"{r['rel_sd']:.3f}"
            mark = "yes" if r["ok"] else "NO"
            print(
                f"{name:18s} {sev:3d} {r['kind']:5s} {r['mac_ours']:9.2f} {r['mac_ref']:8.2f}   {a:>14s}  {b:>16s}  {mark}"
            )
    print("\nTolerances: pixel: SSIM(ours, ref) >= min SSIM and |MAC ours - MAC ref| <= levels;")
    print("            stat: |MAC ours - MAC ref| / MAC ref and |sd ours - sd ref| / sd ref <= rel.")
    for name, (a, b) in TOLERANCES.items():
        kind = "pixel" if name in PIXEL else "stat"
        desc = f"SSIM >= {a}, |dMAC| <= {b}" if kind == "pixel" else f"rel.MAC <= {a}, rel.sd <= {b}"
        print(f"  {name:18s} {kind:5s} {desc}")
    return all_ok


def throughput(ic, n_images: int, n_ref: int, batch: int, device: str) -> float | None:
    """Time the 19 x 5 sweep, ours on ``n_images`` and the reference on ``n_ref`` images.

    Ours and the reference are timed corruption by corruption, one after the
    other, so that both see the same machine load; wall and CPU (process) time
    are reported per image.
    """
    rng = np.random.default_rng(0)
    base = sample_images(224, 6)
    images = base[rng.integers(0, len(base), n_images)]
    # vary the images a little so that no two are identical
    images = np.clip(images.astype(np.int16) + rng.integers(-3, 4, images.shape), 0, 255).astype(np.uint8)
    names = list(IMAGE_PERTURBATIONS)
    rows = []
    for name in names:
        w0, c0 = time.perf_counter(), time.process_time()
        for sev in range(1, 6):
            for start in range(0, n_images, batch):
                chunk = images[start : start + batch]
                ours(name, chunk, sev, np.arange(start, start + len(chunk), dtype=np.uint64), device)
        ours_wall, ours_cpu = (time.perf_counter() - w0) / n_images, (time.process_time() - c0) / n_images
        ref_wall = ref_cpu = float("nan")
        if ic is not None and n_ref > 0:
            w0, c0 = time.perf_counter(), time.process_time()
            for sev in range(1, 6):
                for i in range(n_ref):
                    reference(ic, name, images[i], sev, i)
            ref_wall, ref_cpu = (time.perf_counter() - w0) / n_ref, (time.process_time() - c0) / n_ref
        rows.append((name, ours_wall, ours_cpu, ref_wall, ref_cpu))
    print(f"\nThroughput: 19 corruptions x 5 severities on 224x224 images, device={device}, batch={batch};")
    print(f"ours on {n_images} images, reference on {n_ref} (per-image times extrapolated). ms per image:")
    print(
        f"{'corruption':18s} {'ours wall':>10s} {'ours cpu':>10s} {'ref wall':>10s} {'ref cpu':>10s} {'ratio':>7s}"
    )
    for name, ow, oc, rw, rc in rows:
        print(
            f"{name:18s} {ow * 1e3:10.1f} {oc * 1e3:10.1f} {rw * 1e3:10.1f} {rc * 1e3:10.1f} {rw / ow:7.1f}"
        )
    tot = [sum(r[i] for r in rows) for i in range(1, 5)]
    print(
        f"{'all 95':18s} {tot[0] * 1e3:10.1f} {tot[1] * 1e3:10.1f} {tot[2] * 1e3:10.1f} {tot[3] * 1e3:10.1f}"
    )
    if ic is None or n_ref == 0:
        return None
    ratio = tot[2] / tot[0]
    print(f"speed ratio (reference / ours): {ratio:.1f}x wall, {tot[3] / tot[1]:.1f}x CPU time (goal >= 10x)")
    return ratio


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=256, help="images for our throughput sweep")
    p.add_argument("--reference-images", type=int, default=4, help="images for the reference's throughput")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fidelity-images", type=int, default=4)
    p.add_argument("--draws", type=int, default=2, help="random draws per image for the stat corruptions")
    p.add_argument("--only", nargs="*", help="corruption names (default: all 19)")
    p.add_argument("--skip-fidelity", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    args = p.parse_args(argv)
    ic = load_reference()
    if ic is None:
        print(
            "imagecorruptions is not installed (pip install imagecorruptions==1.1.2): reference parts skipped"
        )
    ok = True
    if not args.skip_fidelity and ic is not None:
        ok = fidelity(
            ic, sample_images(224, args.fidelity_images), args.draws, args.only or list(IMAGE_PERTURBATIONS)
        )
    if not args.skip_throughput:
        throughput(ic, args.images, args.reference_images, args.batch, args.device)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
