"""Crop benchmark: the local smart crop vs smartcrop.py 0.5.0 and a centre crop.

    .venv/bin/python benchmarks/crop.py               # writes benchmarks/results/crop.md

A labelled set is built from scikit-image's bundled pictures (no download):
subjects with known boxes (photo crops, the alpha-cut logo, drawn shapes) and the
astronaut (head box known) composited at varied, mostly off-centre positions on
wide and tall backgrounds (plain, gradient, blurred photo, grass, gravel, noise),
cropped to all four ratios. Scores: mean share of the subject box kept, share of
subjects kept whole, share of faces kept whole. Ours runs with the face detector the
provider would use (BlazeFace when `studio models fetch` has run) and again with the
Haar fallback; a second table times the two detectors alone and counts the planted
faces they find and the false faces they report.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import Settings
from core.models import get_store
from core.providers.local.crop import RATIOS, choose_crop, window_size
from core.providers.local.faces import FaceDetector, HaarFaces, detect_faces, face_detector

RESULTS = Path(__file__).parent / "results" / "crop.md"
HEAD = (152, 14, 302, 200)  # the astronaut's head in skimage's 512×512 picture
Box = tuple[float, float, float, float]
CropBox = tuple[int, int, int, int]


@dataclass
class Case:
    image: Image.Image
    ratio: str
    subject: Box  # x0, y0, x1, y1
    face: bool  # the subject is a head that should be kept whole
    label: str


def backgrounds(rng: np.random.Generator, size: tuple[int, int], kind: str) -> Image.Image:
    w, h = size
    if kind == "plain":
        return Image.new("RGB", size, tuple(int(v) for v in rng.integers(150, 235, 3)))
    if kind == "gradient":
        c1, c2 = rng.integers(40, 230, 3), rng.integers(40, 230, 3)
        t = np.linspace(0, 1, w)[None, :, None]
        return Image.fromarray(np.broadcast_to(c1 + (c2 - c1) * t, (h, w, 3)).astype(np.uint8))
    if kind == "noise":
        small = rng.normal(128, 30, (max(2, h // 12), max(2, w // 12), 3)).clip(0, 255)
        return Image.fromarray(small.astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    if kind == "blurred photo":
        src = Image.fromarray(data.coffee() if rng.random() < 0.5 else data.hubble_deep_field())
        return src.resize(size).filter(ImageFilter.GaussianBlur(25))
    tex = data.grass() if kind == "grass" else data.gravel()
    return Image.fromarray(tex).convert("RGB").resize(size)


def subjects() -> list[tuple[str, Image.Image]]:
    """Cut-outs with a box that is the subject (RGBA where a mask is known)."""
    out = [
        ("rocket", Image.fromarray(data.rocket()[40:400, 230:420])),
        ("cat", Image.fromarray(data.chelsea()[20:280, 90:330])),
        ("coffee cup", Image.fromarray(data.coffee()[20:340, 70:470])),
        ("motorcycle", Image.fromarray(data.stereo_motorcycle()[0][60:460, 80:680])),
        ("logo", Image.fromarray(data.logo())),
    ]
    star = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    pts = [
        (
            150 + (140 if k % 2 == 0 else 60) * np.cos(np.pi * k / 5 - np.pi / 2),
            150 + (140 if k % 2 == 0 else 60) * np.sin(np.pi * k / 5 - np.pi / 2),
        )
        for k in range(10)
    ]
    ImageDraw.Draw(star).polygon(pts, fill=(230, 40, 60, 255), outline=(20, 20, 20, 255))
    out.append(("star", star))
    return out


def build_cases(n: int = 120, seed: int = 1) -> list[Case]:
    rng = np.random.default_rng(seed)
    subs = subjects()
    kinds = ["plain", "gradient", "noise", "blurred photo", "grass", "gravel"]
    shapes = [(1800, 760), (2000, 900), (1600, 800), (760, 1800), (900, 2000), (800, 1600)]
    astronaut = Image.fromarray(data.astronaut())
    cases = []
    for i in range(n):
        size = shapes[i % len(shapes)]
        bg = backgrounds(rng, size, kinds[(i // len(shapes)) % len(kinds)])
        ratio = list(RATIOS)[i % 4]
        face = i % 3 == 0
        if face:
            name, sub = "astronaut", astronaut
        else:
            name, sub = subs[int(rng.integers(len(subs)))]
        cases.append(_place(rng, bg, sub, name, ratio, face))
    return cases


def _place(
    rng: np.random.Generator, bg: Image.Image, sub: Image.Image, name: str, ratio: str, face: bool
) -> Case:
    W, H = bg.size
    ww, wh = window_size(W, H, ratio)
    scale = rng.uniform(0.45, 0.8) * min(ww / sub.width, wh / sub.height)
    sub = sub.resize((max(8, round(sub.width * scale)), max(8, round(sub.height * scale))))
    # positions along the whole free axis, biased away from the centre
    u = rng.choice([rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0), rng.uniform(0.0, 1.0)])
    v = rng.uniform(0.0, 1.0)
    x, y = round(u * (W - sub.width)), round(v * (H - sub.height))
    mask = sub.getchannel("A") if sub.mode == "RGBA" else None
    bg.paste(sub.convert("RGB"), (x, y), mask)
    if face:
        k = sub.width / 512
        box = (x + HEAD[0] * k, y + HEAD[1] * k, x + HEAD[2] * k, y + HEAD[3] * k)
    else:
        x0, y0, x1, y1 = (
            mask.getbbox() if mask is not None and mask.getbbox() else (0, 0, sub.width, sub.height)
        )
        box = (x + x0, y + y0, x + x1, y + y1)
    return Case(bg, ratio, box, face, f"{name} on {W}×{H} → {ratio}")


@dataclass
class Group:
    image: Image.Image
    ratio: str
    heads: list[Box]  # every planted head box, largest first
    label: str


def build_groups(n: int = 48, seed: int = 2) -> list[Group]:
    """Groups of 2-5 astronaut heads (alternately mirrored) side by side, or stacked on
    tall canvases, at varied sizes, on the same backgrounds, the four ratios in turn."""
    rng = np.random.default_rng(seed)
    kinds = ["plain", "gradient", "noise", "blurred photo", "grass", "gravel"]
    shapes = [(1024, 512), (1800, 760), (1600, 900), (512, 1024), (900, 1800)]
    astronaut = Image.fromarray(data.astronaut())
    groups = []
    for i in range(n):
        size = shapes[i % len(shapes)]
        bg = backgrounds(rng, size, kinds[(i // len(shapes)) % len(kinds)])
        ratio, k = list(RATIOS)[i % 4], 2 + i % 4
        wide = size[0] >= size[1]
        cell = (size[0] / k if wide else size[0], size[1] if wide else size[1] / k)
        heads = []
        for j in range(k):
            side = round(min(cell) * rng.uniform(0.6, 1.0))
            person = astronaut if j % 2 == 0 else ImageOps.mirror(astronaut)
            person = person.resize((side, side))
            x0 = (j * cell[0] if wide else 0) + rng.uniform(0, cell[0] - side)
            y0 = (0 if wide else j * cell[1]) + rng.uniform(0, cell[1] - side)
            bg.paste(person, (round(x0), round(y0)))
            hx0, hx1 = (HEAD[0], HEAD[2]) if j % 2 == 0 else (512 - HEAD[2], 512 - HEAD[0])
            f = side / 512
            heads.append(
                (
                    round(x0) + hx0 * f,
                    round(y0) + HEAD[1] * f,
                    round(x0) + hx1 * f,
                    round(y0) + HEAD[3] * f,
                )
            )
        heads.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        groups.append(Group(bg, ratio, heads, f"{k} heads on {size[0]}×{size[1]} → {ratio}"))
    return groups


def group_rows(groups: list[Group], faces: FaceDetector) -> list[str]:
    """Per focus: outputs cutting a planted head (5-95 % inside), heads kept whole, the
    largest head kept whole."""
    lines = [
        "| focus | face detector | outputs cutting a head | heads kept whole | "
        "largest head kept whole | median time |",
        "|---|---|---|---|---|---|",
    ]
    for focus in ("auto", "face", "product", "center"):
        cut = whole = largest = 0
        times = []
        for g in groups:
            t = time.perf_counter()
            box = choose_crop(g.image, g.ratio, focus, faces)[0]
            times.append(time.perf_counter() - t)
            shares = [kept(box, h) for h in g.heads]
            cut += any(0.05 < s < 0.95 for s in shares)
            whole += sum(s >= 0.95 for s in shares)
            largest += shares[0] >= 0.95
        n_heads = sum(len(g.heads) for g in groups)
        lines.append(
            f"| {focus} | {faces.name} | {cut} / {len(groups)} | {100 * whole / n_heads:.1f} % | "
            f"{100 * largest / len(groups):.1f} % | {1000 * statistics.median(times):.0f} ms |"
        )
        print(lines[-1], flush=True)
    return lines


def kept(crop: CropBox, box: Box) -> float:
    x, y, w, h = crop
    ix = max(0.0, min(x + w, box[2]) - max(x, box[0]))
    iy = max(0.0, min(y + h, box[3]) - max(y, box[1]))
    return ix * iy / ((box[2] - box[0]) * (box[3] - box[1]))


def ours(faces: FaceDetector, focus: str | None) -> Callable[[Case], CropBox]:
    """Our crop with `faces`; focus None means face for face cases, else product."""

    def crop(c: Case) -> CropBox:
        return choose_crop(c.image, c.ratio, focus or ("face" if c.face else "product"), faces)[0]

    return crop


def centre(c: Case) -> CropBox:
    return choose_crop(c.image, c.ratio, "center")[0]


def smartcrop_py(c: Case) -> CropBox:
    import smartcrop

    a, b = RATIOS[c.ratio]
    top = smartcrop.SmartCrop().crop(c.image, a * 100, b * 100)["top_crop"]
    return top["x"], top["y"], top["width"], top["height"]


def methods(faces: FaceDetector) -> list[tuple[str, str, Callable[[Case], CropBox]]]:
    """(name, face detector, crop function) per row."""
    rows = [
        ("Luneo local, focus=auto", faces.name, ours(faces, "auto")),
        ("Luneo local, focus=face/product", faces.name, ours(faces, None)),
    ]
    if faces.name != HaarFaces.name:
        haar = HaarFaces()
        rows += [
            ("Luneo local, focus=auto", "Haar (fallback)", ours(haar, "auto")),
            ("Luneo local, focus=face/product", "Haar (fallback)", ours(haar, None)),
        ]
    return [*rows, ("smartcrop.py 0.5.0", "none", smartcrop_py), ("centre crop", "none", centre)]


def crop_rows(cases: list[Case], faces: FaceDetector) -> list[str]:
    lines = [
        "| method | face detector | subject box kept (mean) | subjects kept whole | "
        "faces kept whole | median time | median time, face cases |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, detector, fn in methods(faces):
        shares, times = [], []
        for c in cases:
            t = time.perf_counter()
            box = fn(c)
            times.append(time.perf_counter() - t)
            shares.append(kept(box, c.subject))
        faces_whole = [s >= 0.999 for s, c in zip(shares, cases, strict=True) if c.face]
        face_times = [t for t, c in zip(times, cases, strict=True) if c.face]
        whole = [s >= 0.999 for s in shares]
        lines.append(
            f"| {name} | {detector} | {100 * statistics.mean(shares):.1f} % | "
            f"{100 * statistics.mean(whole):.1f} % | {100 * statistics.mean(faces_whole):.1f} % | "
            f"{1000 * statistics.median(times):.0f} ms | "
            f"{1000 * statistics.median(face_times):.0f} ms |"
        )
        print(lines[-1], flush=True)
    return lines


def photos() -> list[Image.Image]:
    """Photo-shaped pictures (square and 3:2/4:3, 1–3 MP), busy ones included."""
    sizes = {"astronaut": (1024, 1024), "coffee": (1200, 800), "chelsea": (1350, 900)}
    out = [Image.fromarray(getattr(data, n)()).resize(size) for n, size in sizes.items()]
    out.append(Image.fromarray(data.grass()).convert("RGB").resize((1024, 1024)))
    out.append(Image.fromarray(data.gravel()).convert("RGB").resize((2048, 1536)))
    return out


def detector_rows(cases: list[Case], faces: FaceDetector) -> list[str]:
    """Each detector alone: planted faces found, false faces, time (at its 800-px copy)."""
    lines = [
        "| face detector | planted faces found | false faces | images with a false face "
        "| median time | slowest | median time, 5 photos |",
        "|---|---|---|---|---|---|---|",
    ]
    detectors = [faces] if faces.name == HaarFaces.name else [faces, HaarFaces()]
    pictures = photos()
    for det in detectors:
        photo_times = []
        for img in pictures:
            t = time.perf_counter()
            detect_faces(img, 1.0, det)
            photo_times.append(time.perf_counter() - t)
        found = false = false_images = 0
        times = []
        for c in cases:
            t = time.perf_counter()
            heads = detect_faces(c.image, 1.0, det)
            times.append(time.perf_counter() - t)
            cx, cy = (c.subject[0] + c.subject[2]) / 2, (c.subject[1] + c.subject[3]) / 2
            hit = c.face and any(h[0] <= cx <= h[2] and h[1] <= cy <= h[3] for h in heads)
            found += hit
            false += len(heads) - hit
            false_images += len(heads) > hit
        lines.append(
            f"| {det.name} | {found} / {sum(c.face for c in cases)} | {false} | "
            f"{false_images} / {len(cases)} | {1000 * statistics.median(times):.0f} ms | "
            f"{1000 * max(times):.0f} ms | {1000 * statistics.median(photo_times):.0f} ms |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    if "--groups" in sys.argv:  # the group table alone
        print("\n".join(group_rows(build_groups(), face_detector(get_store(Settings())))))
        return
    cases = build_cases()
    faces = face_detector(get_store(Settings()))
    if faces.name == HaarFaces.name:
        print("BlazeFace is not installed (run `studio models fetch`): Haar only", flush=True)
    lines = [
        "# Crop benchmark",
        "",
        f"`.venv/bin/python benchmarks/crop.py`: {len(cases)} labelled cases "
        f"({sum(c.face for c in cases)} with a face), wide (≈2.2:1) and tall (≈1:2.2) "
        "backgrounds, the four ratios in turn. smartcrop.py is called the usual way "
        "(`SmartCrop().crop(image, a*100, b*100)`, its default scales 0.9–1.0); ours always "
        "returns the largest window at the exact ratio. The face detector column says "
        "which one ours ran: the provider uses BlazeFace when the model is installed, "
        "Haar cascades otherwise. "
        f"Load average when finished: {{load:.1f}} on {os.cpu_count()} cores.",
        "",
        *crop_rows(cases, faces),
        "",
        "Groups: 48 pictures of 2–5 people side by side (stacked on tall canvases; "
        "skimage's astronaut, alternately mirrored, head boxes known), 1024×512 to "
        "1800×760 and tall, the six backgrounds, the four ratios in turn, every focus. "
        "A head is cut when 5–95 % of its box is inside the crop; `center` is the "
        "contract's plain centre crop and makes no promise about faces.",
        "",
        *group_rows(build_groups(), faces),
        "",
        "Face detection alone (the astronaut's head centre inside a reported head box "
        "counts as found; every other box is a false face). The canvases above are "
        "wide, so the 800-px detection copy is small (≈800×360), which suits Haar; the "
        "last column times whole "
        "photo-shaped pictures (skimage's astronaut 1024², coffee 1200×800, cat "
        "1350×900, grass 1024², gravel 2048×1536):",
        "",
        *detector_rows(cases, faces),
    ]
    text = "\n".join(lines).replace("{load:.1f}", f"{os.getloadavg()[0]:.1f}") + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
