"""Benchmark: local upscaling against classical resamplers, its speed and its smoothness.

Run from the repository root (models fetched first):

    .venv/bin/studio models fetch
    .venv/bin/python benchmarks/upscale.py      # writes benchmarks/results/upscale.md + .png

Protocol: each original is downscaled 2x and 4x with Pillow's antialiased
bicubic (and, in the `jpeg` protocol, then saved as JPEG quality 60), then
brought back to the original size by every method. Scores against the
original, on luminance (Y of YCrCb, 8-bit):
- PSNR (dB) and SSIM, the usual SR protocol;
- GMSD (gradient magnitude similarity deviation, Xue et al. 2014; lower is
  better): whether edges and texture sit where the original has them;
- detail: mean gradient magnitude of the result / of the original (1.00 =
  as much fine structure as the original; resamplers sit well below 1).

Two sets: the `tuning` set (12 scikit-image samples) is the one the fidelity
step's constants (core/providers/local/upscale.py) were chosen on; the
`held-out` set is 6 photos from other packages (scikit-learn's china and
flower, matplotlib's grace_hopper) and scikit-image samples not in the tuning
set (coins, moon, grass). Acceptance is read on the held-out set.

Speed is measured warm through `upscale.run` in this process (median of
several interleaved runs; PNG encode included), and cold with peak memory
(VmHWM) in a fresh process per case. Time per output megapixel is given for
every path, beside core/budget.py's estimate.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
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

from core import budget  # noqa: E402
from core.config import Settings  # noqa: E402
from core.models import get_store  # noqa: E402
from core.providers.base import ProviderRequest  # noqa: E402
from core.providers.local import upscale  # noqa: E402
from core.tools.base import UpscaleParams  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python benchmarks/upscale.py"


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a[..., :3]


def _crop4(imgs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        k: np.ascontiguousarray(_rgb(v)[: v.shape[0] // 4 * 4, : v.shape[1] // 4 * 4])
        for k, v in imgs.items()
    }


def tuning_set() -> dict[str, np.ndarray]:
    """The 12 scikit-image samples the fidelity step was tuned on."""
    return _crop4({
        "astronaut": skdata.astronaut(),
        "chelsea": skdata.chelsea(),
        "coffee": skdata.coffee(),
        "rocket": skdata.rocket()[:, 100:580],
        "camera": skdata.camera(),
        "motorcycle": skdata.stereo_motorcycle()[0][100:500, 200:700],
        "hubble": skdata.hubble_deep_field()[200:600, 300:800],
        "retina": cv2.resize(skdata.retina(), (512, 512), interpolation=cv2.INTER_AREA),
        "ihc": skdata.immunohistochemistry()[:400, :400],
        "brick": skdata.brick(),
        "gravel": skdata.gravel(),
        "page": skdata.page(),
    })


def held_out_set() -> dict[str, np.ndarray]:
    """6 photos not used in tuning (scikit-learn, matplotlib, other scikit-image samples)."""
    import matplotlib.cbook
    from sklearn.datasets import load_sample_image

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
        hopper = np.asarray(im.convert("RGB"))
    return _crop4({
        "china": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
        "grace_hopper": hopper,
        "coins": skdata.coins(),
        "moon": skdata.moon(),
        "grass": skdata.grass(),
    })


Setting = tuple[int, str]  # (scale, protocol)
SETTINGS: list[Setting] = [(2, "clean"), (4, "clean"), (2, "jpeg"), (4, "jpeg")]
PROTOCOLS = {
    "clean": "antialiased bicubic downscale (the classic SR protocol)",
    "jpeg": "bicubic downscale, then JPEG quality 60 (like a re-shared photo)",
}


def degrade(img: np.ndarray, s: int, protocol: str) -> np.ndarray:
    """`img` downscaled by `s` (Pillow antialiased bicubic), JPEG q60 for `jpeg`."""
    h, w = img.shape[:2]
    small = np.asarray(Image.fromarray(img).resize((w // s, h // s), Image.Resampling.BICUBIC))
    if protocol == "clean":
        return small
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="JPEG", quality=60)
    return np.asarray(Image.open(buf).convert("RGB"))


_RAW: dict[tuple[str, int, str], np.ndarray] = {}


def _raw(name: str, small: np.ndarray, s: int) -> np.ndarray:
    key = (name, s, hashlib.blake2b(small.tobytes(), digest_size=16).hexdigest())
    if key not in _RAW:
        if len(_RAW) > 8:
            _RAW.clear()
        net = get_store(Settings()).ncnn_net(name)
        _RAW[key] = upscale.super_resolve(net, upscale.NETWORKS[name], small, s, faithful=False)
    return _RAW[key]


def _net(kind: str, faithful: bool) -> Callable[[np.ndarray, int], np.ndarray]:
    """A network path; raw outputs are cached so the faithful variant reuses them."""

    def go(small: np.ndarray, s: int) -> np.ndarray:
        raw = _raw(upscale.FAST[s] if kind == "compact" else upscale.BEST, small, s)
        return upscale.restore_fidelity(small, raw, s) if faithful else raw

    return go


def _cv(interp: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def go(small: np.ndarray, s: int) -> np.ndarray:
        h, w = small.shape[:2]
        return cv2.resize(small, (w * s, h * s), interpolation=interp)

    return go


PRODUCT = "ours: compact network + fidelity step (the product path)"
METHODS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "nearest": _cv(cv2.INTER_NEAREST),
    "bicubic": _cv(cv2.INTER_CUBIC),
    "lanczos": _cv(cv2.INTER_LANCZOS4),
    "fallback (lanczos+unsharp, no network)": upscale.lanczos_unsharp,
    "control: lanczos + the same fidelity step (no network)": (
        lambda small, s: upscale.restore_fidelity(small, _cv(cv2.INTER_LANCZOS4)(small, s), s)),
    "realesr-animevideov3, raw network": _net("compact", False),
    PRODUCT: _net("compact", True),
    "realesrgan-x4plus, raw network (×4 only)": _net("x4plus", False),
    "realesrgan-x4plus + fidelity step (`best`, ×4 only)": _net("x4plus", True),
}
X4_ONLY = {m for m in METHODS if "×4 only" in m}


def luma(img: np.ndarray) -> np.ndarray:
    """Y of YCrCb as float64."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Luma PSNR in dB."""
    mse = float(np.mean((luma(a) - luma(b)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Luma SSIM (scikit-image, data range 255)."""
    return float(structural_similarity(luma(a), luma(b), data_range=255.0))


def _gradient(y: np.ndarray) -> np.ndarray:
    kx = np.array([[1, 0, -1]] * 3, np.float64) / 3.0
    gx = cv2.filter2D(y, -1, kx)
    gy = cv2.filter2D(y, -1, kx.T)
    return np.sqrt(gx * gx + gy * gy)


def gmsd(ref: np.ndarray, out: np.ndarray) -> float:
    """Gradient magnitude similarity deviation (Xue et al. 2014); lower is better."""
    g1, g2 = _gradient(luma(ref)), _gradient(luma(out))
    c = 170.0
    gms = (2 * g1 * g2 + c) / (g1 * g1 + g2 * g2 + c)
    return float(gms.std())


def detail(ref: np.ndarray, out: np.ndarray) -> float:
    """Mean luma gradient magnitude of `out` / of `ref` (1.00 = as much structure)."""
    return float(_gradient(luma(out)).mean() / max(1e-6, _gradient(luma(ref)).mean()))


Scores = dict[tuple[str, Setting, str], list[tuple[float, float, float, float]]]


def score_set(
    set_name: str, origs: dict[str, np.ndarray], scores: Scores,
    outputs: dict[tuple[str, Setting, str], np.ndarray],
) -> None:
    """Every method on every image and setting of one set, into `scores` and `outputs`."""
    for setting in SETTINGS:
        s, protocol = setting
        for img_name, ref in origs.items():
            small = degrade(ref, s, protocol)
            for m, fn in METHODS.items():
                if m in X4_ONLY and s != 4:
                    continue
                out = fn(small, s)
                assert out.shape == ref.shape, (m, out.shape, ref.shape)
                scores.setdefault((set_name, setting, m), []).append(
                    (psnr(ref, out), ssim(ref, out), gmsd(ref, out), detail(ref, out)))
                outputs[(img_name, setting, m)] = out
            print(set_name, s, protocol, img_name, flush=True)


# --------------------------------------------------------------------------- speed


def _settings(path: str) -> Settings:
    overrides: dict[str, object] = {"upscale_quality": "best" if path == "x4plus" else "fast"}
    if path == "fallback":
        overrides["dir"] = str(ROOT / "benchmarks" / "work" / "no-models")
    return Settings.model_validate({"models": overrides})


def _image(size: int) -> Image.Image:
    tiled = np.tile(skdata.astronaut(), (3, 3, 1))
    return Image.fromarray(np.ascontiguousarray(tiled[:size, :size]))


def run_once(path: str, size: int, scale: int) -> tuple[float, str]:
    """Seconds and method of one `upscale.run` of a size² photo crop (PNG encode included)."""
    req = ProviderRequest("bench", "upscale", UpscaleParams(scale=scale),  # type: ignore[arg-type]
                          _image(size), None, "bench", time.monotonic() + 3600)
    t0 = time.perf_counter()
    res = upscale.run(req, _settings(path))
    return time.perf_counter() - t0, str(res.data["method"])


def warm_median(path: str, size: int, scale: int, reps: int) -> tuple[float, str]:
    """Median warm seconds over `reps` runs (one untimed warm-up first)."""
    _, method = run_once(path, size, scale)
    times = [run_once(path, size, scale)[0] for _ in range(reps)]
    return statistics.median(times), method


def cliff(reps: int) -> dict[int, list[float]]:
    """×4 of 256² and 257², interleaved so load hits both alike."""
    run_once("fast", 256, 4)
    run_once("fast", 257, 4)
    times: dict[int, list[float]] = {256: [], 257: []}
    for _ in range(reps):
        for n in (256, 257):
            times[n].append(run_once("fast", n, 4)[0])
    return times


def measure_cold(path: str, size: int, scale: int) -> dict[str, float | str]:
    """Time and peak memory (VmHWM) of the first `upscale.run` in this fresh process."""
    secs, method = run_once(path, size, scale)
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = int(next(ln for ln in status if ln.startswith("VmHWM:")).split()[1]) / 1024
    return {"seconds": secs, "peak_mb": hwm, "method": method}


def _cold_in_subprocess(path: str, size: int, scale: int) -> dict[str, float | str]:
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--cold", path, str(size), str(scale)],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    result: dict[str, float | str] = json.loads(out.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- crops


def save_crops(
    origs: dict[str, np.ndarray], outputs: dict[tuple[str, Setting, str], np.ndarray]
) -> str:
    """One PNG: rows of 1:1 crops (input nearest, bicubic, lanczos, ours, original)."""
    picks: list[tuple[str, Setting, tuple[int, int]]] = [
        ("china", (2, "clean"), (150, 250)),
        ("grace_hopper", (4, "clean"), (90, 150)),
        ("flower", (2, "jpeg"), (120, 260)),
        ("coins", (4, "clean"), (40, 80)),
    ]
    cols = [("input (nearest)", "nearest"), ("bicubic", "bicubic"), ("lanczos", "lanczos"),
            ("ours", PRODUCT), ("original", None)]
    size, show = 128, 224
    rows = []
    for img_name, setting, (y, x) in picks:
        tiles = []
        for label, m in cols:
            src = origs[img_name] if m is None else outputs[(img_name, setting, m)]
            t = cv2.resize(src[y : y + size, x : x + size], (show, show),
                           interpolation=cv2.INTER_NEAREST)
            bar = np.full((20, show, 3), 255, np.uint8)
            text = f"{label}  {img_name} x{setting[0]} {setting[1]}" if m == "nearest" else label
            cv2.putText(bar, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                        cv2.LINE_AA)
            tiles.append(np.pad(np.concatenate([bar, t]), ((0, 4), (0, 4), (0, 0)),
                                constant_values=255))
        rows.append(np.concatenate(tiles, 1))
    path = RESULTS / "upscale_crops.png"
    Image.fromarray(np.concatenate(rows, 0)).save(path, optimize=True)
    return path.name


# --------------------------------------------------------------------------- report


def main() -> None:
    """Score both sets, time every path, write benchmarks/results/upscale.md and the crops."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=7, help="timed runs per warm case")
    args = parser.parse_args()
    if args.cold:
        p, size, scale = args.cold
        print(json.dumps(measure_cold(p, int(size), int(scale))))
        return
    store = get_store(Settings())
    missing = [n for n in (*upscale.FAST.values(), upscale.BEST) if store.path(n) is None]
    if missing:
        sys.exit(f"missing models {missing}: run `.venv/bin/studio models fetch` first")
    RESULTS.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    sets = {"held-out": held_out_set(), "tuning": tuning_set()}
    scores: Scores = {}
    outputs: dict[tuple[str, Setting, str], np.ndarray] = {}
    score_set("held-out", sets["held-out"], scores, outputs)
    crops = save_crops(sets["held-out"], outputs)
    outputs.clear()
    score_set("tuning", sets["tuning"], scores, outputs)
    outputs.clear()
    speed = {
        "cliff": cliff(args.reps),
        "paths": {
            label: warm_median(p, n, s, args.reps if p != "x4plus" else 1)
            for label, (p, n, s) in PATHS.items()
        },
        "sweep": {n: warm_median("fast", n, 4, 3) for n in (128, 192, 255, 256, 257, 320, 384)},
        "cold": {label: _cold_in_subprocess(p, n, s) for label, (p, n, s) in PATHS.items()},
    }
    write_report(sets, scores, speed, crops, load0)


PATHS = {  # label: (settings path, input side, scale)
    "compact ×2 (fast)": ("fast", 512, 2),
    "compact ×4 (fast)": ("fast", 256, 4),
    "x4plus ×4 (best)": ("x4plus", 256, 4),
    "x4plus ×2 (best)": ("x4plus", 256, 2),
    "fallback ×2 (no models)": ("fallback", 512, 2),
    "fallback ×4 (no models)": ("fallback", 256, 4),
}


def _table(set_name: str, setting: Setting, scores: Scores) -> list[str]:
    s, protocol = setting
    lines = [
        f"### {set_name}, ×{s} {protocol}: {PROTOCOLS[protocol]}", "",
        "| method | PSNR dB | SSIM | GMSD (lower better) | detail (1.00 = original) |",
        "|---|---|---|---|---|",
    ]
    for m in METHODS:
        if (set_name, setting, m) not in scores:
            continue
        a = np.array(scores[(set_name, setting, m)]).mean(0)
        bold = "**" if m == PRODUCT else ""
        lines.append(f"| {bold}{m}{bold} | {a[0]:.2f} | {a[1]:.4f} | {a[2]:.4f} | {a[3]:.3f} |")
    return [*lines, ""]


def _acceptance(set_name: str, scores: Scores) -> list[str]:
    lines = [
        f"| {set_name} | SSIM ours | SSIM bicubic | detail ours | detail lanczos + 0.05 | met |",
        "|---|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        def mean(m: str, col: int, st: Setting = setting) -> float:
            return float(np.array(scores[(set_name, st, m)])[:, col].mean())

        ours_s, bic_s = mean(PRODUCT, 1), mean("bicubic", 1)
        ours_d, lz_d = mean(PRODUCT, 3), mean("lanczos", 3) + 0.05
        met = "yes" if ours_s >= bic_s and ours_d >= lz_d else "**no**"
        lines.append(f"| ×{setting[0]} {setting[1]} | {ours_s:.4f} | {bic_s:.4f} | "
                     f"{ours_d:.3f} | {lz_d:.3f} | {met} |")
    return [*lines, ""]


def _estimate(path: str, size: int, scale: int) -> tuple[str, float]:
    if path == "fallback":
        b = budget.estimate("upscale", UpscaleParams(scale=scale), size, size,
                            _settings(path), networks=frozenset())
    else:
        b = budget.estimate("upscale", UpscaleParams(scale=scale), size, size, _settings(path))
    return str(b.network or upscale.FALLBACK), b.seconds


def write_report(
    sets: dict[str, dict[str, np.ndarray]], scores: Scores, speed: dict, crops: str,
    load0: float,
) -> None:
    """benchmarks/results/upscale.md from the scores and timings of this run."""
    cl = speed["cliff"]
    m256, m257 = statistics.median(cl[256]), statistics.median(cl[257])
    paths, cold = speed["paths"], speed["cold"]
    fast4 = paths["compact ×4 (fast)"][0]
    fast2 = paths["compact ×2 (fast)"][0]
    lines = [
        "# Local upscaling", "",
        f"Command: `{COMMAND}`. Machine: {os.cpu_count()} cores, CPU only (ncnn CPU path); "
        f"load average {load0:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (other "
        "work shares this machine: compare ratios within this run, absolute times are "
        "indicative).", "",
        "## Acceptance (issue #9)", "",
        f"- ×4 of 257² / ×4 of 256², warm, {len(cl[256])} interleaved runs each, medians: "
        f"{m257:.2f} s / {m256:.2f} s = **{m257 / m256:.2f}** (bound 0.8-1.25; both "
        f"{paths['compact ×4 (fast)'][1]}).",
        f"- warm ×4 of 256²: **{fast4:.2f} s** (≤ 10 s); warm ×2 of 512²: **{fast2:.2f} s** "
        "(≤ 4 s).",
        "- ×2 and ×4 on the held-out photos "
        f"({', '.join(sets['held-out'])}; none used in tuning): luma SSIM ≥ bicubic and "
        "detail ≥ Lanczos + 0.05:", "",
        *_acceptance("held-out", scores),
        "The same on the tuning set (the fidelity step's constants were chosen on it):", "",
        *_acceptance("tuning", scores),
        f"Side-by-side crops (held-out, 1:1 crops shown 1.75x nearest): `{crops}`.", "",
        "## Time per output megapixel, every path", "",
        "Warm, through `upscale.run` (network, fidelity step, PNG encode), median of "
        f"{max(len(cl[256]), 1)} runs (x4plus: 1 run); the estimate is core/budget.py's for "
        "the same job (reference machine, idle). Cold: first run in a fresh process "
        "(imports and model load included), with its peak RSS.", "",
        "| path | input -> output | network | warm time | s per output MP | "
        "estimate s per output MP | cold time | cold peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, (p, n, s) in PATHS.items():
        secs, method = paths[label]
        out_mp = (n * s) ** 2 / 1e6
        _, est = _estimate(p, n, s)
        c = cold[label]
        lines.append(f"| {label} | {n}² -> {n * s}² | {method} | {secs:.2f} s | "
                     f"{secs / out_mp:.2f} | {est / out_mp:.2f} | {float(c['seconds']):.2f} s | "
                     f"{float(c['peak_mb']):.0f} MB |")
    lines += [
        "", "Smoothness: warm ×4 (fast) by input size, median of 3:", "",
        "| input | output MP | network | time | s per output MP |", "|---|---|---|---|---|",
    ]
    for n, (secs, method) in speed["sweep"].items():
        out_mp = (4 * n) ** 2 / 1e6
        lines.append(f"| {n}² | {out_mp:.2f} | {method} | {secs:.2f} s | {secs / out_mp:.2f} |")
    lines += [
        "", "The network is chosen by a time budget per output megapixel "
        "(`limits.upscale_s_per_out_mp`, default 4 s/MP: the compact networks fit, x4plus "
        "does not), so the same network runs at every size and time follows the output size.",
        "", "## All scores", "",
        "How to read it: PSNR/SSIM reward a safe average; `detail` says how much fine "
        "structure there is, right or wrong; GMSD whether edges sit where the original has "
        "them. The control row applies the same fidelity step to a Lanczos resize: what the "
        "network adds is the difference between it and ours. x4plus is scored at ×4 only "
        "(at ×2 it costs ~25x more; its time is in the table above).", "",
    ]
    for set_name in ("held-out", "tuning"):
        for setting in SETTINGS:
            lines += _table(set_name, setting, scores)
    (RESULTS / "upscale.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
