"""Procedural generator of clinical-photo-like skin-lesion images (synthetic data).

Every image is 64x64 RGB uint8. An image is rendered in CIELAB (skin, lesion,
hair), converted to linear sRGB, lit (illumination gradient and vignetting), passed
through a simulated camera (3x3 colour matrix, white balance, exposure, blur, sensor
noise), gamma-encoded, quantized and JPEG-compressed at the camera's quality.

Nothing here is real patient data. The generator is a caricature of dermatology
photographs built so that an audit for underspecification has something realistic
to look at:

* skin colour follows the individual typology angle (ITA) of each Fitzpatrick type;
* inflammatory conditions are signalled mostly by redness (erythema, a CIELAB a*
  increase) whose visible contrast fades on darker skin, where inflammation shows as
  a dusky, violaceous darkening instead;
* pigmented lesions darken skin multiplicatively, so their contrast also falls on
  darker skin;
* cameras differ in colour response, sharpness, noise and JPEG quality; one camera
  (``cam-e``) is never seen in training.

All randomness comes from explicitly seeded ``numpy.random.Generator`` objects: the
same arguments give the same images, byte for byte. Per-lesion parameters are drawn
once (:func:`sample_params`); pixel noise is drawn from a generator seeded by
``noise_seed`` in a fixed order whose shapes depend only on the number of images, so
re-rendering the same parameters with a different skin type (:func:`counterfactual`)
changes the skin and nothing else.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

SIZE = 64
CLASSES: tuple[str, ...] = (
    "nevus",
    "melanoma",
    "seborrheic_keratosis",
    "psoriasis",
    "eczema",
    "acne",
)
CLASS_PROBS: tuple[float, ...] = (0.22, 0.12, 0.16, 0.16, 0.20, 0.14)

SKIN_TYPES: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")
# ITA (degrees) ranges per Fitzpatrick type (Chardon et al. 1991 categories mapped to
# types; the outer bounds of I and VI are clipped to plausible photographed skin).
ITA_RANGES: tuple[tuple[float, float], ...] = (
    (55.0, 65.0),
    (41.0, 55.0),
    (28.0, 41.0),
    (10.0, 28.0),
    (-30.0, 10.0),
    (-55.0, -30.0),
)
# Skew of typical dermatology datasets: types II-III dominant, V-VI rare.
TRAIN_SKIN_PROBS: tuple[float, ...] = (0.10, 0.30, 0.30, 0.17, 0.09, 0.04)


@dataclass(frozen=True)
class Camera:
    """Colour response and image quality of one camera type."""

    name: str
    matrix: tuple[tuple[float, float, float], ...]  # applied to linear RGB
    white_balance: tuple[float, float, float]
    blur_sigma: float  # pixels
    noise_sigma: float  # on the [0, 1] scale, signal dependent
    jpeg_quality: int


CAMERAS: dict[str, Camera] = {
    c.name: c
    for c in (
        Camera("cam-a", ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)), (1.0, 1.0, 1.0), 0.4, 0.010, 90),
        Camera(
            "cam-b",
            ((1.08, -0.05, -0.03), (-0.03, 1.05, -0.02), (-0.02, -0.06, 1.08)),
            (1.04, 1.0, 0.93),
            0.7,
            0.015,
            80,
        ),
        Camera(
            "cam-c",
            ((0.95, 0.04, 0.01), (0.03, 0.94, 0.03), (0.02, 0.05, 0.93)),
            (0.96, 1.0, 1.07),
            0.5,
            0.020,
            85,
        ),
        Camera(
            "cam-d",
            ((1.12, -0.08, -0.04), (-0.05, 1.10, -0.05), (-0.03, -0.07, 1.10)),
            (1.02, 1.01, 0.98),
            0.9,
            0.012,
            75,
        ),
        # Held-out camera: warm cast, desaturated, soft and noisy, low JPEG quality.
        Camera(
            "cam-e",
            ((0.86, 0.10, 0.04), (0.06, 0.88, 0.06), (0.03, 0.10, 0.87)),
            (1.12, 1.0, 0.84),
            1.1,
            0.025,
            60,
        ),
    )
}
TRAIN_CAMERAS: tuple[str, ...] = ("cam-a", "cam-b", "cam-c", "cam-d")
TRAIN_CAMERA_PROBS: tuple[float, ...] = (0.35, 0.30, 0.20, 0.15)
HELDOUT_CAMERA = "cam-e"

N_SPOTS = 14  # papules / pustules per image (acne, eczema)
N_HAIRS = 4  # at most
N_WAVES = 6  # cosines in the low-frequency skin texture
CHUNK = 256  # images rendered at once


# ----------------------------------------------------------------------------- colour


def ita_to_lab(ita_deg: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L* from ITA and b*: ITA = atan((L* - 50) / b*)."""
    return 50.0 + b * np.tan(np.deg2rad(ita_deg))


def lab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) to linear sRGB; ``lab`` has the channel on the last axis."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    d = 6.0 / 29.0

    def finv(t: np.ndarray) -> np.ndarray:
        return np.where(t > d, t**3, 3 * d * d * (t - 4.0 / 29.0))

    xyz = np.stack([0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz)], axis=-1)
    m = np.array(
        [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]],
        dtype=lab.dtype,
    )
    return xyz @ m.T


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)


# ------------------------------------------------------------------------- parameters


def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def sample_params(
    rng: np.random.Generator,
    n: int,
    *,
    skin_probs: tuple[float, ...] = TRAIN_SKIN_PROBS,
    cameras: tuple[str, ...] = TRAIN_CAMERAS,
    camera_probs: tuple[float, ...] | None = TRAIN_CAMERA_PROBS,
    class_probs: tuple[float, ...] = CLASS_PROBS,
) -> dict[str, np.ndarray]:
    """Draw every per-image parameter. All arrays have length ``n``.

    Class-specific parameters are drawn for every class and selected with the label,
    so the number of draws never depends on the outcome of earlier draws.
    """
    p: dict[str, np.ndarray] = {}
    k = len(CLASSES)
    p["label"] = rng.choice(k, size=n, p=np.asarray(class_probs) / np.sum(class_probs))
    p["skin_type"] = rng.choice(6, size=n, p=np.asarray(skin_probs) / np.sum(skin_probs))
    p["skin_u"] = rng.uniform(0.0, 1.0, n)  # quantile of ITA within the type's range
    p["skin_a"] = _u(rng, 7.0, 13.0, n)
    p["skin_b"] = _u(rng, 14.0, 20.0, n)
    if camera_probs is None:
        camera_probs = tuple(1.0 / len(cameras) for _ in cameras)
    cam_idx = rng.choice(len(cameras), size=n, p=np.asarray(camera_probs) / np.sum(camera_probs))
    p["camera"] = np.asarray(cameras, dtype=object)[cam_idx]

    lab = p["label"]

    def per_class(ranges: list[tuple[float, float]]) -> np.ndarray:
        draws = np.stack([rng.uniform(lo, hi, n) for lo, hi in ranges])
        return draws[lab, np.arange(n)]

    #                       nevus        melanoma     SK           psoriasis    eczema       acne
    p["radius"] = per_class(
        [(0.12, 0.30), (0.20, 0.45), (0.16, 0.40), (0.28, 0.62), (0.30, 0.70), (0.0, 0.0)]
    )
    p["irregular"] = per_class(
        [(0.01, 0.07), (0.07, 0.22), (0.03, 0.10), (0.04, 0.12), (0.12, 0.28), (0.0, 0.0)]
    )
    p["edge"] = per_class(
        [(0.015, 0.05), (0.02, 0.09), (0.01, 0.035), (0.02, 0.06), (0.08, 0.20), (0.05, 0.05)]
    )
    p["pigment"] = per_class([(0.30, 0.75), (0.45, 0.90), (0.20, 0.70), (0.0, 0.0), (0.0, 0.05), (0.0, 0.0)])
    p["variegation"] = per_class(
        [(0.0, 0.12), (0.35, 0.85), (0.05, 0.30), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)]
    )
    p["bluegrey"] = per_class([(0.0, 0.05), (0.0, 0.60), (0.0, 0.10), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)])
    p["verrucous"] = per_class([(0.0, 0.05), (0.0, 0.10), (0.15, 0.50), (0.0, 0.10), (0.0, 0.05), (0.0, 0.0)])
    p["erythema"] = per_class(
        [(0.0, 0.10), (0.0, 0.30), (0.0, 0.15), (0.50, 1.00), (0.35, 0.80), (0.55, 1.00)]
    )
    p["scale"] = per_class([(0.0, 0.0), (0.0, 0.05), (0.0, 0.15), (0.30, 0.90), (0.0, 0.35), (0.0, 0.0)])
    p["patchy"] = per_class([(0.0, 0.1), (0.0, 0.3), (0.0, 0.2), (0.0, 0.3), (0.4, 0.9), (0.0, 0.0)])
    # number of papules / pustules and the pustular fraction
    p["n_spots"] = np.rint(per_class([(0, 0), (0, 0), (0, 1), (0, 2), (0, 8), (5, N_SPOTS)])).astype(np.int64)
    p["pustular"] = per_class([(0, 0), (0, 0), (0, 0), (0, 0), (0.0, 0.3), (0.2, 0.7)])
    p["spot_spread"] = per_class([(0, 0), (0, 0), (0.3, 0.5), (0.4, 0.7), (0.2, 0.6), (0.35, 0.85)])

    # geometry shared by every class
    p["cx"] = rng.normal(0.0, 0.15, n)
    p["cy"] = rng.normal(0.0, 0.15, n)
    p["aspect"] = _u(rng, 0.65, 1.0, n)
    p["angle"] = _u(rng, 0.0, np.pi, n)
    p["zoom"] = _u(rng, 0.8, 1.2, n)  # distance of the camera from the skin
    # illumination
    p["illum_grad"] = _u(rng, 0.0, 0.35, n)
    p["illum_dir"] = _u(rng, 0.0, 2 * np.pi, n)
    p["vignette"] = _u(rng, 0.0, 0.30, n)
    p["exposure"] = rng.normal(0.0, 0.12, n)  # stops
    # skin texture and hair
    p["texture"] = _u(rng, 0.5, 1.5, n)
    p["n_hairs"] = np.where(rng.uniform(0, 1, n) < 0.3, rng.integers(1, N_HAIRS + 1, n), 0)
    p["hair_L"] = _u(rng, 8.0, 30.0, n)
    return p


def set_skin(params: dict[str, np.ndarray], skin_type: int | np.ndarray) -> dict[str, np.ndarray]:
    """A copy of ``params`` with the skin type replaced (ITA quantile kept)."""
    out = dict(params)
    n = len(params["label"])
    out["skin_type"] = np.broadcast_to(np.asarray(skin_type, dtype=np.int64), (n,)).copy()
    return out


def skin_ita(params: dict[str, np.ndarray]) -> np.ndarray:
    rng_ = np.asarray(ITA_RANGES)[params["skin_type"]]
    return rng_[:, 0] + params["skin_u"] * (rng_[:, 1] - rng_[:, 0])


# -------------------------------------------------------------------------- rendering


def _grid() -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE * 2.0 - 1.0
    return np.meshgrid(c, c, indexing="xy")  # xx varies along columns


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation, shape (n, S, S)."""
    w = rng.standard_normal((n, SIZE, SIZE)).astype(np.float32)
    w = ndimage.gaussian_filter(w, sigma=(0, sigma, sigma), mode="wrap")
    return w / (w.std(axis=(1, 2), keepdims=True) + 1e-6)


def _render_chunk(p: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    n = len(p["label"])
    f32 = np.float32
    xx, yy = _grid()
    X, Y = xx[None], yy[None]

    def col(name: str) -> np.ndarray:
        return np.asarray(p[name], dtype=f32)[:, None, None]

    # -- draws of pixel noise, always in the same order and shapes ------------------
    wave_f = rng.uniform(0.4, 2.5, (n, N_WAVES, 1, 1)).astype(f32)
    wave_t = rng.uniform(0, 2 * np.pi, (n, N_WAVES, 1, 1)).astype(f32)
    wave_p = rng.uniform(0, 2 * np.pi, (n, N_WAVES, 1, 1)).astype(f32)
    pores = _smooth_noise(rng, n, 0.7)
    mottle = _smooth_noise(rng, n, 4.0)
    border_amp = rng.normal(0, 1, (n, 5)).astype(f32)
    border_ph = rng.uniform(0, 2 * np.pi, (n, 5)).astype(f32)
    vari = _smooth_noise(rng, n, 3.0)
    vari2 = _smooth_noise(rng, n, 2.0)
    fine = _smooth_noise(rng, n, 0.8)
    scale_n = _smooth_noise(rng, n, 1.2)
    spot_xy = rng.normal(0, 1, (n, N_SPOTS, 2)).astype(f32)
    spot_r = rng.uniform(0.035, 0.075, (n, N_SPOTS)).astype(f32)
    spot_pus = rng.uniform(0, 1, (n, N_SPOTS)).astype(f32)
    hair_xy = rng.uniform(-1, 1, (n, N_HAIRS, 2)).astype(f32)
    hair_ang = rng.uniform(0, np.pi, (n, N_HAIRS)).astype(f32)
    hair_curv = rng.normal(0, 0.4, (n, N_HAIRS)).astype(f32)
    hair_len = rng.uniform(0.4, 1.6, (n, N_HAIRS)).astype(f32)
    hair_w = rng.uniform(0.010, 0.022, (n, N_HAIRS)).astype(f32)
    sensor = rng.standard_normal((n, SIZE, SIZE, 3)).astype(f32)

    # -- skin ----------------------------------------------------------------------
    ita = skin_ita(p).astype(f32)[:, None, None]
    sb = col("skin_b")
    L0 = ita_to_lab(ita, sb)
    a0 = col("skin_a")
    waves = np.cos(
        np.pi * wave_f * (np.cos(wave_t) * X[:, None] + np.sin(wave_t) * Y[:, None]) + wave_p
    ).mean(axis=1)
    tex = col("texture")
    L = L0 * (1.0 + tex * (0.025 * waves + 0.02 * mottle)) + tex * 0.8 * pores
    A = a0 + tex * (1.2 * waves + 0.8 * mottle)
    B = sb + tex * 0.6 * mottle
    # erythema visibility: full on light skin, faint on dark skin
    vis = np.clip((L0 - 28.0) / 45.0, 0.08, 1.0)

    # -- lesion geometry -----------------------------------------------------------
    zoom = col("zoom")
    dx, dy = (X - col("cx")) / zoom, (Y - col("cy")) / zoom
    ang = col("angle")
    u = np.cos(ang) * dx + np.sin(ang) * dy
    v = (-np.sin(ang) * dx + np.cos(ang) * dy) / col("aspect")
    rho = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    k = np.arange(2, 7, dtype=f32)[None, :, None, None]
    wobble = (
        border_amp[:, :, None, None] / k * np.cos(k * theta[:, None] + border_ph[:, :, None, None])
    ).sum(axis=1)
    irr = col("irregular")
    r_edge = col("radius") * (1.0 + irr * wobble + 0.5 * irr * vari2 * (col("label") == 1))
    mask = 1.0 / (1.0 + np.exp(np.clip((rho - r_edge) / np.maximum(col("edge"), 1e-3), -30.0, 30.0)))
    mask = np.where(col("radius") > 0, mask, 0.0).astype(f32)

    # -- pigment (melanin): multiplicative darkening, so contrast falls on dark skin --
    pig = col("pigment") * (1.0 + col("variegation") * 0.6 * vari)
    pig = np.clip(pig, 0.0, 1.0) * mask
    dark_spots = np.clip(col("variegation") * (vari2 - 0.6), 0.0, 1.0) * mask
    L = L * (1.0 - 0.55 * pig - 0.35 * dark_spots)
    A = A + 4.0 * pig
    B = B + 8.0 * pig * (1.0 - pig) - 4.0 * dark_spots
    bg = np.clip(col("bluegrey") * (-vari - 0.3), 0.0, 1.0) * mask
    L = L * (1.0 - 0.15 * bg)
    A = A - 4.0 * bg
    B = B - 16.0 * bg
    # verrucous ("stuck-on") surface texture
    L = L + col("verrucous") * 12.0 * fine * mask

    # -- erythema (inflammation) -----------------------------------------------------
    patch = np.clip(1.0 + col("patchy") * (mottle - 0.2), 0.0, 1.5)
    ery = col("erythema") * mask * patch
    # spots (papules, pustules)
    spot_c = (
        spot_xy * np.asarray(p["spot_spread"], dtype=f32)[:, None, None]
        + np.stack([p["cx"], p["cy"]], -1).astype(f32)[:, None]
    )
    d2 = (X[:, None] - spot_c[..., 0, None, None]) ** 2 + (Y[:, None] - spot_c[..., 1, None, None]) ** 2
    active = (np.arange(N_SPOTS)[None, :] < p["n_spots"][:, None]).astype(f32)
    sr = (spot_r * active)[..., None, None] * zoom[:, None]
    bump = np.exp(-d2 / np.maximum(2 * sr * sr, 1e-6)) * active[..., None, None]
    ery = ery + col("erythema") * np.clip(bump.sum(axis=1), 0.0, 1.0)
    ery = np.clip(ery, 0.0, 1.5)
    A = A + 22.0 * ery * vis
    L = L - 6.0 * ery * vis - 0.22 * L * ery * (1.0 - vis)  # dusky darkening on dark skin
    B = B - 2.0 * ery * vis + 1.5 * ery * (1.0 - vis)
    A = A + 5.0 * ery * (1.0 - vis)  # violaceous tint
    # pustule heads: yellow-white centres
    pus_on = (spot_pus < np.asarray(p["pustular"], dtype=f32)[:, None]).astype(f32) * active
    head = np.exp(-d2 / np.maximum(2 * (0.45 * sr) ** 2, 1e-6)) * pus_on[..., None, None]
    head = np.clip(head.sum(axis=1), 0.0, 1.0)
    L = L + (82.0 - L) * 0.8 * head
    A = A + (6.0 - A) * 0.8 * head
    B = B + (32.0 - B) * 0.8 * head

    # -- scale: silvery-white flakes ---------------------------------------------------
    sc = np.clip((scale_n + 1.2 - 2.4 * (1.0 - col("scale"))) * 0.8, 0.0, 1.0) * mask
    L = L + (86.0 - L) * 0.75 * sc
    A = A + (1.0 - A) * 0.6 * sc
    B = B + (4.0 - B) * 0.6 * sc

    # -- hair ------------------------------------------------------------------------
    hx, hy = hair_xy[..., 0, None, None], hair_xy[..., 1, None, None]
    ha = hair_ang[..., None, None]
    hu = np.cos(ha) * (X[:, None] - hx) + np.sin(ha) * (Y[:, None] - hy)
    hv = -np.sin(ha) * (X[:, None] - hx) + np.cos(ha) * (Y[:, None] - hy)
    hc = hair_curv[..., None, None]
    dist = np.abs(hv - hc * hu * hu) / np.sqrt(1.0 + (2 * hc * hu) ** 2)
    along = np.clip(1.0 - (np.abs(hu) / hair_len[..., None, None]) ** 8, 0.0, 1.0)
    hw = hair_w[..., None, None] * zoom[:, None]
    hmask = np.exp(-((dist / hw) ** 2)) * along
    hon = (np.arange(N_HAIRS)[None, :] < p["n_hairs"][:, None]).astype(f32)[..., None, None]
    hair = np.clip((hmask * hon).sum(axis=1), 0.0, 1.0) * 0.85
    L = L + (col("hair_L") - L) * hair
    A = A + (3.0 - A) * hair
    B = B + (4.0 - B) * hair

    # -- to linear RGB, illumination, camera ---------------------------------------------
    lab = np.stack([np.clip(L, 0, 100), A, B], axis=-1)
    rgb = lab_to_linear_rgb(lab)
    idir = col("illum_dir")
    illum = 1.0 + col("illum_grad") * (np.cos(idir) * X + np.sin(idir) * Y)
    illum = illum * (1.0 - col("vignette") * (X * X + Y * Y) / 2.0)
    illum = illum * np.power(2.0, col("exposure"))
    rgb = rgb * illum[..., None]
    out = np.empty_like(rgb)
    for name, cam in CAMERAS.items():
        idx = np.flatnonzero(p["camera"] == name)
        if idx.size == 0:
            continue
        m = np.asarray(cam.matrix, dtype=f32) * np.asarray(cam.white_balance, dtype=f32)[:, None]
        c = rgb[idx] @ m.T
        c = ndimage.gaussian_filter(c, sigma=(0, cam.blur_sigma, cam.blur_sigma, 0), mode="nearest")
        c = c + cam.noise_sigma * np.sqrt(np.clip(c, 1e-4, None)) * sensor[idx]
        out[idx] = c
    srgb = srgb_encode(out)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def render(params: dict[str, np.ndarray], noise_seed: int) -> np.ndarray:
    """Render raw (pre-JPEG) uint8 images, shape (n, 64, 64, 3)."""
    n = len(params["label"])
    out = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for ci, start in enumerate(range(0, n, CHUNK)):
        sl = slice(start, min(start + CHUNK, n))
        chunk = {k: v[sl] for k, v in params.items()}
        out[sl] = _render_chunk(chunk, np.random.default_rng([noise_seed, ci]))
    return out


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# ------------------------------------------------------------------------------ sets


@dataclass
class LesionSet:
    """A rendered set. ``images`` are the decoded JPEGs: exactly what is shipped."""

    images: np.ndarray  # (n, 64, 64, 3) uint8
    jpeg: list[bytes]
    label: np.ndarray  # int64
    fitzpatrick: np.ndarray  # str
    camera: np.ndarray  # str
    ita: np.ndarray  # float64
    lesion_id: np.ndarray  # int64
    params: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def __len__(self) -> int:
        return len(self.label)

    @property
    def condition(self) -> np.ndarray:
        return np.asarray(CLASSES, dtype=object)[self.label]

    def to_frame(self, id_start: int = 0):  # -> pandas.DataFrame
        import pandas as pd

        n = len(self)
        return pd.DataFrame(
            {
                "id": np.arange(id_start, id_start + n, dtype=np.int64),
                "image": pd.Series(self.jpeg, dtype=object),
                "label": self.label.astype(np.int64),
                "condition": pd.Series(self.condition, dtype=object).astype(str),
                "fitzpatrick": pd.Series(self.fitzpatrick, dtype=object).astype(str),
                "camera": pd.Series(self.camera, dtype=object).astype(str),
                "lesion_id": self.lesion_id.astype(np.int64),
                "ita": self.ita.astype(np.float64),
            }
        )


def _finish(params: dict[str, np.ndarray], raw: np.ndarray, lesion_id: np.ndarray) -> LesionSet:
    jpeg = [encode_jpeg(img, CAMERAS[c].jpeg_quality) for img, c in zip(raw, params["camera"], strict=True)]
    images = np.stack([decode_jpeg(b) for b in jpeg]) if jpeg else raw
    return LesionSet(
        images=images,
        jpeg=jpeg,
        label=np.asarray(params["label"], dtype=np.int64),
        fitzpatrick=np.asarray(SKIN_TYPES, dtype=object)[params["skin_type"]],
        camera=np.asarray(params["camera"], dtype=object),
        ita=skin_ita(params).astype(np.float64),
        lesion_id=np.asarray(lesion_id, dtype=np.int64),
        params=params,
    )


def generate(
    n: int,
    seed: int,
    *,
    skin_probs: tuple[float, ...] = TRAIN_SKIN_PROBS,
    cameras: tuple[str, ...] = TRAIN_CAMERAS,
    camera_probs: tuple[float, ...] | None = TRAIN_CAMERA_PROBS,
    lesion_id_start: int = 0,
) -> LesionSet:
    """``n`` independent lesions; one image each."""
    rng = np.random.default_rng(seed)
    params = sample_params(rng, n, skin_probs=skin_probs, cameras=cameras, camera_probs=camera_probs)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    raw = render(params, noise_seed)
    return _finish(params, raw, np.arange(lesion_id_start, lesion_id_start + n))


def counterfactual(n_lesions: int, seed: int, *, lesion_id_start: int = 0) -> LesionSet:
    """Each lesion rendered on all six skin types; everything else identical.

    Rows are ordered lesion-major: lesion 0 on types I..VI, then lesion 1, ...
    """
    rng = np.random.default_rng(seed)
    params = sample_params(rng, n_lesions)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    raws = [render(set_skin(params, t), noise_seed) for t in range(len(SKIN_TYPES))]
    raw = np.stack(raws, axis=1).reshape(n_lesions * 6, SIZE, SIZE, 3)
    rep = {k: np.repeat(v, 6, axis=0) for k, v in params.items()}
    rep["skin_type"] = np.tile(np.arange(6), n_lesions)
    ids = np.repeat(np.arange(lesion_id_start, lesion_id_start + n_lesions), 6)
    return _finish(rep, raw, ids)


def settings() -> dict:
    """The generator's fixed settings, for provenance (training.json)."""
    return {
        "size": SIZE,
        "classes": list(CLASSES),
        "class_probs": list(CLASS_PROBS),
        "skin_types": list(SKIN_TYPES),
        "ita_ranges": [list(r) for r in ITA_RANGES],
        "train_skin_probs": list(TRAIN_SKIN_PROBS),
        "train_cameras": list(TRAIN_CAMERAS),
        "train_camera_probs": list(TRAIN_CAMERA_PROBS),
        "heldout_camera": HELDOUT_CAMERA,
        "cameras": {
            name: {
                "matrix": [list(r) for r in c.matrix],
                "white_balance": list(c.white_balance),
                "blur_sigma": c.blur_sigma,
                "noise_sigma": c.noise_sigma,
                "jpeg_quality": c.jpeg_quality,
            }
            for name, c in CAMERAS.items()
        },
    }
