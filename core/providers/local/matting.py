"""Edges of a cut-out: a trimap around the decided mask, closed-form matting in the
unknown band, and foreground colour estimation so edges carry no halo.

Both steps are pymatting's (Germer et al., "PyMatting: A Python Library for Alpha
Matting", JOSS 2020): `estimate_alpha_cf` is Levin, Lischinski & Weiss's
closed-form matting (2008), `estimate_foreground_ml` the multi-level foreground
estimation of Germer et al. (2020). To stay inside the time budget both run on a
reduced copy (at most `MATTE_SIDE` a side) cropped to the band's bounding box; only
the band (a few pixels either side of the edge) is solved, everything else stays
exactly 0 or 1 as decided.

pymatting compiles its numba kernels into its own `__pycache__` on the first
import after installation (about a minute and a half on 2 cores); every later
import loads them from that cache in about a second.
"""

from __future__ import annotations

import cv2
import numpy as np

MATTE_SIDE = 512  # matting and foreground estimation run at most at this size
BAND = {"auto": 0.004, "person": 0.005, "product": 0.003, "animal": 0.005}  # of the long side


def trimap(hard: np.ndarray, band_px: int) -> np.ndarray:
    """A trimap (float64: 0 background, 1 foreground, 0.5 unknown) from a boolean mask.

    Unknown: within `band_px` pixels of the mask's edge, on either side.
    """
    k = np.ones((2 * band_px + 1, 2 * band_px + 1), np.uint8)
    m = hard.astype(np.uint8)
    fg = cv2.erode(m, k).astype(bool)
    bg = ~cv2.dilate(m, k).astype(bool)
    tri = np.full(hard.shape, 0.5, np.float64)
    tri[fg] = 1.0
    tri[bg] = 0.0
    return tri


def _box(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    h, w = mask.shape
    return (
        slice(max(0, ys.min() - pad), min(h, ys.max() + pad + 1)),
        slice(max(0, xs.min() - pad), min(w, xs.max() + pad + 1)),
    )


def matte(rgb: np.ndarray, hard: np.ndarray, mode: str) -> np.ndarray:
    """Alpha (float32 0..1, rgb's size) for the decided mask `hard` (bool), edges matted.

    The band is solved by closed-form matting on a reduced copy and scaled up; pixels
    outside it keep the hard decision. Falls back to a 1-pixel anti-aliased edge if
    the solver fails (it never raises for a bad matte).
    """
    from pymatting import estimate_alpha_cf  # type: ignore[import-untyped]

    h, w = hard.shape
    soft = cv2.GaussianBlur(hard.astype(np.float32), (3, 3), 0.7)
    scale = min(1.0, MATTE_SIDE / max(h, w))
    band_px = max(2, round(BAND.get(mode, 0.006) * max(h, w) * scale))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small_hard = cv2.resize(hard.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0.5
    tri = trimap(small_hard, band_px)
    unknown = tri == 0.5
    box = _box(unknown, 2 * band_px)
    if box is None:
        return soft
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64) / 255.0
    try:
        a = estimate_alpha_cf(small[box], tri[box], laplacian_kwargs={"epsilon": 1e-6})
    except Exception:
        return soft
    alpha_small = tri.copy()
    alpha_small[box] = np.clip(a, 0.0, 1.0)
    up = cv2.resize(alpha_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    band = cv2.resize(unknown.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    out: np.ndarray = np.where(band, up, soft).astype(np.float32)
    return out


def foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The colours (uint8 HxWx3) with the background's colour removed where alpha is partial.

    Pixels with alpha in (0.02, 0.98) take pymatting's estimated foreground
    (computed on a reduced copy cropped to those pixels); all others are unchanged,
    so the result equals `rgb` wherever the cut-out is solid or fully clear.
    """
    from pymatting import estimate_foreground_ml

    partial = (alpha > 0.02) & (alpha < 0.98)
    box = _box(partial, 8)
    if box is None:
        return rgb
    crop_rgb = rgb[box]
    ch, cw = crop_rgb.shape[:2]
    scale = min(1.0, MATTE_SIDE / max(ch, cw))
    sw, sh = max(1, round(cw * scale)), max(1, round(ch * scale))
    img = cv2.resize(crop_rgb, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64) / 255.0
    a = cv2.resize(alpha[box], (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64)
    fg = estimate_foreground_ml(img, a)
    fg_f = np.clip(fg * 255.0, 0, 255).astype(np.float32)
    fg_up = cv2.resize(fg_f, (cw, ch), interpolation=cv2.INTER_LINEAR)
    out = rgb.copy()
    region = out[box]
    sel = partial[box]
    region[sel] = np.clip(fg_up[sel] + 0.5, 0, 255).astype(np.uint8)
    return out
