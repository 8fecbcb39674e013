"""Palette benchmark: the local palette vs colorthief 0.2.1 and Pylette 6.0.0.

    .venv/bin/python benchmarks/palette.py            # writes benchmarks/results/palette.md
                                                      # and palette_checks.md
    .venv/bin/python benchmarks/palette.py --checks   # palette_checks.md only (no reference tools)

The checks (issue #9's contract lines, on the same images): names unique in every
palette (1, 3, 6 and 12 colours, neutrals in and out, PNG and 12 MP JPEG); and
`--colors 1` on a hue wheel within CIEDE2000 5 of a colour covering at least 5 %
of the image.

Images: scikit-image's bundled samples (no download), and 12-megapixel camera-like
JPEGs made from them (upsampled to ~12 MP, film grain added, JPEG q90).
Every tool gets the same encoded bytes and returns 6 colours (neutrals included,
as the other tools have no such filter). Times are wall-clock medians, each tool
warmed once before timing. Quality: mean CIEDE2000 from each pixel of a fixed
256-pixel thumbnail to its nearest palette colour (lower is better).

Install the reference tools with `pip install colorthief==0.2.1 smartcrop==0.5.0`
and `pip install --no-deps Pylette==6.0.0 typer` (Pylette's own dependencies pull
opencv-python 5, which replaces OpenCV 4 and its Haar cascades).
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.providers.local.palette import extract_palette

N = 6
RESULTS = Path(__file__).parent / "results" / "palette.md"
CHECKS = Path(__file__).parent / "results" / "palette_checks.md"
Palette = list[tuple[int, int, int]]


def sample_images() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in (
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "immunohistochemistry",
        "hubble_deep_field",
        "retina",
        "colorwheel",
        "stereo_motorcycle",
        "logo",
    ):
        arr = getattr(data, name)()
        arr = arr[0] if isinstance(arr, tuple) else arr
        if arr.shape[2] == 4:  # flatten the logo on white so every tool sees the same pixels
            img = Image.new("RGB", (arr.shape[1], arr.shape[0]), (255, 255, 255))
            img.paste(Image.fromarray(arr), mask=Image.fromarray(arr[..., 3]))
            arr = np.asarray(img)
        out[name] = arr
    return out


def encode_png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def camera_jpeg(arr: np.ndarray, seed: int) -> bytes:
    """~12 MP, bicubic upsample, luminance + chroma grain, JPEG q90."""
    h, w = arr.shape[:2]
    k = (12e6 / (w * h)) ** 0.5
    img = Image.fromarray(arr).resize((round(w * k), round(h * k)), Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    a = np.asarray(img, np.float32)
    grain = rng.normal(0, 5, a.shape[:2])[..., None] + rng.normal(0, 2, a.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(a + grain, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def mean_delta_e(raw: bytes, palette: Palette) -> float:
    img = Image.open(io.BytesIO(raw)).convert("RGB")
    img.thumbnail((256, 256), Image.Resampling.BOX)
    lab = rgb2lab(np.asarray(img) / 255.0).reshape(-1, 3)
    pal = rgb2lab(np.array(palette, float)[None] / 255.0)[0]
    d = np.stack([deltaE_ciede2000(lab, np.broadcast_to(p, lab.shape)) for p in pal])
    return float(d.min(axis=0).mean())


def ours(raw: bytes) -> Palette:
    return [s.rgb for s in extract_palette(raw, N, include_neutral=True)]


def colorthief(raw: bytes) -> Palette:
    from colorthief import ColorThief

    return [tuple(c) for c in ColorThief(io.BytesIO(raw)).get_palette(color_count=N, quality=10)]


def pylette(raw: bytes) -> Palette:
    import pylette as pl

    return [tuple(int(v) for v in c.rgb) for c in pl.extract_colors(raw, palette_size=N).colors]


def pylette_one_thread(raw: bytes) -> Palette:
    """Pylette with OpenMP/BLAS held to one thread, as our palette does internally: on a
    busy 2-core machine this is Pylette's faster setting, so it is the fairer reference."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return pylette(raw)


TOOLS: dict[str, Callable[[bytes], Palette]] = {
    "Luneo local (k-means, CIELAB)": ours,
    "Pylette 6.0.0 (k-means)": pylette,
    "Pylette 6.0.0 (k-means, 1 thread)": pylette_one_thread,
    "colorthief 0.2.1 (quality 10)": colorthief,
}
PYLETTES = ("Pylette 6.0.0 (k-means)", "Pylette 6.0.0 (k-means, 1 thread)")


def timed(fn: Callable[[bytes], Palette], raw: bytes, repeats: int) -> tuple[float, Palette]:
    times, result = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn(raw)
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def run_set(
    images: dict[str, bytes], repeats: dict[str, int]
) -> dict[str, list[tuple[str, float, float]]]:
    rows: dict[str, list[tuple[str, float, float]]] = {t: [] for t in TOOLS}
    for tool, fn in TOOLS.items():
        fn(next(iter(images.values())))  # warm: imports, first-call set-up
        for name, raw in images.items():
            seconds, pal = timed(fn, raw, repeats.get(tool, 3))
            rows[tool].append((name, seconds, mean_delta_e(raw, pal)))
            print(
                f"{tool:34s} {name:22s} {seconds * 1000:8.1f} ms  ΔE {rows[tool][-1][2]:.2f}",
                flush=True,
            )
    return rows


def summary(title: str, rows: dict[str, list[tuple[str, float, float]]]) -> list[str]:
    ref = min(statistics.median(s for _, s, _ in rows[p]) for p in PYLETTES)
    lines = [
        f"### {title}",
        "",
        "| method | median time | speed-up vs faster warm Pylette | mean ΔE2000 |",
        "|---|---|---|---|",
    ]
    for tool, r in rows.items():
        med = statistics.median(s for _, s, _ in r)
        de = statistics.mean(d for _, _, d in r)
        lines.append(f"| {tool} | {med * 1000:.0f} ms | {ref / med:.1f}× | {de:.2f} |")
    lines += [
        "",
        "Per image (time ms / ΔE):",
        "",
        "| image | " + " | ".join(rows) + " |",
        "|---" * (len(rows) + 1) + "|",
    ]
    for i, (name, _, _) in enumerate(next(iter(rows.values()))):
        cells = [f"{r[i][1] * 1000:.0f} / {r[i][2]:.2f}" for r in rows.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def hue_wheel(side: int = 400) -> np.ndarray:
    """A full-saturation hue disc on white (the hue is the angle), side x side x 3 uint8."""
    y, x = np.mgrid[0:side, 0:side] - side / 2 + 0.5
    h = (np.arctan2(y, x) / (2 * np.pi)) % 1 * 6
    rgb = np.stack([np.abs(h - 3) - 1, 2 - np.abs(h - 2), 2 - np.abs(h - 4)], axis=-1).clip(0, 1)
    arr = np.rint(rgb * 255).astype(np.uint8)
    arr[np.hypot(x, y) > side / 2 - 2] = 255
    return arr


def nearest_covering(arr: np.ndarray, rgb: tuple[int, int, int], share: float = 0.05) -> float:
    """CIEDE2000 from `rgb` to the nearest colour of `arr` that covers >= `share` of it.

    A colour "covers" the pixels within ΔE 5 of it; candidates are the image's own
    colours (quantised to 5 bits a channel, mean of each bin)."""
    flat = arr.reshape(-1, 3).astype(np.int64)
    key = (flat[:, 0] >> 3) << 10 | (flat[:, 1] >> 3) << 5 | flat[:, 2] >> 3
    counts = np.bincount(key, minlength=1 << 15)
    used = np.flatnonzero(counts)
    means = np.stack([np.bincount(key, flat[:, c], 1 << 15)[used] / counts[used]
                      for c in range(3)], 1)
    lab_px = rgb2lab(means[None] / 255.0)[0]
    ref = rgb2lab(np.array([[rgb]], float) / 255.0)[0, 0]
    dist = deltaE_ciede2000(lab_px, np.broadcast_to(ref, lab_px.shape))
    for i in np.argsort(dist):  # nearest first: the first that covers enough is the answer
        near = deltaE_ciede2000(lab_px, np.broadcast_to(lab_px[i], lab_px.shape)) <= 5
        if counts[used][near].sum() >= share * flat.shape[0]:
            return float(dist[i])
    return float("inf")


def contract_checks(arrays: dict[str, np.ndarray]) -> list[str]:
    """palette_checks.md: unique names in every palette; `--colors 1` on a hue wheel."""
    images = {name: encode_png(a) for name, a in arrays.items()}
    images |= {f"{name} 12MP": camera_jpeg(a, i) for i, (name, a) in enumerate(arrays.items())}
    total, clashes = 0, []
    for name, raw in images.items():
        for n in (1, 3, 6, 12):
            for neutral in (False, True):
                names = [s.name for s in extract_palette(raw, n, include_neutral=neutral)]
                total += 1
                if len(set(names)) != len(names):
                    clashes.append(f"{name} n={n} neutral={neutral}: {names}")
    wheel = hue_wheel()
    lines = [
        "# Palette contract checks",
        "",
        "`.venv/bin/python benchmarks/palette.py --checks`: the benchmark's 10 images as PNG "
        "and as 12 MP JPEG, each at 1, 3, 6 and 12 colours with neutrals in and out.",
        "",
        f"- Palettes with a repeated name: **{len(clashes)} of {total}**.",
        *[f"  - {c}" for c in clashes],
        "",
        "`--colors 1` on a 400x400 hue wheel on white (`hue_wheel`): the swatch, and its "
        "CIEDE2000 to the nearest colour of the image that covers at least 5 % of it "
        "(covers = pixels within ΔE 5; the bound is 5):",
        "",
        "| neutrals | swatch | ΔE to a colour covering ≥ 5 % |",
        "|---|---|---|",
    ]
    for neutral in (False, True):
        (swatch,) = extract_palette(Image.fromarray(wheel), 1, include_neutral=neutral)
        d = nearest_covering(wheel, swatch.rgb)
        lines.append(f"| {'in' if neutral else 'out'} | {swatch.hex} {swatch.name} | {d:.2f} |")
    r, g, b = (round(float(v)) for v in wheel.reshape(-1, 3).mean(0))
    lines += ["", f"For comparison, the image's mean colour #{r:02X}{g:02X}{b:02X} (what a "
              f"plain average would return): ΔE {nearest_covering(wheel, (r, g, b)):.2f}.", ""]
    return lines


def main() -> None:
    arrays = sample_images()
    CHECKS.parent.mkdir(parents=True, exist_ok=True)
    CHECKS.write_text("\n".join(contract_checks(arrays)), encoding="utf-8")
    print(CHECKS.read_text(encoding="utf-8"))
    if "--checks" in sys.argv[1:]:
        return
    small = {name: encode_png(a) for name, a in arrays.items()}
    big = {f"{name} 12MP": camera_jpeg(a, i) for i, (name, a) in enumerate(arrays.items())}
    small_rows = run_set(small, {})
    big_rows = run_set(big, {"colorthief 0.2.1 (quality 10)": 1})
    text = [
        "# Palette benchmark",
        "",
        f"`.venv/bin/python benchmarks/palette.py` on {platform.machine()}, {platform.python_version()}, "
        f"{len(arrays)} scikit-image samples (PNG) and the same upsampled to ~12 MP with grain (JPEG q90). "
        f"{N} colours; times are medians of 3 warm runs per image (colorthief on 12 MP: 1 run), "
        "then the median over images; ΔE is the mean CIEDE2000 from each pixel of a 256-px "
        "thumbnail to its nearest palette colour (lower is better). "
        f"Load average when finished: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other work shared the machine: absolute times are noisy, ratios less so).",
        "",
        *summary("Sample images (PNG, 0.1–2 MP)", small_rows),
        *summary("12-megapixel camera-like JPEGs", big_rows),
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
