"""Benchmark: local upscaling against classical resamplers.

Run from the repository root (models fetched first):

    .venv/bin/studio models fetch
    .venv/bin/python benchmarks/upscale.py              # writes benchmarks/results/upscale.md

Protocol: each original (scikit-image sample photos and textures, cropped to
a multiple of 4) is downscaled 2x and 4x with Pillow's antialiased bicubic,
then brought back to the original size by every method. Scores against the
original:
- PSNR (dB) and SSIM on luminance (Y of YCbCr, 8-bit), the usual SR protocol;
- GMSD (gradient magnitude similarity deviation, Xue et al. 2014; lower is
  better): a full-reference measure of whether edges and texture are where
  the original has them, which tracks perceived sharpness far better than
  PSNR does;
- detail: mean gradient magnitude of the result / of the original (1.00 =
  as much fine structure as the original; resamplers sit well below 1).
GAN super-resolution trades a little PSNR for restored detail (RESEARCH.md
§D), so read PSNR together with GMSD, detail and the saved crops.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.models import get_store  # noqa: E402
from core.providers.local import upscale  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def originals() -> dict[str, np.ndarray]:
    def rgb(a: np.ndarray) -> np.ndarray:
        return np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a[..., :3]

    imgs = {
        "astronaut": skdata.astronaut(),
        "chelsea": skdata.chelsea(),
        "coffee": skdata.coffee(),
        "rocket": skdata.rocket()[:, 100:580],
        "camera": rgb(skdata.camera()),
        "motorcycle": skdata.stereo_motorcycle()[0][100:500, 200:700],
        "hubble": skdata.hubble_deep_field()[200:600, 300:800],
        "retina": cv2.resize(skdata.retina(), (512, 512), interpolation=cv2.INTER_AREA),
        "ihc": skdata.immunohistochemistry()[:400, :400],
        "brick": rgb(skdata.brick()),
        "gravel": rgb(skdata.gravel()),
        "page": rgb(skdata.page()),
    }
    return {
        k: np.ascontiguousarray(v[: v.shape[0] // 4 * 4, : v.shape[1] // 4 * 4])
        for k, v in imgs.items()
    }


def downscale(img: np.ndarray, s: int) -> np.ndarray:
    h, w = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((w // s, h // s), Image.Resampling.BICUBIC))


Setting = tuple[int, str]  # (scale, protocol)
SETTINGS: list[Setting] = [(2, "clean"), (4, "clean"), (2, "jpeg"), (4, "jpeg")]
PROTOCOLS = {
    "clean": "antialiased bicubic downscale (the classic SR protocol)",
    "jpeg": "bicubic downscale, then JPEG quality 60 (like a re-shared photo)",
}


def degrade(img: np.ndarray, s: int, protocol: str) -> np.ndarray:
    small = downscale(img, s)
    if protocol == "clean":
        return small
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="JPEG", quality=60)
    return np.asarray(Image.open(buf).convert("RGB"))


_RAW: dict[tuple[str, int, str], np.ndarray] = {}


def _net(name: str, share: float) -> Callable[[np.ndarray, int], np.ndarray]:
    """The product's network path; raw outputs are cached so blends cost nothing extra."""

    def go(small: np.ndarray, s: int) -> np.ndarray:
        key = (name, s, hashlib.blake2b(small.tobytes(), digest_size=16).hexdigest())
        if key not in _RAW:
            net = get_store(Settings()).ncnn_net(name)
            if len(_RAW) > 8:
                _RAW.clear()
            _RAW[key] = upscale.super_resolve(net, upscale.NETWORKS[name], small, s, share=1.0)
        raw = _RAW[key]
        if share >= 1.0:
            return raw
        h, w = small.shape[:2]
        lanczos = cv2.resize(small, (w * s, h * s), interpolation=cv2.INTER_LANCZOS4)
        return cv2.addWeighted(raw, share, lanczos, 1.0 - share, 0.0)

    return go


def _cv(interp: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def go(small: np.ndarray, s: int) -> np.ndarray:
        h, w = small.shape[:2]
        return cv2.resize(small, (w * s, h * s), interpolation=interp)

    return go


SHARE = upscale.NETWORK_SHARE
METHODS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "nearest": _cv(cv2.INTER_NEAREST),
    "bicubic": _cv(cv2.INTER_CUBIC),
    "lanczos": _cv(cv2.INTER_LANCZOS4),
    "fallback (lanczos+unsharp)": upscale.lanczos_unsharp,
    "realesr-animevideov3, raw network": lambda small, s: _net(upscale.FAST[s], 1.0)(small, s),
    f"realesr-animevideov3, {SHARE:.0%} blend (fast, the product path)": (
        lambda small, s: _net(upscale.FAST[s], SHARE)(small, s)
    ),
    "realesrgan-x4plus, raw network": _net(upscale.BEST, 1.0),
    f"realesrgan-x4plus, {SHARE:.0%} blend (best / small inputs)": _net(upscale.BEST, SHARE),
}


def luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((luma(a) - luma(b)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(luma(a), luma(b), data_range=255.0))


def _gradient(y: np.ndarray) -> np.ndarray:
    kx = np.array([[1, 0, -1]] * 3, np.float64) / 3.0
    gx = cv2.filter2D(y, -1, kx)
    gy = cv2.filter2D(y, -1, kx.T)
    return np.sqrt(gx * gx + gy * gy)


def gmsd(ref: np.ndarray, out: np.ndarray) -> float:
    g1, g2 = _gradient(luma(ref)), _gradient(luma(out))
    c = 170.0
    gms = (2 * g1 * g2 + c) / (g1 * g1 + g2 * g2 + c)
    return float(gms.std())


def detail(ref: np.ndarray, out: np.ndarray) -> float:
    return float(_gradient(luma(out)).mean() / max(1e-6, _gradient(luma(ref)).mean()))


def measure(method: str, size_in: int, scale: int) -> dict[str, float]:
    """Time and peak memory (VmHWM) of `upscale.run` in this fresh process."""
    from core.providers.base import ProviderRequest
    from core.tools.base import UpscaleParams

    img = np.ascontiguousarray(np.tile(skdata.astronaut(), (2, 2, 1))[:size_in, :size_in])
    quality = "best" if method == "best" else "fast"
    overrides: dict[str, object] = {"upscale_quality": quality}
    if method == "fallback":
        overrides["dir"] = str(ROOT / "benchmarks" / "work" / "no-models")
    settings = Settings.model_validate({"models": overrides})
    req = ProviderRequest(
        "bench",
        "upscale",
        UpscaleParams(scale=scale),
        Image.fromarray(img),  # type: ignore[arg-type]
        None,
        "bench",
        time.monotonic() + 3600,
    )
    t0 = time.perf_counter()
    res = upscale.run(req, settings)
    elapsed = time.perf_counter() - t0
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = int(next(ln for ln in status if ln.startswith("VmHWM:")).split()[1]) / 1024
    return {"seconds": elapsed, "peak_mb": hwm, "method": res.data["method"]}  # type: ignore[dict-item]


def _measure_in_subprocess(method: str, size_in: int, scale: int) -> dict[str, float]:
    out = subprocess_run([sys.executable, __file__, "--measure", method, str(size_in), str(scale)])
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def subprocess_run(cmd: list[str]) -> str:
    import subprocess

    return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def save_crops(
    origs: dict[str, np.ndarray], outputs: dict[tuple[str, Setting, str], np.ndarray]
) -> list[str]:
    """Side-by-side 1:1 crops (original first) for a few images and settings."""
    saved = []
    picks: list[tuple[str, Setting, tuple[int, int]]] = [
        ("astronaut", (4, "clean"), (60, 160)),
        ("chelsea", (4, "clean"), (60, 180)),
        ("motorcycle", (4, "clean"), (120, 160)),
        ("page", (2, "clean"), (40, 100)),
        ("coffee", (2, "clean"), (120, 220)),
        ("chelsea", (2, "jpeg"), (60, 180)),
        ("rocket", (2, "jpeg"), (100, 200)),
    ]
    names = ["original", "lanczos", "fallback (lanczos+unsharp)", *list(METHODS)[4:]]
    for img_name, setting, (y, x) in picks:
        size = 160
        tiles = [origs[img_name][y : y + size, x : x + size]]
        tiles += [outputs[(img_name, setting, n)][y : y + size, x : x + size] for n in names[1:]]
        tiles = [
            cv2.resize(t, (size * 2, size * 2), interpolation=cv2.INTER_NEAREST) for t in tiles
        ]
        labelled = []
        for t, n in zip(tiles, names, strict=True):
            bar = np.full((22, t.shape[1], 3), 255, np.uint8)
            cv2.putText(
                bar,
                n.split(" (")[0],
                (4, 16),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
            labelled.append(
                np.pad(np.concatenate([bar, t]), ((0, 0), (0, 4), (0, 0)), constant_values=255)
            )
        path = RESULTS / f"upscale_{img_name}_x{setting[0]}_{setting[1]}.png"
        Image.fromarray(np.concatenate(labelled, 1)).save(path)
        saved.append(path.name)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        m, size_in, scale = args.measure
        print(json.dumps(measure(m, int(size_in), int(scale))))
        return
    store = get_store(Settings())
    missing = [n for n in (*upscale.FAST.values(), upscale.BEST) if store.path(n) is None]
    if missing:
        sys.exit(f"missing models {missing}: run `.venv/bin/studio models fetch` first")
    RESULTS.mkdir(parents=True, exist_ok=True)
    origs = originals()
    scores: dict[tuple[Setting, str], list[tuple[float, float, float, float]]] = {}
    seconds: dict[tuple[Setting, str], float] = {}
    outputs: dict[tuple[str, Setting, str], np.ndarray] = {}
    for setting in SETTINGS:
        s, protocol = setting
        for img_name, ref in origs.items():
            small = degrade(ref, s, protocol)
            for m, fn in METHODS.items():
                t0 = time.perf_counter()
                out = fn(small, s)
                seconds[(setting, m)] = seconds.get((setting, m), 0.0) + time.perf_counter() - t0
                assert out.shape == ref.shape, (m, out.shape, ref.shape)
                scores.setdefault((setting, m), []).append(
                    (psnr(ref, out), ssim(ref, out), gmsd(ref, out), detail(ref, out))
                )
                outputs[(img_name, setting, m)] = out
            print(s, protocol, img_name, flush=True)
    crops = save_crops(origs, outputs)
    perf = {
        ("fast x2", 512, 2): _measure_in_subprocess("fast", 512, 2),
        ("fast x4", 256, 4): _measure_in_subprocess("fast", 256, 4),
        ("best x4", 256, 4): _measure_in_subprocess("best", 256, 4),
        ("best x2", 512, 2): _measure_in_subprocess("best", 512, 2),
        ("fallback x2", 512, 2): _measure_in_subprocess("fallback", 512, 2),
        ("fallback x4", 256, 4): _measure_in_subprocess("fallback", 256, 4),
    }
    write_report(origs, scores, seconds, perf, crops)


def write_report(
    origs: dict[str, np.ndarray],
    scores: dict[tuple[Setting, str], list[tuple[float, float, float, float]]],
    seconds: dict[tuple[Setting, str], float],
    perf: dict[tuple[str, int, int], dict[str, float]],
    crops: list[str],
) -> None:
    lines = [
        "# Local upscaling",
        "",
        f"{len(origs)} originals from scikit-image ({', '.join(origs)}), 300-512 px, degraded "
        "and upscaled back to the original size; metrics on luminance against the original. "
        f"Machine: {os.cpu_count()} cores, CPU only, ncnn CPU path; load average at the end "
        f"{os.getloadavg()[0]:.1f} (other work shares this machine: times are indicative). "
        "Command: `.venv/bin/python benchmarks/upscale.py`.",
        "",
        "How to read it: PSNR/SSIM reward a safe average, so on clean bicubic downscales a "
        "sharpened resampler scores well and GAN super-resolution scores lower while showing "
        "crisper edges (see the crops). GMSD says whether edges sit where the original has "
        "them; `detail` says how much fine structure there is, right or wrong. The product "
        f"path blends {upscale.NETWORK_SHARE:.0%} network output with Lanczos "
        "(`upscale.NETWORK_SHARE`) to keep the network's crispness without its worst "
        "inventions. The JPEG protocol is closer to what members upload.",
        "",
    ]
    for setting in SETTINGS:
        s, protocol = setting
        lines += [
            f"## {s}x, {protocol}: {PROTOCOLS[protocol]}",
            "",
            "| method | PSNR dB (higher better) | SSIM | GMSD (lower better) | detail (1.00 = original) | total time, all images |",
            "|---|---|---|---|---|---|",
        ]
        for m in METHODS:
            a = np.array(scores[(setting, m)])
            # a blend reuses its raw network run: charge it that run's time
            raw = m.split(",")[0] + ", raw network"
            secs = seconds[(setting, m)] + (
                seconds[(setting, raw)] if raw != m and (setting, raw) in seconds else 0.0
            )
            lines.append(
                f"| {m} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.4f} | {a[:, 2].mean():.4f} | "
                f"{a[:, 3].mean():.2f} | {secs:.1f} s |"
            )
        lines.append("")
    lines += [
        "## Time and peak memory through `upscale.run` (fresh process each, PNG encode included)",
        "",
        "| case | input -> output | network used | time | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for (label, size_in, s), p in perf.items():
        lines.append(
            f"| {label} | {size_in}² -> {size_in * s}² | {p['method']} | {p['seconds']:.2f} s | "
            f"{p['peak_mb']:.0f} MB |"
        )
    lines += [
        "",
        "Side-by-side 1:1 crops (shown 2x nearest): " + ", ".join(f"`{c}`" for c in crops) + ".",
        "",
    ]
    (RESULTS / "upscale.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
