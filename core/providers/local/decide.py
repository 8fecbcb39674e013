"""Confidence-based decisions on a saliency mask: which regions are the subject.

ISNet is a saliency network: on a busy background (foliage, brick, speckle) it can
keep pieces of the background too, scattered blobs or a mortar grid reaching the
frame's edges, and it can leave unsure holes in a subject whose inner colours
resemble the background. These steps run on a small copy (`SIDE` a side):

1. `subject_regions`: when the kept mask is fragmented or spans the frame, score
   each connected region by size, the network's confidence, how rarely its colours
   occur along the image border (a colour histogram back-projection, Swain &
   Ballard 1991) and whether it touches the border, and keep the best region and
   those close to it in score.
2. `settle_with_colour`: GrabCut (Rother et al. 2004, OpenCV) seeded from the
   network's confident subject and background, so a colour model of this image
   decides the unsure pixels and the leftovers of the background near the subject.
3. `fill_unsure_holes`: enclosed holes the network was unsure of are filled; holes
   it was sure of (a mug's handle) stay open.
"""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 320  # decisions are made at this size (long side)
BINS = 10  # colour histogram bins per channel
BORDER = 0.06  # the border strip is this share of each side


def small_copy(rgb: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, prob) reduced to at most SIDE on the long side (area interpolation)."""
    h, w = prob.shape
    s = min(1.0, SIDE / max(h, w))
    size = (max(8, round(w * s)), max(8, round(h * s)))
    return (
        cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
        cv2.resize(prob, size, interpolation=cv2.INTER_AREA),
    )


def border_strip(shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of the outer `BORDER` of each side."""
    h, w = shape
    b = max(2, round(BORDER * min(h, w)))
    m = np.zeros((h, w), bool)
    m[:b], m[-b:], m[:, :b], m[:, -b:] = True, True, True, True
    return m


def background_likeness(rgb: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Per pixel, 0..1: how typical its colour is of the background `sample` (bool mask).

    The ratio of the colour's frequency in the sample to its frequency in the whole
    image (histogram back-projection), capped at 1: 1 for colours of the background,
    near 0 for colours that never occur in it.
    """
    q = (rgb.astype(np.int32) * BINS // 256).reshape(-1, 3)
    idx = (q[:, 0] * BINS + q[:, 1]) * BINS + q[:, 2]
    flat = sample.reshape(-1)
    if flat.sum() < 20:
        return np.ones(rgb.shape[:2], np.float32)
    n_all = np.bincount(idx, minlength=BINS**3).astype(np.float32) + 0.5
    n_bg = np.bincount(idx[flat], minlength=BINS**3).astype(np.float32) + 0.5 * flat.mean()
    ratio = (n_bg / n_bg.sum()) / (n_all / n_all.sum())
    like = np.clip(ratio, 0.0, 1.0)[idx].reshape(rgb.shape[:2])
    out: np.ndarray = cv2.GaussianBlur(like.astype(np.float32), (5, 5), 0)
    return out


def background_sample(prob: np.ndarray) -> np.ndarray:
    """Where the background's colours are sampled: the border strip and the confident
    background (prob < 0.3)."""
    return border_strip(prob.shape) | (prob < 0.3)


def is_fragmented(hard: np.ndarray) -> bool:
    """Does the kept mask look like picked-up background rather than one subject?

    Fragmented: the largest region holds under 80 % of the kept area (with at least
    5 regions over 0.05 % of the image), or the kept area touches three or four
    sides of the frame over more than a quarter of their length each.
    """
    n, _, stats, _ = cv2.connectedComponentsWithStats(hard.astype(np.uint8), connectivity=8)
    if n <= 1:
        return False
    areas = stats[1:, cv2.CC_STAT_AREA]
    significant = int((areas >= 0.0005 * hard.size).sum())
    if significant >= 5 and areas.max() < 0.8 * areas.sum():
        return True
    sides = [hard[0], hard[-1], hard[:, 0], hard[:, -1]]
    return sum(float(s.mean()) > 0.25 for s in sides) >= 3


def subject_regions(rgb: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Boolean mask of the regions of (prob > 0.5) judged to be the subject.

    `rgb`/`prob` at the decision size. Unchanged when the mask is not fragmented.
    A region's score = area x mean confidence x (0.2 + distinctness) x (0.3 if it
    touches the frame over > 10 % of its area); distinctness is how far (CIELAB,
    1 at 40 units) its mean colour lies from the other regions' and from the
    background's (a leaf among hundreds of leaves is not distinct; the one mug is).
    Kept: the best region, and others scoring >= 50 % of it that are as distinct.
    """
    hard = prob > 0.5
    if not is_fragmented(hard):
        return hard
    n, labels, _, _ = cv2.connectedComponentsWithStats(hard.astype(np.uint8), connectivity=8)
    flat = labels.reshape(-1)
    area = np.bincount(flat, minlength=n).astype(np.float32)
    conf = np.bincount(flat, weights=prob.reshape(-1), minlength=n) / np.maximum(area, 1)
    edge = np.bincount(flat, weights=border_strip(hard.shape).reshape(-1), minlength=n)
    touching = edge / np.maximum(area, 1) > 0.1
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32).reshape(-1, 3)
    sums = np.stack([np.bincount(flat, weights=lab[:, c], minlength=n) for c in range(3)], 1)
    mean = sums.astype(np.float32) / np.maximum(area, 1)[:, None]
    big = np.array([i for i in range(1, n) if area[i] >= 0.0005 * hard.size], int)
    if big.size == 0:
        return hard
    distinct = np.zeros(n, np.float32)
    for i in big:
        others = big[big != i]
        refs = [mean[0]]  # the background
        if others.size:
            refs.append((mean[others] * area[others, None]).sum(0) / area[others].sum())
        distinct[i] = min(1.0, min(float(np.linalg.norm(mean[i] - r)) for r in refs) / 40.0)
    score = np.zeros(n, np.float32)
    score[big] = (area * conf * (0.2 + distinct) * np.where(touching, 0.3, 1.0))[big]
    best = int(np.argmax(score))
    keep = [
        int(i) for i in big if score[i] >= 0.5 * score[best] and distinct[i] >= 0.7 * distinct[best]
    ]
    return np.isin(labels, [*keep, best])


def settle_with_colour(rgb: np.ndarray, prob: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """GrabCut from the confident parts: returns the settled boolean mask (decision size).

    GrabCut's answer is taken only where the network was unsure (0.15..0.85);
    elsewhere `subject` stands, less the sure-background seeds.

    Seeds: sure subject = confident (> 0.9) pixels of `subject` whose colour is not
    typical of the background, eroded; sure background = confident (< 0.1) pixels
    away from the subject, the rejected regions' cores, and pixels of `subject`
    whose colour is typical of the background (a leaf stuck to a horse's leg);
    the rest is "probably" by the network's side of 0.5.
    """
    k3 = np.ones((3, 3), np.uint8)
    like = background_likeness(rgb, background_sample(prob) & ~subject)
    sure_fg = cv2.erode(((prob > 0.9) & subject & (like < 0.5)).astype(np.uint8), k3).astype(bool)
    if sure_fg.sum() < 20:
        return subject
    near = cv2.dilate(subject.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    rejected = (prob > 0.5) & ~subject
    sure_bg = ((prob < 0.1) & ~near) | cv2.erode(rejected.astype(np.uint8), k3).astype(bool)
    sure_bg |= subject & (like > 0.9) & ~sure_fg
    if sure_bg.sum() < 20:
        return subject
    seeds = np.where(subject, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[sure_bg] = cv2.GC_BGD
    seeds[sure_fg] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    cv2.grabCut(bgr, seeds, (0, 0, 0, 0), bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    cut = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD))
    # the colour model decides only where the network was unsure, and drops the
    # background-coloured parts it was told were background
    unsure = (prob > 0.15) & (prob < 0.85)
    settled: np.ndarray = np.where(unsure, cut, subject) & ~sure_bg
    return settled


def fill_unsure_holes(hard: np.ndarray, prob: np.ndarray, max_share: float = 0.25) -> np.ndarray:
    """Fill enclosed holes where the network was unsure (mean prob > 0.2) and the hole
    is under `max_share` of the region's area; confident holes stay open."""
    inv = (~hard).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 2:
        return hard
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    flat = labels.reshape(-1)
    mean_p = np.bincount(flat, weights=prob.reshape(-1), minlength=n) / np.maximum(
        np.bincount(flat, minlength=n), 1
    )
    kept = float(hard.sum())
    fill = [
        i
        for i in range(1, n)
        if i not in edge and mean_p[i] > 0.2 and stats[i, cv2.CC_STAT_AREA] < max_share * kept
    ]
    if not fill:
        return hard
    out: np.ndarray = hard | np.isin(labels, fill)
    return out


def drop_frame_bars(hard: np.ndarray) -> np.ndarray:
    """Remove regions that are a bar or panel of the frame, not a subject.

    A region touching three or four sides of the image, under a quarter of the
    image across, and filling >= 90 % of its bounding box is a screenshot's title
    bar or sidebar, a letterbox, a border: never a subject (a person cut by the
    frame touches it, but is not a rectangle).
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hard.astype(np.uint8), connectivity=8)
    h, w = hard.shape
    drop = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        sides = int(x == 0) + int(y == 0) + int(x + bw == w) + int(y + bh == h)
        thin = min(bw / w, bh / h) < 0.25  # a strip, not half the picture
        if sides >= 3 and thin and area >= 0.9 * bw * bh:
            drop.append(i)
    if not drop:
        return hard
    out: np.ndarray = hard & ~np.isin(labels, drop)
    return out
