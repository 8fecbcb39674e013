"""`studio run` with several inputs: cold and warm per-image time for each tool.

    .venv/bin/python -m benchmarks.cli [--images N] [--tools palette crop ...]

For each tool, N different ~12 MP camera-like JPEGs (benchmarks/palette.py's
`camera_jpeg`; design takes N prompts) go through ONE `studio run TOOL A B C ...
--json` process on a fresh config. Per image:

Upscale takes the samples at their own size (~0.25 MP; 12 MP would be a 48 MP output).

* cold: wall time of a `studio run TOOL A` process with one input (interpreter,
  imports, database, worker processes, model load, the job);
* warm: the median time between one input's JSON line and the next in the
  several-input process (inputs 2..N: reading the file, admission with its decode,
  the job, writing the outputs), and, beside it, the median `elapsed_ms` the result
  reports (from the job's admission to its end, without the decode at admission).

Palette, measured as the bot runs it: an Engine in this process runs each JPEG
(`engine.run`: admission, decode, worker, result), alternating image by image with
Pylette 6.0.0 (`pip install --no-deps Pylette==6.0.0`, see benchmarks/palette.py) on
the same bytes, both warm (one run of each first), so load from other work on the
machine falls on both alike. Then a cold `studio run palette` is taken apart by
benchmarks/cold_probe.py: imports, engine open, the first job (worker start-up and
first-call imports included) against a second, warm job.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.cold_probe import HEAVY
from benchmarks.palette import (
    camera_jpeg,
    mean_delta_e,
    pylette,
    pylette_one_thread,
    sample_images,
)

ROOT = Path(__file__).resolve().parents[1]
STUDIO = [sys.executable, "-m", "core.cli"]
OPTIONS = {"upscale": ["--scale", "2"], "crop": ["--ratio", "1:1"], "palette": [],
           "remove-bg": [], "design": []}
PROMPTS = ["summer sale poster", "night market flyer", "jazz evening", "open studio day",
           "coffee tasting", "book club meetup"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
CONFIG = ("[storage]\ndatabase = '{db}'\nresults_dir = '{results}'\n"
          "[credits]\noperator_topup = 100000\n")


def _run(argv: list[str], cwd: Path) -> tuple[float, list[dict[str, object]], list[float]]:
    """One `studio` process: (wall s, its JSON results, when each JSON line arrived)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([*STUDIO, *argv], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=err, text=True, env=ENV)
        if proc.stdout is None:
            raise RuntimeError("no stdout pipe")
        rows = [(line, time.perf_counter()) for line in proc.stdout]
        code = proc.wait(timeout=3600)
        err.seek(0)
        stderr = err.read()
    wall = time.perf_counter() - t
    out = "".join(line for line, _ in rows).strip()
    # one input: one (indented) object; several: JSON Lines
    if out.startswith("{\n"):
        lines, stamps = [json.loads(out)], [rows[-1][1]]
    else:
        picked = [(json.loads(line), at) for line, at in rows if line.startswith("{")]
        lines, stamps = [obj for obj, _ in picked], [at for _, at in picked]
    if code != 0 or not lines:
        raise SystemExit(f"studio {' '.join(argv[:3])}... failed ({code}): {stderr[-500:]}")
    return wall, lines, stamps


def _tools_table(args: argparse.Namespace, work: Path, images: list[Path],
                 small: list[Path]) -> tuple[list[str], dict[str, float]]:
    rows = ["| tool | cold, one-input process | warm, per image between results | "
            "warm, the job's elapsed_ms |", "|---|---:|---:|---:|"]
    print("\n".join(rows))
    colds: dict[str, float] = {}
    for tool in args.tools:
        inputs = (PROMPTS[:args.images + 1] if tool == "design"
                  else [str(p) for p in (small if tool == "upscale" else images)])
        common = ["--json", "--config", "config.toml", "-o", f"out-{tool}/", *OPTIONS[tool]]
        cold, _, _ = _run(["run", tool, inputs[-1], *common], work)
        colds[tool] = cold
        _, lines, stamps = _run(["run", tool, *inputs[:-1], *common], work)
        statuses = {str(line["status"]) for line in lines}
        assert statuses == {"succeeded"}, (tool, lines)
        gap = statistics.median(b - a for a, b in itertools.pairwise(stamps))
        job = statistics.median(float(str(line["elapsed_ms"])) for line in lines[1:]) / 1000
        rows.append(f"| {tool} | {cold:.2f} s | {gap:.3f} s | {job:.3f} s |")
        print(rows[-1], flush=True)
    return rows, colds


async def _engine_vs_pylette(raws: list[bytes], work: Path) -> dict[str, list[float]]:
    """Each JPEG through a warm Engine (as the bot runs it), then warm Pylette with its
    default threads and held to one thread, alternating image by image; times (s) and
    mean ΔE2000 (benchmarks/palette.py's measure) of each."""
    from core.cli_commands import open_engine
    from core.cli_output import CLI_GUILD, CLI_MEMBER
    from core.config import load_settings
    from core.engine import JobRequest
    from core.operator import run_as_operator

    (work / "engine.toml").write_text(CONFIG.format(db=work / "engine.db",
                                                    results=work / "engine-results"))
    engine = await open_engine(load_settings(work / "engine.toml"))
    params = {"colors": 6, "include_neutral": True}  # as Pylette: 6 colours, greys included
    out: dict[str, list[float]] = {k: [] for k in REFS}
    try:
        for i, raw in enumerate(raws):
            t = time.perf_counter()
            result = await run_as_operator(engine, JobRequest(
                CLI_GUILD, CLI_MEMBER, "palette", params, image=raw, source="cli"))
            timed = {"ours": time.perf_counter() - t}
            if not result.ok:
                raise SystemExit(f"palette failed: {result.error}")
            palettes = {"ours": [tuple(c["rgb"]) for c in result.data["colors"]]}
            for name, fn in (("pylette", pylette), ("pylette1", pylette_one_thread)):
                t = time.perf_counter()
                palettes[name] = fn(raw)
                timed[name] = time.perf_counter() - t
            if i == 0:
                continue  # the warm-up: imports, worker start, Pylette's first call
            for name, seconds in timed.items():
                out[name].append(seconds)
                out[f"{name}_de"].append(mean_delta_e(raw, palettes[name]))
    finally:
        await engine.close()
    return out


REFS = ("ours", "pylette", "pylette1", "ours_de", "pylette_de", "pylette1_de")


def _palette_section(work: Path, images: int) -> list[str]:
    samples = list(sample_images().values())
    raws = [camera_jpeg(samples[i % 4][..., :3], seed=100 + i) for i in range(images + 1)]
    m = asyncio.run(_engine_vs_pylette(raws, work))
    med = {k: statistics.median(m[k]) for k in ("ours", "pylette", "pylette1")}
    ref = min(med["pylette"], med["pylette1"])
    per_image = [a / min(b, c) for a, b, c in zip(m["ours"], m["pylette"], m["pylette1"],
                                                   strict=True)]
    names = {"ours": "Luneo palette through the engine",
             "pylette": "Pylette 6.0.0 (k-means, default threads)",
             "pylette1": "Pylette 6.0.0 (k-means, 1 thread)"}
    lines = ["", "## Palette, warm, as the bot runs it", "",
             f"{len(m['ours'])} fresh ~12 MP JPEGs (after one warm-up each), each through a "
             "warm Engine in this process (`engine.run`: admission with its decode, the "
             "worker, the swatch PNG and result stored) and then through warm Pylette on the "
             "same bytes, alternating, so load from other work falls on all alike; 6 colours, "
             "greys included; ΔE2000 as in benchmarks/palette.py (lower is better).", "",
             "| method | median time per image | mean ΔE2000 |", "|---|---:|---:|",
             *[f"| {names[k]} | {med[k]:.3f} s | {statistics.mean(m[k + '_de']):.2f} |"
               for k in ("ours", "pylette", "pylette1")], "",
             f"Ratio: {med['ours'] / ref:.2f}x the faster Pylette's median time (target: at "
             f"most 0.25x; against default-thread Pylette alone {med['ours'] / med['pylette']:.2f}x); "
             f"per image against the faster Pylette on that image: "
             f"{', '.join(f'{r:.2f}' for r in per_image)}."]
    print("\n".join(lines), flush=True)
    return lines


def _seconds(code: str) -> float:
    """Wall time of `python -c code` (the project on the path)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV, cwd=ROOT)
    return time.perf_counter() - t


def _cold_section(work: Path, cold_walls: list[float]) -> list[str]:
    """A cold `studio run palette` taken apart (benchmarks/cold_probe.py), medians of 3."""
    samples = list(sample_images().values())
    probes, preload, interpreter = [], [], []
    for run in range(3):
        paths = []
        for i in range(2):
            paths.append(work / f"cold{run}-{i}.jpg")
            paths[-1].write_bytes(camera_jpeg(samples[i][..., :3], seed=200 + 10 * run + i))
        (work / f"cold{run}.toml").write_text(CONFIG.format(db=work / f"cold{run}.db",
                                                            results=work / f"cold{run}"))
        interpreter.append(_seconds("pass"))
        preload.append(_seconds("import core.providers.local, core.providers.local.palette")
                       - interpreter[-1])
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cold_probe.py"),
                               "palette", str(work / f"cold{run}.toml"), *map(str, paths)],
                              capture_output=True, text=True, env=ENV, check=True)
        p = json.loads(proc.stdout.strip().splitlines()[-1])
        p["wall"] = time.perf_counter() - t
        probes.append(p)

    def med(key: str) -> float:
        return statistics.median(float(q[key]) for q in probes)

    rows = [
        ("interpreter start (`python -c pass`)", statistics.median(interpreter)),
        ("CLI process: imports (core.cli, the engine; no NumPy, no tool code)", med("imports")),
        ("CLI process: engine open (settings, database)", med("engine_open")),
        ("first job beyond a warm one: waiting for the worker side, fork, first-call set-up",
         statistics.median(float(q["first_job"]) - float(q["second_job"]) for q in probes)),
        ("model load (palette has no model file: k-means on the image itself)", 0.0),
        ("the work: one warm job (admission decode at 1/8, palette, swatch PNG, result "
         "stored)", med("second_job")),
        ("engine close (workers stopped)", med("engine_close")),
    ]
    one_job = statistics.median(float(q["wall"]) - float(q["second_job"]) for q in probes)
    rest = one_job - sum(v for _, v in rows)
    lines = ["", "## Palette, cold: one `studio run palette IMG`, taken apart", "",
             "benchmarks/cold_probe.py does what `studio run` does, with a clock around each "
             "part, on two fresh JPEGs (medians of 3 runs): the second job is the work alone, "
             "so the first job minus the second is what the worker side added. The worker "
             "side (a forkserver that imports the palette's modules) starts with `studio run` "
             "and runs beside the CLI process's own imports on the second core.", "",
             "| part | seconds |", "|---|---:|",
             *[f"| {name} | {v:.3f} |" for name, v in rows],
             f"| exit and the rest | {max(rest, 0.0):.3f} |",
             f"| total: one cold job, as the probe runs it | {one_job:.3f} |",
             f"| `studio run palette IMG` wall in the table above | "
             f"{statistics.median(cold_walls):.3f} |",
             f"| beside it, in parallel: the worker side's imports, measured alone "
             f"(core.providers.local and the palette) | {statistics.median(preload):.3f} |",
             "", "Heavy packages in the CLI process after its jobs: "
             f"{', '.join(probes[0]['modules']) or 'none'} (checked: {', '.join(HEAVY)}); "
             "the palette worker loads NumPy and Pillow, and no scikit-learn, SciPy, "
             "scikit-image, OpenCV, torch, openvino, ncnn or matplotlib "
             "(tests/local/test_palette_fast.py)."]
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    """Run every tool cold and warm, the palette sections, and write results/cli.md."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--images", type=int, default=4, help="inputs per tool (>= 2)")
    ap.add_argument("--tools", nargs="*", default=list(OPTIONS))
    ap.add_argument("--palette-images", type=int, default=8,
                    help="timed JPEGs in the engine-against-Pylette comparison")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    (work / "config.toml").write_text(CONFIG.format(db="studio.db", results="results"))
    samples = list(sample_images().values())
    images, small = [], []
    for i in range(args.images + 1):  # one more for the cold run, so nothing is cached
        arr = samples[i % 4][..., :3]  # astronaut, coffee, chelsea, rocket: each has a subject
        path = work / f"photo{i}.jpg"
        path.write_bytes(camera_jpeg(arr, seed=i))
        images.append(path)
        small.append(work / f"small{i}.png")  # upscale: the sample as it is (~0.25 MP)
        Image.fromarray(arr).save(small[-1])
    load = os.getloadavg()[0]
    report = ["# `studio run` with several inputs: cold and warm time per image\n",
              f"Command: `.venv/bin/python -m benchmarks.cli --images {args.images}"
              f"{' --tools ' + ' '.join(args.tools) if args.tools != list(OPTIONS) else ''}`; "
              f"{images[0].stat().st_size / 1e6:.1f} MB ~12 MP JPEGs (upscale: ~0.25 MP "
              f"PNGs, design: prompts), {os.cpu_count()} CPUs, load average {load:.1f} "
              "at the start (the machine is shared: compare within a run).\n"]
    rows, colds = _tools_table(args, work, images, small)
    report += rows
    if "palette" in args.tools:
        report += _palette_section(work, args.palette_images)
        report += _cold_section(work, [colds["palette"]])
    report.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
    out = ROOT / "benchmarks" / "results" / "cli.md"
    out.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
