"""Benchmark: the cost figures behind core/budget.py, and estimate against measurement.

Run from the repository root (models fetched first):

    .venv/bin/python benchmarks/budget.py            # writes benchmarks/results/budget.md
    .venv/bin/python benchmarks/budget.py --full     # adds the 3072² ×2 upscale (38 MP out, the largest allowed; a minute)
    # before/after: the same cases on an older tree, e.g. the commit before the budgets
    git archive 618bedb | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    .venv/bin/python benchmarks/budget.py --before /tmp/before

Every case runs in a fresh child process, so peak RSS (ru_maxrss) is that
case's own: imports and model load included, reported with the baseline
after imports. Protocol:
- networks: one tile of each shape (16×160, a half tile, a full tile with its
  context) three times, best time; `s_per_tile` and `s_per_mp` are the
  least-squares line through (pixels seen, seconds). Peak MB is the RSS the
  network adds over the loaded model for a full tile.
- cases: the tool's `run` on the input, wall time and peak RSS, beside
  core.budget.estimate's seconds and peak for the same input.
Timings are from whatever else the machine was doing at the time; the
figures in core/budget.py are these rounded up about 20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# a --before child imports the older tree given in LUNEO_BENCH_ROOT
sys.path.insert(0, os.environ.get("LUNEO_BENCH_ROOT", str(ROOT)))
RESULTS = ROOT / "benchmarks" / "results"
BEFORE_TIMEOUT_S = 150  # the 1×30000 ×4 took ~6 min before: stopped here, said so

CASES: dict[str, tuple[str, dict[str, Any], str, tuple[int, int]]] = {
    # name: (tool, params, picture kind, (width, height))
    # remove-bg on a photo with a subject (a pattern or a flat colour is refused as "no subject")
    "remove-bg subject 6240²": ("remove-bg", {}, "subject", (6240, 6240)),
    "remove-bg subject 2048²": ("remove-bg", {}, "subject", (2048, 2048)),
    "remove-bg subject 1024²": ("remove-bg", {}, "subject", (1024, 1024)),
    "upscale ×4 1×30000": ("upscale", {"scale": 4}, "flat", (1, 30000)),
    "upscale ×4 1×4000": ("upscale", {"scale": 4}, "photo", (1, 4000)),
    "upscale ×4 96²": ("upscale", {"scale": 4}, "photo", (96, 96)),
    "upscale ×4 256²": ("upscale", {"scale": 4}, "photo", (256, 256)),
    "upscale ×4 257²": ("upscale", {"scale": 4}, "photo", (257, 257)),
    "upscale ×2 1024²": ("upscale", {"scale": 2}, "photo", (1024, 1024)),
    "upscale ×2 2048²": ("upscale", {"scale": 2}, "photo", (2048, 2048)),
}
FULL_CASES = {
    "upscale ×2 3072²": ("upscale", {"scale": 2}, "photo", (3072, 3072)),  # 38 MP out (limit 40)
}


def picture(kind: str, w: int, h: int) -> Any:
    import numpy as np
    from PIL import Image

    if kind == "flat":
        return Image.new("RGB", (w, h), (200, 60, 40))
    if kind == "subject":  # a cup of coffee on a table (scikit-image's sample photo)
        from skimage import data

        return Image.fromarray(data.coffee()).resize((w, h), Image.Resampling.BICUBIC)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.sin(x / 17.0) * 60 + np.cos(y / 23.0) * 60 + 128
    noise = np.random.default_rng(0).integers(0, 40, (h, w)).astype(np.float32)
    rgb = np.dstack([a, a / 2 + noise, 255 - a]).clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgb)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- child work


def child_case(name: str) -> dict[str, Any]:
    from core.config import Settings
    from core.errors import InvalidInput
    from core.providers.base import Attempt, ProviderRequest
    from core.providers.local import LocalStudioProvider
    from core.tools.base import parse_params

    tool, raw, kind, (w, h) = {**CASES, **FULL_CASES}[name]
    settings = Settings()
    params = parse_params(tool, raw)
    img = picture(kind, w, h)
    base = _rss_mb()
    out: dict[str, Any] = {"case": name, "baseline_mb": round(base)}
    try:
        from core import budget
    except ImportError:  # an older tree, before the budgets
        out.update(est_s="–", est_mb="–")
    else:
        try:
            b = budget.estimate(tool, params, w, h, settings)
            out.update(est_s=round(b.seconds, 1), est_mb=round(b.peak_bytes / 2**20))
        except InvalidInput as exc:
            out.update(refused=str(exc))
            return out
    req = ProviderRequest(job_id="bench", tool=tool, params=params, image=img,
                          image_bytes=None, idempotency_key="bench",
                          deadline=time.monotonic() + settings.jobs.deadline_s)
    t0 = time.perf_counter()
    try:
        result = LocalStudioProvider(settings).run_sync(req, Attempt())
    except InvalidInput as exc:  # the tool's own refusal (older trees)
        out.update(refused=str(exc))
        return out
    out.update(seconds=round(time.perf_counter() - t0, 2), peak_mb=round(_peak_mb()),
               note=result.note, method=result.data.get("method"))
    return out


def child_network(name: str) -> dict[str, Any]:
    import numpy as np

    from core.config import Settings
    from core.models import get_store
    from core.providers.local import upscale

    store = get_store(Settings())
    net, spec = store.ncnn_net(name), upscale.NETWORKS[name]
    rng = np.random.default_rng(0)
    full = spec.tile + 2 * spec.pad
    img = rng.integers(0, 255, (full, full, 3), dtype=np.uint8)
    loaded = _rss_mb()
    upscale.run_network(net, img[:16, :16])  # warm
    rows = []
    for th, tw in ((16, 160), (full // 2, full // 2), (full, full)):
        best = min(_timed(lambda th=th, tw=tw: upscale.run_network(net, img[:th, :tw]))
                   for _ in range(3))
        rows.append((th * tw, best))
    px = np.array([r[0] for r in rows], np.float64)
    s = np.array([r[1] for r in rows], np.float64)
    slope, intercept = np.polyfit(px, s, 1)
    return {"network": name, "tiles": rows, "s_per_mp": round(slope * 1e6, 2),
            "s_per_tile": round(max(0.0, intercept), 4),
            "net_peak_mb": round(_peak_mb() - loaded)}


def child_around() -> dict[str, Any]:
    """Per-output-MP cost of the Lanczos blend and the PNG encode around the network."""
    import cv2
    import numpy as np

    from core.providers.local import upscale

    img = np.asarray(picture("photo", 1024, 1024))
    net_out = cv2.resize(img, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    t0 = time.perf_counter()
    lz = cv2.resize(img, (2048, 2048), interpolation=cv2.INTER_LANCZOS4)
    blend = cv2.addWeighted(net_out, 0.75, lz, 0.25, 0.0)
    upscale._encode_png(blend, None)
    return {"around_s_per_out_mp": round((time.perf_counter() - t0) / (2048 * 2048 / 1e6), 3)}


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- parent


def in_child(kind: str, arg: str, root: str | None = None) -> dict[str, Any]:
    env = {**os.environ, **({"LUNEO_BENCH_ROOT": root} if root else {})}
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, arg],
                              capture_output=True, text=True, cwd=root or ROOT, check=False,
                              env=env, timeout=BEFORE_TIMEOUT_S if root else None)
    except subprocess.TimeoutExpired:
        return {"case": arg, "error": f"still running after {BEFORE_TIMEOUT_S} s: stopped"}
    if proc.returncode != 0:
        return {"case": arg, "error": proc.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _row(name: str, r: dict[str, Any]) -> str:
    if "refused" in r:
        return f"| {name} | refused | – | – | – | {r['refused']} |"
    if "error" in r:
        return f"| {name} | error | – | – | – | {r['error']} |"
    extra = r.get("method") or ""
    if r.get("note"):
        extra += f"; {r['note']}"
    return (f"| {name} | {r['est_s']} | {r['seconds']} | {r['est_mb']} | "
            f"{r['peak_mb']} ({r['baseline_mb']}) | {extra} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="add the multi-minute 4096² ×2 case")
    ap.add_argument("--before", help="an older source tree: run the cases there too")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, arg = args.child
        fn = {"case": child_case, "network": child_network,
              "around": lambda _a: child_around()}[kind]
        print(json.dumps(fn(arg)))
        return

    from core import budget

    load = os.getloadavg()[0]
    lines = ["# Budget figures (core/budget.py)", "",
             f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores with "
             "`.venv/bin/python benchmarks/budget.py`; each row a fresh process (cold: model "
             f"load included). Load average at the start: {load:.1f}. Estimates are for an "
             "idle machine, so on a busy one measured times run longer.", "",
             "## Networks (one tile, best of 3)", "",
             "| network | s/MP seen (fit) | s/tile (fit) | in core/budget.py | peak MB over loaded model |",
             "| --- | --- | --- | --- | --- |"]
    for name, cost in budget.NETWORK_COSTS.items():
        r = in_child("network", name)
        print(r, flush=True)
        lines.append(f"| {name} | {r.get('s_per_mp')} | {r.get('s_per_tile')} | "
                     f"{cost.s_per_mp} s/MP, {cost.s_per_tile} s/tile, {cost.peak_mb:.0f} MB | "
                     f"{r.get('net_peak_mb')} |")
    r = in_child("around", "-")
    print(r, flush=True)
    lines += ["", f"Lanczos blend + PNG encode: {r.get('around_s_per_out_mp')} s per output MP "
              f"(core/budget.py: {budget.UPSCALE_S_PER_OUT_MP}).", "",
              "## Cases: estimate against measurement", "",
              "| case | estimate s | measured s | estimate peak MB | measured peak RSS MB "
              "(baseline) | network / note |",
              "| --- | --- | --- | --- | --- | --- |"]
    cases = {**CASES, **(FULL_CASES if args.full else {})}
    for name in cases:
        r = in_child("case", name)
        print(r, flush=True)
        lines.append(_row(name, r))
    if args.before:
        lines += ["", f"## The same cases before the budgets (`--before {args.before}`)", "",
                  "Same columns; an older tree has no estimate. A case still running after "
                  f"{BEFORE_TIMEOUT_S} s is stopped.", "",
                  "| case | estimate s | measured s | estimate peak MB | measured peak RSS MB "
                  "(baseline) | network / note |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name in cases:
            r = in_child("case", name, args.before)
            print("before", r, flush=True)
            lines.append(_row(name, r))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "budget.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'budget.md'}")


if __name__ == "__main__":
    main()
