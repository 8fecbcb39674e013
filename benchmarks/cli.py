"""`studio run` with several inputs: cold and warm per-image time for each tool.

    .venv/bin/python -m benchmarks.cli [--images N]

For each tool, N different ~12 MP camera-like JPEGs (benchmarks/palette.py's
`camera_jpeg`; design takes N prompts) go through ONE `studio run TOOL A B C ...
--json` process on a fresh config. Per image:

Upscale takes the samples at their own size (~0.25 MP; 12 MP would be a 48 MP output).

* cold: wall time of a `studio run TOOL A` process with one input (interpreter,
  imports, database, worker processes, model load, the job);
* warm: the median `elapsed_ms` of inputs 2..N in the several-input process (the
  engine, workers and models are already up).

Then Pylette 6.0.0 (`pip install --no-deps Pylette==6.0.0`, see benchmarks/palette.py)
extracts the same palettes in this process, warm (one run first to load it), and the
table shows warm palette against warm Pylette on the same 12 MP JPEGs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.palette import camera_jpeg, pylette, sample_images

ROOT = Path(__file__).resolve().parents[1]
STUDIO = [sys.executable, "-m", "core.cli"]
OPTIONS = {"upscale": ["--scale", "2"], "crop": ["--ratio", "1:1"], "palette": [],
           "remove-bg": [], "design": []}
PROMPTS = ["summer sale poster", "night market flyer", "jazz evening", "open studio day",
           "coffee tasting", "book club meetup"]


def _run(argv: list[str], cwd: Path) -> tuple[float, list[dict[str, object]]]:
    t = time.perf_counter()
    proc = subprocess.run([*STUDIO, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=3600, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t
    out = proc.stdout.strip()
    # one input: one (indented) object; several: JSON Lines
    lines = ([json.loads(out)] if out.startswith("{\n") else
             [json.loads(line) for line in out.splitlines() if line.startswith("{")])
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"studio {' '.join(argv[:3])}... failed ({proc.returncode}): "
                         f"{proc.stderr[-500:]}")
    return wall, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--images", type=int, default=4, help="inputs per tool (>= 2)")
    ap.add_argument("--tools", nargs="*", default=list(OPTIONS))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    (work / "config.toml").write_text(
        "[storage]\ndatabase = 'studio.db'\nresults_dir = 'results'\n"
        "[credits]\noperator_topup = 100000\n")
    samples = list(sample_images().values())
    images, small = [], []
    for i in range(args.images + 1):  # one more for the cold run, so nothing is cached
        arr = samples[i % 4][..., :3]  # astronaut, coffee, chelsea, rocket: each has a subject
        path = work / f"photo{i}.jpg"
        path.write_bytes(camera_jpeg(arr, seed=i))
        images.append(path)
        small.append(work / f"small{i}.png")  # upscale: the sample as it is (~0.25 MP)
        Image.fromarray(arr).save(small[-1])
    report = ["# `studio run` with several inputs: cold and warm time per image\n",
              f"Command: `.venv/bin/python -m benchmarks.cli --images {args.images}`; "
              f"{images[0].stat().st_size / 1e6:.1f} MB ~12 MP JPEGs (upscale: ~0.25 MP "
              f"PNGs, design: prompts), {os.cpu_count()} CPUs.\n",
              "| tool | cold, one-input process | warm, per image in a several-input run |",
              "|---|---:|---:|"]
    print("\n".join(report))
    warm_ms: dict[str, float] = {}
    for tool in args.tools:
        inputs = (PROMPTS[:args.images + 1] if tool == "design"
                  else [str(p) for p in (small if tool == "upscale" else images)])
        cold, _ = _run(["run", tool, inputs[-1], "--json", "--config", "config.toml",
                        "-o", f"out-{tool}/", *OPTIONS[tool]], work)
        _, lines = _run(["run", tool, *inputs[:-1], "--json", "--config", "config.toml",
                         "-o", f"out-{tool}/", *OPTIONS[tool]], work)
        statuses = {str(line["status"]) for line in lines}
        assert statuses == {"succeeded"}, (tool, lines)
        warm_ms[tool] = statistics.median(float(str(line["elapsed_ms"])) for line in lines[1:])
        report.append(f"| {tool} | {cold:.2f} s | {warm_ms[tool] / 1000:.3f} s |")
        print(report[-1], flush=True)
    if "palette" in warm_ms:
        raws = [p.read_bytes() for p in images[:args.images]]
        pylette(raws[0])  # load and warm up
        times = []
        for raw in raws[1:]:
            t = time.perf_counter()
            pylette(raw)
            times.append(time.perf_counter() - t)
        ref = statistics.median(times)
        ratio = warm_ms["palette"] / 1000 / ref
        report.append(f"\nWarm palette {warm_ms['palette'] / 1000:.3f} s against warm Pylette "
                      f"6.0.0 {ref:.3f} s on the same JPEGs, same run: {ratio:.2f}x "
                      f"(target: at most 0.25x).")
        print(report[-1])
    out = ROOT / "benchmarks" / "results" / "cli.md"
    out.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
