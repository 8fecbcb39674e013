"""Classical parts of remove-bg: the colour guided filter and GrabCut.

- `refine_mask`: He et al.'s colour guided filter ("Guided Image Filtering",
  TPAMI 2013), solved at most at REFINE_MAX_SIDE and applied at full size (the
  "fast guided filter"): snaps a soft mask to the image's own edges.
- `grabcut_mask`: the no-weights fallback, OpenCV's GrabCut (Rother et al. 2004)
  seeded by a border-colour prior.
- `colour_model_mask`: GrabCut seeded from a network's confident regions, so a
  colour model of this image's own background and subject settles what the
  network was unsure of.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

REFINE_MAX_SIDE = 1024  # guided-filter coefficients are solved at most at this size
FALLBACK_MAX_SIDE = 400  # GrabCut is O(pixels x iterations): run it small, upsample after


@dataclass(frozen=True)
class Refinement:
    """How a mode turns the network's soft mask into the final alpha.

    radius/eps: guided filter at REFINE_MAX_SIDE scale (bigger radius, smaller
    eps = follow finer colour edges such as fur). low/high: alpha below `low`
    becomes 0 and above `high` becomes 1, with a smooth ramp between (a high
    `low` drops faint shadows; a narrow ramp gives crisp product edges).
    """

    radius: int
    eps: float
    low: float
    high: float


MODES: dict[str, Refinement] = {
    "auto": Refinement(radius=4, eps=1e-3, low=0.05, high=0.95),
    "person": Refinement(radius=5, eps=5e-4, low=0.05, high=0.95),
    "product": Refinement(radius=3, eps=2e-3, low=0.15, high=0.85),
    "animal": Refinement(radius=6, eps=2e-4, low=0.03, high=0.97),
}


# --------------------------------------------------------------------------- refinement


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter_coefficients(
    guide: np.ndarray, src: np.ndarray, r: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s colour guided filter: per-pixel linear model q = a·I + b.

    Returns the box-averaged (a, b) so they can be upsampled and applied to a
    larger guide (the "fast guided filter"), which is what keeps edges sharp
    at full resolution while solving at <= REFINE_MAX_SIDE.
    """
    mean_i = _box(guide, r)
    mean_p = _box(src, r)
    cov_ip = _box(guide * src[..., None], r) - mean_i * mean_p[..., None]
    var = np.empty((*guide.shape[:2], 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
            var[..., i, j] = var[..., j, i] = v
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return _box(a, r), _box(b, r)


def refine_mask(rgb: np.ndarray, mask: np.ndarray, how: Refinement) -> np.ndarray:
    """Snap the soft mask to the image's own edges, then shape the alpha ramp."""
    h, w = mask.shape
    scale = min(1.0, REFINE_MAX_SIDE / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    guide_full = rgb.astype(np.float32) / 255.0
    guide = (
        guide_full
        if scale == 1.0
        else cv2.resize(guide_full, (sw, sh), interpolation=cv2.INTER_AREA)
    )
    src = mask if scale == 1.0 else cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA)
    a, b = guided_filter_coefficients(guide, src.astype(np.float32), how.radius, how.eps)
    if scale != 1.0:
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    refined = np.einsum("hwc,hwc->hw", a, guide_full) + b
    # the filter may not invent foreground far from the network's mask
    refined = np.where(_near(mask, 0.02, max(h, w)), refined, 0.0)
    return _ramp(np.clip(refined, 0.0, 1.0), how.low, how.high)


def _near(mask: np.ndarray, level: float, side: int) -> np.ndarray:
    k = max(3, int(0.01 * side) | 1)
    band = cv2.dilate((mask > level).astype(np.uint8), np.ones((k, k), np.uint8))
    return band.astype(bool)


def _ramp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


# --------------------------------------------------------------------------- fallback


def grabcut_mask(rgb: np.ndarray) -> np.ndarray:
    """Classical cut-out: GrabCut seeded by a border-colour prior, run small.

    Pixels along the image border are taken as background; pixels far (in
    Lab) from every border colour cluster seed the foreground. GrabCut then
    settles the boundary; the largest components are kept and holes filled.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, FALLBACK_MAX_SIDE / max(h, w))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    seeds = _grabcut_seeds(small)
    if (seeds == cv2.GC_PR_FGD).sum() + (seeds == cv2.GC_FGD).sum() < 16:
        return np.zeros((h, w), np.float32)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    cv2.grabCut(bgr, seeds, (0, 0, 0, 0), bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    fg = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    fg = _clean_components(fg)
    soft = cv2.GaussianBlur(fg.astype(np.float32), (3, 3), 0)
    mask = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
    return refine_mask(rgb, mask, Refinement(radius=3, eps=1e-3, low=0.3, high=0.7))


def _grabcut_seeds(small: np.ndarray) -> np.ndarray:
    """GrabCut's initial labels from a border prior and a colour-distance saliency."""
    sh, sw = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = max(2, round(0.03 * min(sh, sw)))
    border = np.concatenate(
        [
            lab[:b].reshape(-1, 3),
            lab[-b:].reshape(-1, 3),
            lab[:, :b].reshape(-1, 3),
            lab[:, -b:].reshape(-1, 3),
        ]
    )
    k = min(6, len(border))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    labels = np.zeros((len(border), 1), np.int32)
    _, _, centres = cv2.kmeans(border, k, labels, criteria, 2, cv2.KMEANS_PP_CENTERS)
    dist = np.min(np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=-1), axis=-1)
    dist = cv2.GaussianBlur(dist, (5, 5), 0)
    spread = float(
        np.percentile(np.linalg.norm(border[:, None] - centres[None], axis=-1).min(-1), 95)
    )
    seeds = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
    seeds[dist > max(12.0, 1.5 * spread)] = cv2.GC_PR_FGD
    seeds[dist > max(30.0, 3.0 * spread)] = cv2.GC_FGD
    seeds[:b], seeds[-b:], seeds[:, :b], seeds[:, -b:] = (cv2.GC_BGD,) * 4
    return seeds


def _clean_components(fg: np.ndarray) -> np.ndarray:
    """Keep components holding >= 5 % of the foreground; fill their holes."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= 0.05 * areas.sum())
    out = np.isin(labels, keep).astype(np.uint8)
    inv = (1 - out).astype(np.uint8)
    _, bg_labels, _, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    edge_labels = set(
        np.unique(np.concatenate([bg_labels[0], bg_labels[-1], bg_labels[:, 0], bg_labels[:, -1]]))
    )
    holes = (inv == 1) & ~np.isin(bg_labels, list(edge_labels))
    out[holes] = 1
    return out
