"""Local smart crop: the best window at the exact ratio, from faces, subject and detail.

The window is always the largest one at the ratio that fits the image (integer
size `a*k × b*k`), so only its position is chosen. On a ~512-pixel working
copy, four signals are computed:

- faces (see `faces.py`): MediaPipe's BlazeFace (short-range) on the whole
  image and on tiles, when `studio models fetch` has installed it, else OpenCV's
  Haar cascades (frontal, and profile both ways); each box grown to the whole
  head (hair and chin);
- subject: colour distinctness from the image's borders (pixels unlike the
  colours on at least three of the four edges), fused with spectral-residual
  saliency (Hou & Zhang 2007); its Otsu mask gives the subject's parts;
- detail: smoothed gradient magnitude (edge density);
- a weak pull towards the centre of what matters, so a small subject is framed,
  not pushed to an edge.

Every position of the window along the free axis is scored at once from
integral images and box overlaps: the share of importance kept, bonuses for
faces and subject parts kept whole, a penalty for slicing through them.
`face` weights faces most, `product` the subject, `auto` blends all; `center`
is the plain centre crop.

No crop cuts a face (every focus but `center`): a detected head is either at
least 95 % inside the window or at most 5 % inside. Positions that would slice a
head are penalised far below any other term, weighted by the head's area, so when
not every head fits the window keeps the most prominent ones whole; a last pass in
source pixels moves the window the least distance that restores the rule after
rounding and nudging.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from core.config import Settings
from core.errors import InvalidInput
from core.models import FETCH_HINT, get_store
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.providers.local.faces import (
    Box,
    FaceDetector,
    HaarFaces,
    detect_faces,
    face_detector,
    resized,
)
from core.tools.base import CropParams, aspect_ratio, choices

RATIOS: dict[str, tuple[int, int]] = {r: aspect_ratio(r) for r in choices("crop", "ratio")}
WORK_SIDE = 512  # analysis resolution (long side)
SUBJECT_GAMMA = 1.5  # > 1 favours clearly distinct regions over diffuse texture
CUT_PENALTY = 100.0  # per unit of head area sliced: outweighs every other score term
CUT_MARGIN = 0.03  # working-size search: a head 3-97 % inside counts as sliced
CUT_RULE = (0.05, 0.95)  # the promise, in source pixels: a head is ≤ 5 % or ≥ 95 % inside
FALLBACK_NOTE = f"face model not installed: Haar cascades find faces ({FETCH_HINT})"


@dataclass
class Weights:
    """How much each goal counts when scoring a crop window (all >= 0)."""

    mass: float = 1.0  # share of importance kept
    faces: float = 0.0  # faces kept whole
    subject: float = 0.0  # subject parts kept whole
    centre: float = 0.15  # pull towards the centre of what matters


@dataclass
class Signals:
    """What the crop search works from: an importance map at working size, faces and subject boxes."""

    importance: np.ndarray  # working-size map, sums to 1
    faces: list[Box] = field(default_factory=list)
    parts: list[tuple[Box, float]] = field(default_factory=list)  # subject boxes, weight
    scale: float = 1.0  # working pixels per source pixel
    face_detector: str = ""  # the name of the detector that looked for faces
    guard: list[Box] = field(default_factory=list)  # heads never to cut (all detected)


def window_size(width: int, height: int, ratio: str) -> tuple[int, int]:
    """The largest integer window at exactly `ratio` that fits width × height."""
    a, b = RATIOS[ratio]
    k = min(width // a, height // b)
    if k < 1:
        raise InvalidInput(
            f"The image ({width}×{height}) is too small to crop to {ratio}.", field="image"
        )
    return a * k, b * k


def choose_crop(
    img: Image.Image, ratio: str, focus: str = "auto", faces: FaceDetector | None = None
) -> tuple[tuple[int, int, int, int], list[str]]:
    """((x, y, width, height) in source pixels at exactly `ratio`, reasons).

    `faces` finds the faces (default: the Haar cascades, which need no model file;
    `face_detector(store)` gives BlazeFace when the store has it).
    """
    W, H = img.size
    w, h = window_size(W, H, ratio)
    if focus == "center":
        return ((W - w) // 2, (H - h) // 2, w, h), ["centre crop"]
    if (w, h) == (W, H):
        return (0, 0, w, h), ["the image already has this ratio"]
    detector = faces or HaarFaces()
    signals = analyse(img, detector, face_importance=focus != "product")
    weights, reasons = _weights(signals, focus)
    if not reasons:
        cx, cy = uncut(((W - w) // 2, (H - h) // 2), (w, h), (W, H), _source_heads(signals))
        return (cx, cy, w, h), ["nothing stands out: centre"]
    x, y = _best_position(signals, weights, w * signals.scale, h * signals.scale)
    x, y = _to_source(signals, focus, (x, y), (w, h), (W, H))
    return (x, y, w, h), reasons


def _weights(signals: Signals, focus: str) -> tuple[Weights, list[str]]:
    n = len(signals.faces)
    face_reason = [f"{n} face{'s' if n != 1 else ''} found ({signals.face_detector})"] if n else []
    subject_reason = ["subject saliency"] if signals.parts else []
    if focus == "face" and n:
        return Weights(mass=0.5, faces=4.0, subject=0.3), face_reason
    if focus == "product":
        return Weights(mass=1.0, subject=2.5, faces=0.2), subject_reason + face_reason
    reasons = face_reason + subject_reason
    if focus == "face":
        reasons = ["no face found", *reasons]
    if signals.parts or n:
        reasons.append("edges and detail")
    return Weights(mass=1.0, faces=2.0 if n else 0.0, subject=1.0), reasons


# --- signals --------------------------------------------------------------------------


def analyse(
    img: Image.Image, faces: FaceDetector | None, *, face_importance: bool = True
) -> Signals:
    """Importance map, faces (none without a detector) and subject parts of `img`.

    With `face_importance` false (the product focus) the heads found are only
    guarded (never cut), not scored as what matters.
    """
    rgb = resized(img, WORK_SIDE)
    scale = rgb.shape[1] / img.size[0]
    found = detect_faces(img, scale, faces) if faces is not None else []
    heads = found if face_importance else []
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    subject = np.maximum(_border_distinctness(lab), 0.6 * _spectral_residual(lab[:, :, 0]))
    subject = cv2.GaussianBlur(subject, (0, 0), max(1.0, rgb.shape[1] / 200))
    subject *= 0.3 + 0.7 * _sharpness(lab[:, :, 0])  # in focus beats bokeh
    subject = (subject / max(float(subject.max()), 1e-6)) ** SUBJECT_GAMMA
    detail = _edge_density(lab[:, :, 0])
    importance = 0.75 * subject + 0.25 * detail
    for x0, y0, x1, y1 in heads:
        importance[max(0, int(y0)) : int(y1) + 1, max(0, int(x0)) : int(x1) + 1] += 1.0
    importance /= max(float(importance.sum()), 1e-9)
    name = faces.name if faces is not None else ""
    return Signals(importance, heads, _subject_parts(subject), scale, name, found)


def _border_distinctness(lab: np.ndarray) -> np.ndarray:
    """How unlike the border colours each pixel is (needs to differ from ≥ 3 edges)."""
    full = lab.shape[1], lab.shape[0]
    lab = cv2.resize(
        lab, (max(1, full[0] // 2), max(1, full[1] // 2)), interpolation=cv2.INTER_AREA
    )
    h, w = lab.shape[:2]
    t = max(2, min(h, w) // 25)
    sides = [lab[:t], lab[-t:], lab[:, :t], lab[:, -t:]]
    flat = lab.reshape(-1, 3)
    dists = np.stack([_distance_to_colours(flat, s.reshape(-1, 3)) for s in sides])
    d = np.sort(dists, axis=0)[1].reshape(h, w).astype(np.float32)
    contrast: np.ndarray = cv2.resize(
        np.clip(d / 40.0, 0.0, 1.0), full, interpolation=cv2.INTER_LINEAR
    )
    return contrast


def _distance_to_colours(pixels: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Distance (ΔE76) from every pixel to the nearest of ~12 representative colours."""
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    k = min(12, len(samples))
    cv2.setRNGSeed(7)
    labels = np.zeros((len(samples), 1), np.int32)
    data = np.ascontiguousarray(samples, dtype=np.float32)
    _, _, centres = cv2.kmeans(data, k, labels, criteria, 2, cv2.KMEANS_PP_CENTERS)
    d2 = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    result: np.ndarray = np.sqrt(d2.min(axis=1))
    return result


def _spectral_residual(lightness: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) at 64 px, back at working size."""
    h, w = lightness.shape
    small = cv2.resize(lightness, (64, max(8, round(64 * h / w))), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-8)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal = cv2.resize(sal, (w, h), interpolation=cv2.INTER_LINEAR)
    return sal / max(float(sal.max()), 1e-9)


def _sharpness(lightness: np.ndarray) -> np.ndarray:
    """Local fine detail (|Laplacian|, smoothed), 0..1: high where the image is in focus."""
    lap = np.abs(cv2.Laplacian(lightness, cv2.CV_32F, ksize=3))
    lap = cv2.GaussianBlur(lap, (0, 0), max(2.0, lightness.shape[1] / 50))
    sharpness: np.ndarray = np.clip(lap / max(float(np.percentile(lap, 98)), 1e-6), 0.0, 1.0)
    return sharpness


def _edge_density(lightness: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), max(2.0, lightness.shape[1] / 60))
    return mag / max(float(np.percentile(mag, 99.5)), 1e-6)


def _subject_parts(subject: np.ndarray) -> list[tuple[Box, float]]:
    """Bounding boxes of the salient regions (Otsu mask), weighted by saliency mass."""
    u8 = (np.clip(subject, 0, 1) * 255).astype(np.uint8)
    level, mask = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if level < 40:  # nothing clearly stands out
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    masses = np.bincount(labels.ravel(), weights=subject.ravel(), minlength=n)[1:]
    if masses.size == 0 or masses.sum() <= 0:
        return []
    keep = [i for i in np.argsort(-masses) if masses[i] >= 0.15 * masses.max()][:5]
    total = sum(float(masses[i]) for i in keep)
    parts = []
    for i in keep:
        x, y, bw, bh = (float(v) for v in stats[i + 1, :4])
        parts.append(((x, y, x + bw, y + bh), float(masses[i]) / total))
    return parts


# --- scoring --------------------------------------------------------------------------


def _best_position(sig: Signals, wts: Weights, ww: float, wh: float) -> tuple[float, float]:
    """Top-left (working pixels) of the best window of size ww × wh."""
    H, W = sig.importance.shape
    xs = np.linspace(0.0, max(0.0, W - ww), max(1, int(W - ww) + 1))
    ys = np.linspace(0.0, max(0.0, H - wh), max(1, int(H - wh) + 1))
    gx, gy = np.meshgrid(xs, ys)
    score = wts.mass * _mass(sig.importance, gx, gy, ww, wh)
    if sig.faces and wts.faces:  # larger heads count more: they are the prominent ones
        areas = [_area(b) for b in sig.faces]
        kept = sum(a * _keep(b, gx, gy, ww, wh) for a, b in zip(areas, sig.faces, strict=True))
        score += wts.faces * kept / sum(areas)
    if sig.guard:
        total = sum(_area(b) for b in sig.guard)
        sliced = sum(_area(b) * _sliced(b, gx, gy, ww, wh) for b in sig.guard)
        score -= CUT_PENALTY * sliced / total
    if sig.parts and wts.subject:
        score += wts.subject * sum(w * _keep(b, gx, gy, ww, wh) for b, w in sig.parts)
    tx, ty = _focus_point(sig)
    off = np.abs(gx + ww / 2 - tx) / W + np.abs(gy + wh / 2 - ty) / H
    score -= wts.centre * off
    iy, ix = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(xs[ix]), float(ys[iy])


def _mass(imp: np.ndarray, gx: np.ndarray, gy: np.ndarray, ww: float, wh: float) -> np.ndarray:
    """Share of the importance inside each window (integral image lookups)."""
    H, W = imp.shape
    ii = np.pad(imp.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    x0 = np.clip(np.rint(gx), 0, W).astype(int)
    y0 = np.clip(np.rint(gy), 0, H).astype(int)
    x1 = np.clip(np.rint(gx + ww), 0, W).astype(int)
    y1 = np.clip(np.rint(gy + wh), 0, H).astype(int)
    result: np.ndarray = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
    return result


def _area(b: Box) -> float:
    return max(b[2] - b[0], 1e-6) * max(b[3] - b[1], 1e-6)


def _inside(b: Box, gx: np.ndarray, gy: np.ndarray, ww: float, wh: float) -> np.ndarray:
    """Per window at (gx, gy) of size ww × wh: the fraction of box b inside it, 0..1."""
    bw, bh = max(b[2] - b[0], 1e-6), max(b[3] - b[1], 1e-6)
    fx = np.clip(np.minimum(gx + ww, b[2]) - np.maximum(gx, b[0]), 0, None) / bw
    fy = np.clip(np.minimum(gy + wh, b[3]) - np.maximum(gy, b[1]), 0, None) / bh
    frac: np.ndarray = np.minimum(fx, 1.0) * np.minimum(fy, 1.0)
    return frac


def _sliced(b: Box, gx: np.ndarray, gy: np.ndarray, ww: float, wh: float) -> np.ndarray:
    """Per window: 1 where box b is neither (nearly) whole inside nor (nearly) outside."""
    frac = _inside(b, gx, gy, ww, wh)
    return ((frac > CUT_MARGIN) & (frac < 1 - CUT_MARGIN)).astype(np.float64)


def _keep(b: Box, gx: np.ndarray, gy: np.ndarray, ww: float, wh: float) -> np.ndarray:
    """Per window: fraction of box b inside, squared (halving hurts), +1 when whole."""
    bw, bh = max(b[2] - b[0], 1e-6), max(b[3] - b[1], 1e-6)
    frac = _inside(b, gx, gy, ww, wh)
    whole_possible = bw <= ww + 1 and bh <= wh + 1
    whole = (frac >= 0.98) if whole_possible else np.zeros_like(frac, dtype=bool)
    result: np.ndarray = frac**2 + whole
    return result


def _focus_point(sig: Signals) -> tuple[float, float]:
    """Where the window's centre should be: faces and subject parts, else the mass centre."""
    boxes = [(b, 2.0 / len(sig.faces)) for b in sig.faces] + sig.parts
    if boxes:
        total = sum(w for _, w in boxes)
        tx = sum((b[0] + b[2]) / 2 * w for b, w in boxes) / total
        ty = sum((b[1] + b[3]) / 2 * w for b, w in boxes) / total
        return tx, ty
    H, W = sig.importance.shape
    ys, xs = np.mgrid[0:H, 0:W]
    return float((xs * sig.importance).sum()), float((ys * sig.importance).sum())


def _to_source(
    sig: Signals, focus: str, pos: tuple[float, float], size: tuple[int, int], full: tuple[int, int]
) -> tuple[int, int]:
    """Map a working position to source pixels; nudge so faces kept whole stay whole."""
    (w, h), (W, H), s = size, full, sig.scale
    x = min(max(0, round(pos[0] / s)), W - w)
    y = min(max(0, round(pos[1] / s)), H - h)
    heads = _source_heads(sig)
    if focus == "product":
        return uncut((x, y), size, full, heads)
    inside = [
        f
        for f in sig.faces
        if f[0] >= pos[0] - 1
        and f[2] <= pos[0] + w * s + 1
        and f[1] >= pos[1] - 1
        and f[3] <= pos[1] + h * s + 1
    ]
    if inside:
        ux0, ux1 = min(f[0] for f in inside) / s, max(f[2] for f in inside) / s
        uy0, uy1 = min(f[1] for f in inside) / s, max(f[3] for f in inside) / s
        x = _nudge(x, w, W, max(0.0, ux0), min(float(W), ux1))
        y = _nudge(y, h, H, max(0.0, uy0), min(float(H), uy1))
    return uncut((x, y), size, full, heads)


def _source_heads(sig: Signals) -> list[Box]:
    s = sig.scale
    return [(b[0] / s, b[1] / s, b[2] / s, b[3] / s) for b in sig.guard]


def uncut(
    pos: tuple[int, int], size: tuple[int, int], full: tuple[int, int], heads: list[Box]
) -> tuple[int, int]:
    """Move a window the least so no head is sliced (`CUT_RULE`), if any position allows.

    `pos` is the window's top-left and `size` its width × height, `full` the image's
    size and `heads` the head boxes (x0, y0, x1, y1), all in source pixels. Along each
    free axis every integer position is tried; the ones slicing the least head area
    (ideally none, and then preferring heads wholly in or out over the 5 % slack) are
    kept and the nearest of them to `pos` wins.
    """
    lo, hi = CUT_RULE
    x, y = pos
    for axis in (0, 1):
        room = full[axis] - size[axis]
        if room <= 0 or not heads:
            continue
        starts = np.arange(room + 1, dtype=np.float64)
        gx = starts if axis == 0 else np.full_like(starts, x)
        gy = starts if axis == 1 else np.full_like(starts, y)
        cost = np.zeros_like(starts)
        for b in heads:
            frac = _inside(b, gx, gy, float(size[0]), float(size[1]))
            partial = (frac > 0.0) & (frac < 1.0)  # allowed, but whole or out is better
            cost += _area(b) * (1000.0 * ((frac > lo) & (frac < hi)) + partial)
        current = x if axis == 0 else y
        if cost[current] <= cost.min():
            continue
        best = np.nonzero(cost <= cost.min())[0]
        chosen = int(best[np.argmin(np.abs(best - current))])
        x, y = (chosen, y) if axis == 0 else (x, chosen)
    return x, y


def _nudge(start: int, length: int, limit: int, lo: float, hi: float) -> int:
    """Shift [start, start+length) the least so it covers [lo, hi], if that fits."""
    if hi - lo > length:
        return start
    if lo < start:
        start = int(np.floor(lo))
    if hi > start + length:
        start = int(np.ceil(hi)) - length
    return min(max(0, start), limit - length)


# --- provider -------------------------------------------------------------------------


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """Crop `req.image` to `params.ratio` around what matters; InvalidInput without an image."""
    params = req.params
    if not isinstance(params, CropParams):
        raise TypeError(f"expected CropParams, got {type(params).__name__}")
    if req.image is None:
        raise InvalidInput("The crop tool needs an image.", field="image")
    faces = face_detector(get_store(settings))
    wants_faces = params.focus in ("auto", "face")
    req.progress(0.1, "looking for faces and the subject")
    (x, y, w, h), reasons = choose_crop(req.image, params.ratio, params.focus, faces)
    req.progress(0.8, "cropping")
    out = req.image.crop((x, y, x + w, y + h))
    name, mime, data = _encode(out, req.image_bytes)
    return ProviderResult(
        files=[OutputFile(name, data, mime)],
        data={
            "box": {"x": x, "y": y, "width": w, "height": h},
            "reasons": reasons,
            "width": w,
            "height": h,
        },
        model=f"smart crop ({faces.name} faces, border contrast + spectral residual saliency, edges)",
        note=FALLBACK_NOTE if wants_faces and isinstance(faces, HaarFaces) else None,
    )


def _encode(img: Image.Image, original: bytes | None) -> tuple[str, str, bytes]:
    """JPEG in, JPEG out (when there is no alpha); PNG otherwise."""
    buf = io.BytesIO()
    if original is not None and original[:3] == b"\xff\xd8\xff" and img.mode == "RGB":
        img.save(buf, "JPEG", quality=92, optimize=True)
        return "crop.jpg", "image/jpeg", buf.getvalue()
    img.save(buf, "PNG")
    return "crop.png", "image/png", buf.getvalue()
