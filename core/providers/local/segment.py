"""The networks of remove-bg: ISNet (with flip test-time augmentation) and selfie segmentation.

- ISNet (DIS, Qin et al. 2022) sees a fixed 1024x1024 input, (x - 128) / 256 as the
  @imgly package feeds it. Near-square images are resized to it (as in training);
  a wide or tall one is letterboxed on mid-grey instead: squashing a 2:1 photo of
  two people side by side made ISNet drop one of two held helmets, the letterbox
  keeps both.
- Test-time augmentation: the mirrored image is segmented too and the two masks
  are fused (`fuse_flip`): their mean everywhere, and the larger of the two where
  it is part of a confident region (a part of the subject that one view saw
  clearly, e.g. a camera held to the face, is not halved to a ghost).
- MediaPipe selfie segmentation (256x256, general model) finds people; a wide
  image is cut into overlapping squares so people are not squashed.
"""

from __future__ import annotations

import cv2
import numpy as np

ISNET_SIZE = 1024  # the network's fixed input resolution
SELFIE_SIZE = 256
LETTERBOX_ASPECT = 1.25  # letterbox (not squash) images wider or taller than this
PAD_GREY = 128  # the letterbox colour: ISNet's input zero point


def _fit_1024(rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The 1024x1024 network input and, when letterboxed, the content box (y, x, h, w)."""
    h, w = rgb.shape[:2]
    if max(h, w) / min(h, w) <= LETTERBOX_ASPECT:
        return cv2.resize(rgb, (ISNET_SIZE, ISNET_SIZE), interpolation=_interp(h * w)), None
    s = ISNET_SIZE / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    canvas = np.full((ISNET_SIZE, ISNET_SIZE, 3), PAD_GREY, np.uint8)
    y0, x0 = (ISNET_SIZE - nh) // 2, (ISNET_SIZE - nw) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=_interp(h * w))
    return canvas, (y0, x0, nh, nw)


def _interp(pixels: int) -> int:
    return cv2.INTER_AREA if pixels > ISNET_SIZE * ISNET_SIZE else cv2.INTER_LINEAR


def isnet_small(model: object, rgb: np.ndarray, *, flip: bool = False) -> np.ndarray:
    """ISNet's soft mask (0..1 float32) at network resolution, aspect kept (<= 1024 a side).

    `model`: ISNet as a `core.models.OnnxModel` (its `run` takes the 1x3x1024x1024
    input). `flip`: segment the mirrored image and mirror the mask back.
    """
    x_img, box = _fit_1024(rgb[:, ::-1] if flip else rgb)
    x = (x_img.astype(np.float32) - 128.0) / 256.0
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    out = model.run(x)  # type: ignore[attr-defined]
    mask = np.clip(out[0, 0].astype(np.float32), 0.0, 1.0)
    if box is not None:
        y0, x0, nh, nw = box
        mask = mask[y0 : y0 + nh, x0 : x0 + nw]
    else:
        h, w = rgb.shape[:2]
        s = ISNET_SIZE / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(mask[:, ::-1] if flip else mask)


def isnet_mask(model: object, rgb: np.ndarray) -> np.ndarray:
    """ISNet's soft mask (0..1, float32) upsampled bilinearly to the image size (one pass)."""
    h, w = rgb.shape[:2]
    full: np.ndarray = cv2.resize(isnet_small(model, rgb), (w, h), interpolation=cv2.INTER_LINEAR)
    return full


def fuse_flip(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fuse the masks of the image and of its mirror (same shape, 0..1).

    The mean, except inside a region that one view holds confidently (> 0.8, at least
    0.2 % of the image) and that touches what both views agree on (mean > 0.8): there
    the larger value. So a held object seen by one view stays whole, while a blob
    only one view imagined somewhere in the background is halved.
    """
    mean = 0.5 * (a + b)
    agreed = (mean > 0.8).astype(np.uint8)
    if not agreed.any():
        return np.asarray(mean, np.float32)
    either = (np.maximum(a, b) > 0.8).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(either, connectivity=8)
    touching = np.unique(labels[agreed.astype(bool) & (labels > 0)])
    big = 1 + np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= 0.002 * a.size)
    keep = np.intersect1d(touching, big)
    # the "larger of the two" zone: the kept regions and a thin ring around them
    zone = cv2.dilate(np.isin(labels, keep).astype(np.uint8), np.ones((5, 5), np.uint8))
    fused: np.ndarray = np.where(zone.astype(bool), np.maximum(a, b), mean)
    return fused


def ambiguity(mask: np.ndarray) -> float:
    """The share of the kept area (mask > 0.5) that is unsure (0.15..0.85); 1 if none kept.

    A confident ISNet mask is near 0 or 1 except in a thin edge band (typically
    < 0.1); a ghost (a half-seen helmet, an object on busy texture) scores high.
    """
    kept = float((mask > 0.5).sum())
    if kept == 0:
        return 1.0
    return float(((mask > 0.15) & (mask < 0.85)).sum()) / kept


# --------------------------------------------------------------------------- people


def selfie_mask(model: object, rgb: np.ndarray) -> np.ndarray:
    """MediaPipe selfie segmentation (person probability 0..1, float32) at the image size.

    Square-ish images go in whole; wider or taller ones as overlapping squares
    (the model is 256x256: a squashed 2:1 photo of two people loses them), each
    pixel keeping the most confident answer of the squares that cover it.
    """
    h, w = rgb.shape[:2]
    side = min(h, w)
    if max(h, w) / side <= LETTERBOX_ASPECT:
        return _selfie_square(model, rgb, (w, h))
    n = int(np.ceil(max(h, w) / side * 1.3))  # ~30 % overlap between neighbours
    starts = np.linspace(0, max(h, w) - side, n).round().astype(int)
    prob = np.zeros((h, w), np.float32)
    for s in starts:
        if w >= h:
            tile = _selfie_square(model, rgb[:, s : s + side], (side, side))
            prob[:, s : s + side] = np.maximum(prob[:, s : s + side], tile)
        else:
            tile = _selfie_square(model, rgb[s : s + side], (side, side))
            prob[s : s + side] = np.maximum(prob[s : s + side], tile)
    return prob


def _selfie_square(model: object, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(rgb, (SELFIE_SIZE, SELFIE_SIZE), interpolation=cv2.INTER_AREA)
    x = (small.astype(np.float32) / 255.0)[None]
    (out,) = model.run(x)  # type: ignore[attr-defined]
    prob = np.clip(out[0, :, :, 0].astype(np.float32), 0.0, 1.0)
    full: np.ndarray = cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)
    return full


def looks_like_person(person: np.ndarray) -> bool:
    """Trust the selfie mask only when it is decisive about the people it finds.

    On people it is near 0 or 1 almost everywhere (>= 0.9 of pixels) and sure
    inside what it keeps (mean >= 0.85 there); on cats or cups it is mushy, and
    gating ISNet with it would cut the subject apart.
    """
    fg = person > 0.5
    if fg.mean() < 0.01:
        return False
    decisive = float(((person > 0.8) | (person < 0.2)).mean())
    return decisive >= 0.9 and float(person[fg].mean()) >= 0.85


def combine_person(isnet: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Keep every person whole, and what they hold; drop other objects.

    `isnet`, `person`: soft masks (0..1) of the same shape. Kept: ISNet's mask
    within reach of a person (the selfie mask dilated by ~12 % of the person's
    height, so a camera held to the face or a helmet under the arm stays), and
    the confident selfie core wherever ISNet hesitated (a bite out of a suit).
    """
    h, w = person.shape
    hard = (person > 0.5).astype(np.uint8)
    ys = np.flatnonzero(hard.any(axis=1))
    tall = (ys[-1] - ys[0] + 1) if ys.size else h
    k = max(3, int(0.12 * tall) | 1)
    reach = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    # ISNet regions that start within reach are kept up to the reach edge, feathered
    f = max(3, (k // 4) | 1)
    gate = cv2.GaussianBlur(reach.astype(np.float32), (f, f), 0)
    e = max(3, int(0.02 * max(h, w)) | 1)
    core = cv2.erode(
        (person > 0.9).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (e, e))
    )
    return np.maximum(isnet * gate, core.astype(np.float32))
