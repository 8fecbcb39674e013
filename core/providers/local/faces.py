"""Face detection for the smart crop: head boxes, from BlazeFace or the Haar cascades.

Kept apart from `crop.py` (window scoring, saliency, the provider) because it is a
self-contained piece with its own concerns: model-output decoding and threading.

- `face_detector(store)` picks the detector: MediaPipe's BlazeFace (short-range)
  when `studio models fetch` has installed it, else OpenCV's Haar cascades.
- `BlazeFaces` runs the model on the whole image and on levels of half-overlapping
  tiles (small faces in a big frame need pixels), decodes its 896 SSD anchors,
  drops detections cut by an inner tile edge and merges the rest with MediaPipe's
  weighted non-maximum suppression.
- `HaarFaces` runs the frontal and profile (both ways) cascades; a cascade is not
  thread-safe, so each worker thread loads its own.
- Every face box is grown to the whole head (hair above, chin below), and
  `detect_faces` maps the heads to the crop's working pixels, merging overlaps.
"""

from __future__ import annotations

import math
import threading
from typing import Protocol

import cv2
import numpy as np
from PIL import Image

from core.models import ModelStore, TfliteModel

FACE_SIDE = 800  # face detection resolution (long side): small faces need pixels
BLAZEFACE = "blazeface"  # the model's name in the store
BLAZE_INPUT = 128  # the model's input side
BLAZE_TILES = 20  # the finest tiles cover 1/20 of the image: faces from ~3 % of √(w·h)
BLAZE_STEP = 3.0  # the largest ratio between the tile sides of two levels
BLAZE_MIN_SCORE = 0.8  # higher than MediaPipe's 0.5: many tiles, many chances to err
BLAZE_IOU = 0.3  # overlap that makes two detections one face (MediaPipe's)
BLAZE_EDGE = 0.02  # a detection this close to an inner tile edge is cut: dropped
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (working pixels)


def detect_faces(img: Image.Image, scale: float, detector: FaceDetector) -> list[Box]:
    """Head boxes (working pixels, `scale` per source pixel) found by `detector`."""
    rgb = resized(img, FACE_SIDE)
    k = scale * img.size[0] / rgb.shape[1]
    heads = [(x0 * k, y0 * k, x1 * k, y1 * k) for x0, y0, x1, y1 in detector.heads(rgb)]
    return _merge_boxes(heads)


def resized(img: Image.Image, side: int) -> np.ndarray:
    """`img` as an RGB array, its long side at most `side` (transparency: white)."""
    rgb = img.convert("RGB") if img.mode != "RGB" else img
    if img.mode == "RGBA":  # transparent areas count as plain white background
        rgb = Image.new("RGB", img.size, (255, 255, 255))
        rgb.paste(img, mask=img.getchannel("A"))
    f = side / max(img.size)
    arr = np.asarray(rgb)
    if f >= 1:
        return arr
    size = (max(1, round(img.size[0] * f)), max(1, round(img.size[1] * f)))
    return cv2.resize(arr, size, interpolation=cv2.INTER_AREA)


class FaceDetector(Protocol):
    """Finds heads in an RGB array; `name` tells the user which detector found them."""

    name: str

    def heads(self, rgb: np.ndarray) -> list[Box]:
        """Head boxes `(x, y, w, h)` in `rgb` pixels (hair to chin), for an HxWx3 uint8 image."""


def face_detector(store: ModelStore | None) -> FaceDetector:
    """BlazeFace when the store has the model, else the Haar cascades."""
    model = store.tflite_interpreter(BLAZEFACE) if store is not None else None
    return BlazeFaces(model) if model is not None else HaarFaces()


class HaarFaces:
    """OpenCV's Haar cascades, frontal and profile both ways: the fallback detector."""

    name = "Haar"

    def heads(self, rgb: np.ndarray) -> list[Box]:
        """Head boxes from the frontal and profile Haar cascades (both orientations), merged."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        min_side = max(20, min(gray.shape) // 40)
        found = [tuple(b) for b in _detect(gray, "frontalface_alt2", 1.1, 5, min_side)]
        found += [tuple(b) for b in _detect(gray, "profileface", 1.25, 6, min_side)]
        for x, y, w, h in _detect(cv2.flip(gray, 1), "profileface", 1.25, 6, min_side):
            found.append((gray.shape[1] - x - w, y, w, h))
        return [_haar_head(b) for b in found]


def _detect(gray: np.ndarray, name: str, step: float, neighbours: int, min_side: int) -> np.ndarray:
    cascade = _cascade(name)
    boxes = cascade.detectMultiScale(gray, step, neighbours, minSize=(min_side, min_side))
    return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


# A CascadeClassifier is not safe to share between threads (concurrent
# detectMultiScale calls fail with getScaleData errors), so each worker thread
# loads its own once and reuses it.
_THREAD = threading.local()


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascades: dict[str, cv2.CascadeClassifier] = _THREAD.__dict__.setdefault("cascades", {})
    if name not in cascades:
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]
        cascades[name] = cv2.CascadeClassifier(f"{folder}haarcascade_{name}.xml")
    return cascades[name]


def _haar_head(face: tuple[int, ...]) -> Box:
    """A Haar detection (x, y, w, h) grown to the whole head (hair above, chin below)."""
    x, y, w, h = (float(v) for v in face)
    return (x - 0.25 * w, y - 0.4 * h, x + 1.25 * w, y + 1.3 * h)


class BlazeFaces:
    """MediaPipe's BlazeFace short-range model, on the whole image and on tiles.

    The model sees 128×128 pixels and finds faces from about an eighth of its input
    up, so small faces in a big frame need tiles: levels of half-overlapping tiles
    (a face up to half a tile fits whole in one of them), their sides shrinking by
    at most BLAZE_STEP from the whole image down to 1/BLAZE_TILES of its area.
    Detections cut by an inner tile edge are dropped (a neighbouring tile or a
    coarser level sees that face whole); the rest go through one weighted
    non-maximum suppression, as in MediaPipe.
    """

    name = "BlazeFace"

    def __init__(self, model: TfliteModel) -> None:
        self.model = model

    def heads(self, rgb: np.ndarray) -> list[Box]:
        """BlazeFace face boxes grown to cover the whole head."""
        return [_blaze_head(b) for b in self.faces(rgb)]

    def faces(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes (brows to chin, `rgb` pixels)."""
        h, w = rgb.shape[:2]
        found: list[tuple[float, Box]] = []
        for side in _tile_sides(w, h):
            f = BLAZE_INPUT / side
            size = (max(1, round(w * f)), max(1, round(h * f)))
            shrink = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
            scaled = cv2.resize(rgb, size, interpolation=shrink).astype(np.float32) / 127.5 - 1
            for x, y, tile in _tiles(scaled):
                inner = (x > 0, y > 0, x + BLAZE_INPUT < size[0], y + BLAZE_INPUT < size[1])
                for score, (x0, y0, x1, y1) in self._detect(tile, inner):
                    found.append((score, ((x0 + x) / f, (y0 + y) / f, (x1 + x) / f, (y1 + y) / f)))
        return _weighted_nms(found)

    def _detect(self, tile: np.ndarray, inner: tuple[bool, ...]) -> list[tuple[float, Box]]:
        """(score, box in tile pixels) per face in a tile, letterboxed if smaller than
        the input; `inner` says which edges (left, top, right, bottom) cut the image."""
        th, tw = tile.shape[:2]
        canvas = np.full((BLAZE_INPUT, BLAZE_INPUT, 3), -1.0, np.float32)  # black padding
        ox, oy = (BLAZE_INPUT - tw) // 2, (BLAZE_INPUT - th) // 2
        canvas[oy : oy + th, ox : ox + tw] = tile
        raw_boxes, raw_scores = self.model.run(canvas[None])
        logits = np.clip(raw_scores[0, :, 0].astype(np.float64), -100, 100)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= BLAZE_MIN_SCORE
        # box centre offsets are relative to the anchor, sizes absolute (input pixels)
        r = raw_boxes[0, keep, :4].astype(np.float64)
        centres = _BLAZE_ANCHORS[keep] * BLAZE_INPUT + r[:, :2] - (ox, oy)
        boxes = np.concatenate([centres - r[:, 2:] / 2, centres + r[:, 2:] / 2], axis=1)
        m = BLAZE_EDGE * BLAZE_INPUT
        out = []
        for score, (x0, y0, x1, y1) in zip(scores[keep], boxes.tolist(), strict=True):
            cut = (x0 < m, y0 < m, x1 > tw - m, y1 > th - m)
            if not any(c and i for c, i in zip(cut, inner, strict=True)):
                out.append((float(score), (x0, y0, x1, y1)))
        return out


def _blaze_anchors() -> np.ndarray:
    """Centres (0..1) of the short-range model's 896 anchors, in its output order.

    SSD anchors with a fixed size of 1: a 16×16 grid (stride 8) with 2 anchors per
    cell, then an 8×8 grid (three stride-16 layers) with 6; row by row.
    """
    grids = []
    for cells, per_cell in ((16, 2), (8, 6)):
        c = (np.arange(cells) + 0.5) / cells
        xs, ys = np.meshgrid(c, c)
        grids.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(grids)


_BLAZE_ANCHORS = _blaze_anchors()


def _tile_sides(w: int, h: int) -> list[float]:
    """Tile sides, coarse to fine: the whole image, then steps of at most BLAZE_STEP
    down to tiles of 1/BLAZE_TILES of the image's area (never under half the input)."""
    long = max(w, h)
    finest = max(math.sqrt(w * h / BLAZE_TILES), BLAZE_INPUT / 2)
    if finest >= long:
        return [float(long)]
    n = math.ceil(math.log(long / finest) / math.log(BLAZE_STEP))
    return [long * (finest / long) ** (k / n) for k in range(n + 1)]


def _tiles(img: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """Half-overlapping BLAZE_INPUT squares covering `img` (just `img` if it is smaller)."""
    h, w = img.shape[:2]

    def starts(length: int) -> list[int]:
        if length <= BLAZE_INPUT:
            return [0]
        n = int(np.ceil((length - BLAZE_INPUT) / (BLAZE_INPUT / 2))) + 1
        return [round(v) for v in np.linspace(0, length - BLAZE_INPUT, n)]

    return [
        (x, y, img[y : y + BLAZE_INPUT, x : x + BLAZE_INPUT]) for y in starts(h) for x in starts(w)
    ]


def _weighted_nms(found: list[tuple[float, Box]]) -> list[Box]:
    """MediaPipe's weighted NMS: the best box, score-averaged with those overlapping it
    by more than BLAZE_IOU, stands for them all; repeat with the rest."""
    if not found:
        return []
    scores = np.array([s for s, _ in found])
    boxes = np.array([b for _, b in found])
    left = np.argsort(-scores)
    out: list[Box] = []
    while left.size:
        overlap = _iou(boxes[left[0]], boxes[left]) > BLAZE_IOU
        group, left = left[overlap], left[~overlap]
        w = scores[group][:, None]
        x0, y0, x1, y1 = ((boxes[group] * w).sum(axis=0) / w.sum()).tolist()
        out.append((x0, y0, x1, y1))
    return out


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of `box` with each of `boxes` (rows x0, y0, x1, y1)."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + areas - inter
    result: np.ndarray = inter / np.maximum(union, 1e-9)
    return result


def _blaze_head(face: Box) -> Box:
    """A BlazeFace box (brows to chin) grown to the whole head: hair above, chin below."""
    x0, y0, x1, y1 = face
    w, h = x1 - x0, y1 - y0
    return (x0 - 0.3 * w, y0 - 0.7 * h, x1 + 0.3 * w, y1 + 0.3 * h)


def _merge_boxes(boxes: list[Box]) -> list[Box]:
    """Union boxes that overlap (the same head seen by two cascades)."""
    merged: list[Box] = []
    for b in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        for i, m in enumerate(merged):
            ix = min(b[2], m[2]) - max(b[0], m[0])
            iy = min(b[3], m[3]) - max(b[1], m[1])
            if ix > 0 and iy > 0 and ix * iy > 0.3 * (b[2] - b[0]) * (b[3] - b[1]):
                merged[i] = (min(b[0], m[0]), min(b[1], m[1]), max(b[2], m[2]), max(b[3], m[3]))
                break
        else:
            merged.append(b)
    return merged
