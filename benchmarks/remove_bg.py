"""Benchmark: local background removal against composites with known alpha.

Run from the repository root (models fetched first):

    .venv/bin/studio models fetch
    .venv/bin/python benchmarks/remove_bg.py            # writes benchmarks/results/remove_bg.md

How the ground truth is made (honestly): every case is a foreground with a
known alpha pasted over a background, so the truth is exact by construction.
The foregrounds are
- real photo objects whose mask is unambiguous by thresholding: the
  scikit-image logo disc (on white in the original), the retina fundus disc
  (on black), single coins from `coins` (on a flat backdrop);
- the `horse` silhouette from scikit-image filled with real photo textures
  (cat fur, coffee, brick) and shaded;
- rendered "products" (bottle, box, mug, ball, phone, vase), drawn at 4x and
  downsampled so their alpha has real anti-aliased edges, textured and lit.
The backgrounds are white with a soft contact shadow (product-on-white), a
grey studio sweep, flat colours, grass, gravel, brick, and blurred or sharp
photos (coffee, motorcycle garage, hubble). None of it is a real-world
photo with a hand-drawn matte: people, hair and fur are not measured here.

Metrics: IoU of (alpha > 0.5) against the truth, mean absolute alpha error,
and, at 1024x1024 in a fresh process per method, warm time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.models import get_store  # noqa: E402
from core.providers.local import remove_bg  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SS = 4  # supersampling for rendered shapes


@dataclass
class Case:
    name: str
    image: np.ndarray  # RGB uint8
    alpha: np.ndarray  # float32 0..1, the truth
    mode: str


# --------------------------------------------------------------------------- foregrounds


def _largest_filled(mask: np.ndarray) -> np.ndarray:
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = (labels == biggest).astype(np.uint8)
    cnts, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(comp)
    cv2.drawContours(filled, cnts, -1, 1, thickness=-1)
    return filled


def _soft(mask01: np.ndarray) -> np.ndarray:
    """Anti-alias a binary cut-out edge by one pixel (like a real camera edge)."""
    return cv2.GaussianBlur(mask01.astype(np.float32), (3, 3), 0.7)


def fg_logo() -> tuple[np.ndarray, np.ndarray]:
    rgb = skdata.logo()[..., :3]
    nonwhite = (rgb.astype(int).min(-1) < 235).astype(np.uint8)
    # the logo is a disc (with a white curve through it): its convex hull is the object
    specks_removed = cv2.morphologyEx(nonwhite, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    hull = cv2.convexHull(cv2.findNonZero(specks_removed))
    disc = np.zeros_like(nonwhite)
    cv2.fillConvexPoly(disc, hull, 1)
    return rgb, _soft(disc)


def fg_retina() -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.resize(skdata.retina(), (700, 700), interpolation=cv2.INTER_AREA)
    lum = rgb.astype(np.float32).mean(-1)
    mask = cv2.morphologyEx((lum > 25).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    return rgb, _soft(_largest_filled(mask))


def fg_coin(index: int, tint: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """One coin of `coins`: local threshold, fill, and keep round components only."""
    gray = skdata.coins()
    th = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 95, -5)
    th = cv2.morphologyEx(th, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    th = cv2.morphologyEx(th, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    coins = []
    for c in cv2.findContours(th, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]:
        area, perim = cv2.contourArea(c), cv2.arcLength(c, True)
        if area > 1000 and 4 * np.pi * area / perim**2 > 0.8:
            coins.append((area, c))
    coins.sort(key=lambda t: -t[0])
    contour = coins[index][1]
    x, y, w, h = cv2.boundingRect(contour)
    m = np.zeros_like(gray)
    cv2.drawContours(m, [contour], -1, 1, thickness=-1)
    pad = 4
    sl = (slice(max(0, y - pad), y + h + pad), slice(max(0, x - pad), x + w + pad))
    rgb = np.clip(gray[sl][..., None].astype(np.float32) * np.array(tint, np.float32), 0, 255)
    big = cv2.resize(rgb.astype(np.uint8), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    mbig = cv2.resize(m[sl].astype(np.float32), None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    return big, np.clip(mbig, 0, 1)


def _texture(name: str, size: tuple[int, int]) -> np.ndarray:
    src = {
        "fur": skdata.chelsea()[40:260, 60:300],
        "coffee": skdata.coffee()[60:340, 140:460],
        "brick": np.repeat(skdata.brick()[..., None], 3, -1),
        "gravel": np.repeat(skdata.gravel()[..., None], 3, -1),
    }[name]
    return cv2.resize(src, size, interpolation=cv2.INTER_CUBIC)


def _shade(rgb: np.ndarray, alpha: np.ndarray, strength: float = 0.35) -> np.ndarray:
    """Light from the top-left: brighter there, darker towards the far edge."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 + strength * (0.5 - (xx / w + yy / h) / 2.0)
    inner = cv2.GaussianBlur((alpha > 0.5).astype(np.float32), (0, 0), max(2.0, w / 60))
    light *= 0.8 + 0.2 * inner
    return np.clip(rgb.astype(np.float32) * light[..., None], 0, 255).astype(np.uint8)


def fg_horse(texture: str) -> tuple[np.ndarray, np.ndarray]:
    horse = (~skdata.horse()).astype(np.uint8)  # horse pixels are False in the original
    m = cv2.resize(horse.astype(np.float32), None, fx=1.6, fy=1.6, interpolation=cv2.INTER_LINEAR)
    h, w = m.shape
    rgb = _shade(_texture(texture, (w, h)), m)
    return rgb, np.clip(m, 0, 1)


def _render(size: tuple[int, int], draw: Callable[[np.ndarray], None]) -> np.ndarray:
    """Draw a binary shape at SS x resolution and downsample: exact soft edges."""
    w, h = size
    canvas = np.zeros((h * SS, w * SS), np.uint8)
    draw(canvas)
    return cv2.resize(canvas.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def _product(shape: str) -> np.ndarray:
    s = SS

    def bottle(c: np.ndarray) -> None:
        cv2.rectangle(c, (60 * s, 140 * s), (180 * s, 460 * s), 1, -1)
        cv2.ellipse(c, (120 * s, 140 * s), (60 * s, 50 * s), 0, 180, 360, 1, -1)
        cv2.rectangle(c, (100 * s, 30 * s), (140 * s, 100 * s), 1, -1)

    def box(c: np.ndarray) -> None:
        pts = np.array([[40, 120], [220, 60], [380, 120], [380, 400], [200, 470], [40, 400]]) * s
        cv2.fillPoly(c, [pts.astype(np.int32)], 1)

    def mug(c: np.ndarray) -> None:
        cv2.rectangle(c, (50 * s, 80 * s), (300 * s, 400 * s), 1, -1)
        cv2.ellipse(c, (300 * s, 230 * s), (80 * s, 90 * s), 0, -90, 90, 1, 30 * s)

    def ball(c: np.ndarray) -> None:
        cv2.circle(c, (200 * s, 200 * s), 180 * s, 1, -1)

    def phone(c: np.ndarray) -> None:
        r = 30 * s
        x0, y0, x1, y1 = 30 * s, 20 * s, 250 * s, 470 * s
        cv2.rectangle(c, (x0 + r, y0), (x1 - r, y1), 1, -1)
        cv2.rectangle(c, (x0, y0 + r), (x1, y1 - r), 1, -1)
        for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(c, (cx, cy), r, 1, -1)

    def vase(c: np.ndarray) -> None:
        ys = np.arange(20, 460)
        half = 40 + 90 * np.sin((ys - 20) / 440 * np.pi) ** 1.5 + 10 * np.cos(ys / 30)
        left = np.stack([200 - half, ys], 1)
        right = np.stack([200 + half, ys], 1)[::-1]
        cv2.fillPoly(c, [(np.concatenate([left, right]) * s).astype(np.int32)], 1)

    draws = {
        "bottle": (bottle, (240, 480)),
        "box": (box, (420, 500)),
        "mug": (mug, (420, 440)),
        "ball": (ball, (400, 400)),
        "phone": (phone, (280, 490)),
        "vase": (vase, (400, 480)),
    }
    fn, size = draws[shape]
    return _render(size, fn)


def fg_product(
    shape: str, colour: tuple[int, int, int], texture: str | None
) -> tuple[np.ndarray, np.ndarray]:
    alpha = _product(shape)
    h, w = alpha.shape
    base = np.empty((h, w, 3), np.float32)
    base[:] = colour
    if texture:
        tex = _texture(texture, (w, h)).astype(np.float32)
        base = 0.55 * base + 0.45 * tex
    if shape in ("box", "bottle", "mug"):  # a printed label
        label = np.zeros((h, w), np.uint8)
        cv2.rectangle(label, (w // 4, h // 2 - h // 10), (3 * w // 4, h // 2 + h // 10), 1, -1)
        base[label == 1] = (245, 240, 230)
        cv2.putText(
            base,
            "LUNEO",
            (w // 4 + 6, h // 2 + 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            w / 400,
            (30, 30, 30),
            2,
            cv2.LINE_AA,
        )
    rgb = _shade(base.clip(0, 255).astype(np.uint8), alpha, 0.5)
    if shape in ("ball", "vase", "bottle"):  # a specular highlight
        hl = np.zeros((h, w), np.float32)
        cv2.ellipse(hl, (w // 3, h // 3), (w // 12, h // 9), -30, 0, 360, 1.0, -1)
        hl = cv2.GaussianBlur(hl, (0, 0), w / 40)
        rgb = np.clip(rgb + 140 * hl[..., None], 0, 255).astype(np.uint8)
    return rgb, alpha


# --------------------------------------------------------------------------- backgrounds


def _fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    big = cv2.resize(
        img, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_CUBIC
    )
    y0, x0 = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y0 : y0 + h, x0 : x0 + w].copy()


def background(kind: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    if kind == "white":
        return np.full((h, w, 3), 255, np.uint8)
    if kind == "studio":
        g = 235 - 70 * yy**1.5
        return np.broadcast_to(g, (h, w, 3)).astype(np.uint8).copy()
    if kind == "flat":
        c = rng.integers(40, 220, 3)
        return np.broadcast_to(c, (h, w, 3)).astype(np.uint8).copy()
    if kind in ("grass", "gravel", "brick"):
        tile = getattr(skdata, kind)()
        rgb = _fit(tile, w, h).astype(np.float32)
        tint = {"grass": (0.6, 1.0, 0.5), "gravel": (1.0, 0.95, 0.85), "brick": (1.0, 0.6, 0.45)}[
            kind
        ]
        return np.clip(rgb * np.array(tint, np.float32), 0, 255).astype(np.uint8)
    if kind == "coffee_blur":
        return cv2.GaussianBlur(_fit(skdata.coffee(), w, h), (0, 0), 8)
    if kind == "garage":
        return _fit(skdata.stereo_motorcycle()[0], w, h)
    if kind == "garage_blur":
        return cv2.GaussianBlur(_fit(skdata.stereo_motorcycle()[0], w, h), (0, 0), 6)
    if kind == "hubble":
        return _fit(skdata.hubble_deep_field(), w, h)
    raise ValueError(kind)


def composite(
    fg: np.ndarray, fa: np.ndarray, bg: np.ndarray, rng: np.random.Generator, shadow: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Paste fg (scaled to 45-70 % of the frame) at a random spot; return image + truth."""
    h, w = bg.shape[:2]
    s = rng.uniform(0.45, 0.7) * min(w / fg.shape[1], h / fg.shape[0])
    fw, fh = max(8, round(fg.shape[1] * s)), max(8, round(fg.shape[0] * s))
    fg = cv2.resize(fg, (fw, fh), interpolation=cv2.INTER_AREA)
    fa = np.clip(cv2.resize(fa, (fw, fh), interpolation=cv2.INTER_AREA), 0, 1)
    x0 = int(rng.integers(int(0.05 * w), max(int(0.05 * w) + 1, w - fw - int(0.05 * w))))
    y0 = int(rng.integers(int(0.05 * h), max(int(0.05 * h) + 1, h - fh - int(0.05 * h))))
    alpha = np.zeros((h, w), np.float32)
    alpha[y0 : y0 + fh, x0 : x0 + fw] = fa
    fgc = np.zeros((h, w, 3), np.float32)
    fgc[y0 : y0 + fh, x0 : x0 + fw] = fg
    out = bg.astype(np.float32)
    if shadow:  # soft contact shadow under and behind the object (not part of the truth)
        sh = cv2.GaussianBlur(
            np.roll(alpha, (int(0.02 * h), int(0.02 * w)), (0, 1)), (0, 0), 0.015 * w
        )
        out *= (1 - 0.45 * sh)[..., None]
    out = out * (1 - alpha[..., None]) + fgc * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha


def build_cases(seed: int = 7) -> list[Case]:
    rng = np.random.default_rng(seed)
    objects: list[tuple[str, Callable[[], tuple[np.ndarray, np.ndarray]], str, list[str]]] = [
        ("logo", fg_logo, "auto", ["studio", "grass", "garage_blur", "brick", "flat"]),
        ("retina", fg_retina, "auto", ["white", "gravel", "coffee_blur", "flat", "garage"]),
        (
            "coin-gold",
            lambda: fg_coin(0, (1.15, 0.95, 0.55)),
            "product",
            ["white", "studio", "flat", "brick"],
        ),
        (
            "coin-silver",
            lambda: fg_coin(3, (1.0, 1.0, 1.05)),
            "product",
            ["white", "grass", "coffee_blur"],
        ),
        (
            "horse-fur",
            lambda: fg_horse("fur"),
            "animal",
            ["grass", "studio", "garage_blur", "hubble"],
        ),
        (
            "horse-coffee",
            lambda: fg_horse("coffee"),
            "animal",
            ["gravel", "flat", "white", "garage"],
        ),
        ("horse-brick", lambda: fg_horse("brick"), "auto", ["grass", "coffee_blur", "studio"]),
        (
            "bottle",
            lambda: fg_product("bottle", (30, 110, 60), None),
            "product",
            ["white", "studio", "flat", "garage_blur"],
        ),
        (
            "box",
            lambda: fg_product("box", (200, 60, 40), "brick"),
            "product",
            ["white", "studio", "gravel", "coffee_blur"],
        ),
        (
            "mug",
            lambda: fg_product("mug", (40, 70, 170), None),
            "product",
            ["white", "studio", "flat", "brick"],
        ),
        (
            "ball",
            lambda: fg_product("ball", (230, 150, 20), "gravel"),
            "product",
            ["white", "grass", "hubble", "studio"],
        ),
        (
            "phone",
            lambda: fg_product("phone", (25, 25, 30), None),
            "product",
            ["white", "studio", "gravel", "garage_blur"],
        ),
        (
            "vase",
            lambda: fg_product("vase", (150, 40, 120), "coffee"),
            "product",
            ["white", "flat", "coffee_blur", "grass"],
        ),
        (
            "toy-fur",
            lambda: fg_product("ball", (200, 180, 150), "fur"),
            "animal",
            ["studio", "gravel", "white"],
        ),
    ]
    sizes = [(1024, 1024), (1024, 768), (768, 1024), (900, 600)]
    cases: list[Case] = []
    for name, make, mode, bgs in objects:
        fg, fa = make()
        for bg_kind in bgs:
            w, h = sizes[int(rng.integers(len(sizes)))]
            bg = background(bg_kind, w, h, rng)
            img, alpha = composite(fg, fa, bg, rng, shadow=bg_kind in ("white", "studio"))
            cases.append(Case(f"{name}/{bg_kind}", img, alpha, mode))
    return cases


# --------------------------------------------------------------------------- evaluation


_RAW: dict[int, np.ndarray] = {}


def predict(method: str, case: Case) -> np.ndarray:
    """Soft alpha (0..1) from the product's own code path, without PNG encoding."""
    rgb = case.image
    if method == "grabcut":
        return remove_bg.grabcut_mask(rgb)
    if id(case) not in _RAW:
        session = get_store(Settings()).onnx_session(remove_bg.ISNET)
        _RAW.clear()
        _RAW[id(case)] = remove_bg.isnet_mask(session, rgb)
    mask = _RAW[id(case)]
    if method == "isnet-raw":
        return mask
    mode = case.mode if method == "isnet" else "auto"
    return remove_bg.refine_mask(rgb, mask, remove_bg.MODES[mode])


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    p, t = pred > 0.5, truth > 0.5
    union = np.logical_or(p, t).sum()
    return float(np.logical_and(p, t).sum() / union) if union else 1.0


def measure_1024(method: str) -> dict[str, float]:
    """Warm time and peak RSS of one 1024x1024 run, in this (fresh) process."""
    from core.providers.base import ProviderRequest
    from core.tools.base import RemoveBgParams

    rng = np.random.default_rng(1)
    fg, fa = fg_horse("fur")
    img, _ = composite(fg, fa, background("garage_blur", 1024, 1024, rng), rng, shadow=False)
    settings = (
        Settings()
        if method != "grabcut"
        else Settings.model_validate(
            {"models": {"dir": str(ROOT / "benchmarks" / "work" / "no-models")}}
        )
    )
    req = ProviderRequest(
        "bench",
        "remove-bg",
        RemoveBgParams(mode="auto"),
        Image.fromarray(img),
        None,
        "bench",
        time.monotonic() + 600,
    )
    t0 = time.perf_counter()
    remove_bg.run(req, settings)  # cold: loads the model
    cold = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        remove_bg.run(req, settings)
        times.append(time.perf_counter() - t0)
    # VmHWM is this process's own high-water mark (ru_maxrss can carry the parent's over exec)
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = [ln for ln in status if ln.startswith("VmHWM:")]
    peak = (
        int(hwm[0].split()[1]) / 1024
        if hwm
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"cold_s": cold, "warm_s": float(np.median(times)), "peak_mb": peak}


def _measure_in_subprocess(method: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", method],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_1024(args.measure)))
        return
    if get_store(Settings()).path(remove_bg.ISNET) is None:
        sys.exit(
            "ISNet is not in the model cache: run `.venv/bin/studio models fetch` first"
        )
    cases = build_cases()
    if args.limit:
        cases = cases[: args.limit]
    methods = ["isnet", "isnet-raw", "grabcut"]
    scores: dict[str, list[float]] = {m: [] for m in methods}
    maes: dict[str, list[float]] = {m: [] for m in methods}
    per_case = []
    for case in cases:
        row = [case.name, case.mode]
        for m in methods:
            pred = predict(m, case)
            scores[m].append(iou(pred, case.alpha))
            maes[m].append(float(np.abs(pred - case.alpha).mean()))
            row.append(f"{scores[m][-1]:.3f}")
        per_case.append(row)
        print(" ".join(row), flush=True)
    save_examples(cases)
    perf = {m: _measure_in_subprocess(m) for m in ("isnet", "grabcut")}
    write_report(cases, methods, scores, maes, per_case, perf)


def save_examples(cases: list[Case]) -> None:
    """A contact sheet: input, truth, ISNet alpha, GrabCut alpha, cut-out on checkerboard."""
    wanted = [
        "horse-fur/grass",
        "bottle/white",
        "box/coffee_blur",
        "phone/gravel",
        "logo/garage_blur",
        "horse-coffee/garage",
    ]
    picks = [c for c in cases if c.name in wanted]
    rows = []
    for c in picks:
        h = 220
        s = h / c.image.shape[0]
        w = round(c.image.shape[1] * s)
        ours = predict("isnet", c)
        gc = predict("grabcut", c)
        yy, xx = np.mgrid[0:h, 0:w]
        checker = np.where(((yy // 12 + xx // 12) % 2)[..., None] == 0, 200, 255).astype(np.float32)
        small = cv2.resize(c.image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        a = cv2.resize(ours, (w, h), interpolation=cv2.INTER_AREA)[..., None]
        cut = (small * a + checker * (1 - a)).astype(np.uint8)
        tiles = [cv2.resize(c.image, (w, h), interpolation=cv2.INTER_AREA)]
        for m in (c.alpha, ours, gc):
            g = (cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA) * 255).astype(np.uint8)
            tiles.append(np.repeat(g[..., None], 3, -1))
        tiles.append(cut)
        rows.append(
            np.concatenate(
                [np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles], 1
            )
        )
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate(
        [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    )
    Image.fromarray(sheet).save(RESULTS / "remove_bg_examples.png")


def write_report(
    cases: list[Case],
    methods: list[str],
    scores: dict[str, list[float]],
    maes: dict[str, list[float]],
    per_case: list[list[str]],
    perf: dict[str, dict[str, float]],
) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    label = {
        "isnet": "ISNet + guided refinement (mode-tuned), the product path",
        "isnet-raw": "ISNet mask, bilinear upsample only (no refinement)",
        "grabcut": "classical fallback (border-seeded GrabCut)",
    }
    lines = [
        "# Local background removal",
        "",
        f"{len(cases)} composites with exact ground-truth alpha (see the docstring of "
        "`benchmarks/remove_bg.py` for how they are made), sizes 900x600 to 1024x1024. "
        f"Machine: {os.cpu_count()} cores, CPU only; load average at the end {os.getloadavg()[0]:.1f} "
        "(other work shares this machine: times are indicative). "
        "Command: `.venv/bin/python benchmarks/remove_bg.py`.",
        "",
        "| method | mean IoU (alpha>0.5) | median IoU | worst IoU | cases IoU >= 0.90 | mean abs alpha error |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        s = np.array(scores[m])
        lines.append(
            f"| {label[m]} | {s.mean():.3f} | {np.median(s):.3f} | {s.min():.3f} | "
            f"{int((s >= 0.9).sum())}/{len(s)} | {np.mean(maes[m]):.4f} |"
        )
    lines += [
        "",
        "Speed and memory for one 1024x1024 image through `remove_bg.run` (PNG encode included), "
        "fresh process per method, 2 threads:",
        "",
        "| method | cold (incl. model load) | warm (median of 3) | peak RSS |",
        "|---|---|---|---|",
    ]
    for m, p in perf.items():
        lines.append(
            f"| {label[m]} | {p['cold_s']:.2f} s | {p['warm_s']:.2f} s | {p['peak_mb']:.0f} MB |"
        )
    lines += [
        "",
        "Per case (IoU):",
        "",
        "| case | mode | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in per_case]
    lines += [
        "",
        "Contact sheet (input, truth, ISNet alpha, GrabCut alpha, cut-out): "
        "`remove_bg_examples.png`.",
        "",
    ]
    (RESULTS / "remove_bg.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
