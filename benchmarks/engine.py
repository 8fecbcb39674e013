"""Engine overhead: jobs/s and per-job cost of hold + cache lookup + job rows + settle.

The provider does no work (returns a pre-encoded 1×1 PNG), so what is measured
is the engine itself on a real SQLite file (WAL): validation, rate-limit and
queue checks, cache lookup, the hold + job-row transaction, scheduling, the
attempt row, storing the result, and the settle + final-row + cache transaction.

    .venv/bin/python -m benchmarks.engine [--jobs 2000] [--concurrency 64]
        [--rounds 3] [--reference 618bedb]
    .venv/bin/python -m benchmarks.engine --postgres [--jobs 2000] [--concurrency 64]

Each measurement runs in a fresh process. The reference is the same benchmark on
another commit of this repository (by default 618bedb, the engine before the
architecture change of issue #11), exported with `git archive` into a temporary
folder; the two alternate round by round so that both see the same machine load.
Writes benchmarks/results/engine.md. With `--postgres`: this checkout only, on a
throwaway Postgres 15 cluster (tests/pg.py), into benchmarks/results/engine_postgres.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from PIL import Image

from core.config import load_settings
from core.engine import Engine, JobRequest
from core.providers.base import Attempt, OutputFile, Provider, ProviderRequest, ProviderResult
from core.tools.base import TOOLS

_buf = io.BytesIO()
Image.new("RGB", (1, 1)).save(_buf, "PNG")
PNG = _buf.getvalue()


class NoWork(Provider):
    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        return ProviderResult([OutputFile("out.png", PNG)], {"width": 1, "height": 1})


async def _engine(folder: Path, database: str | None = None) -> Engine:
    settings = load_settings(
        overrides={
            "storage.database": database or str(folder / "bench.db"),
            "storage.results_dir": str(folder / "results"),
            "credits.starting": 1_000_000,
            "limits.per_member_per_minute": 1_000_000,
            "limits.per_server_per_minute": 1_000_000,
            "limits.per_member_queued": 1000,
            "limits.max_running": 64,
        },
        env={},
    )
    engine = await Engine.create(settings, providers={"local": NoWork()})
    await engine.start()
    return engine


def _req(i: int) -> JobRequest:
    return JobRequest(
        "bench", f"m{i % 32}", "design", {"prompt": f"poster number {i}"}, channel_id="c"
    )


async def sequential(engine: Engine, n: int) -> list[float]:
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        r = await engine.run(_req(10_000_000 + i))
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.ok
    return lat


async def concurrent(engine: Engine, n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            r = await engine.run(_req(i))
            assert r.ok

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


async def main(jobs: int, concurrency: int, database: str | None = None) -> str:
    """One measurement in this process: a table (the format older commits print too)."""
    figures = await measure(jobs, concurrency, database)
    return (
        f"| throughput, {concurrency} in flight | **{figures['rate']:.0f} jobs/s** |\n"
        f"| p50 | {figures['p50']:.2f} ms |\n| p99 | {figures['p99']:.2f} ms |\n"
    )


async def measure(jobs: int, concurrency: int, database: str | None = None) -> dict[str, float]:
    """jobs/s with `concurrency` in flight, and one-at-a-time latency p50/p99 in ms, on
    `database` (a `postgresql://` URL) or else a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = await _engine(Path(tmp), database)
        await sequential(engine, 50)  # warm-up
        lat = await sequential(engine, min(jobs, 500))
        secs = await concurrent(engine, jobs, concurrency)
        row = await engine.db.fetchone("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'")
        await engine.close()
    assert row is not None
    assert row[0] == jobs + len(lat) + 50  # every job succeeded in the database
    lat.sort()
    return {"rate": jobs / secs, "p50": statistics.median(lat), "p99": lat[int(len(lat) * 0.99) - 1]}


_CHILD = """
import asyncio, json, re, sys
from benchmarks import engine as b
out = asyncio.run(b.main({jobs}, {concurrency}))
rate = re.search(r"\\*\\*(\\d+) jobs/s", out).group(1)
p = re.findall(r"(?:p50|p99)[^|]*\\| ([0-9.]+) ms", out)
print(json.dumps({{"rate": float(rate), "p50": float(p[0]), "p99": float(p[1])}}))
"""


def _one(folder: Path, jobs: int, concurrency: int) -> dict[str, float]:
    """Run the benchmark of the checkout in `folder` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(folder)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(jobs=jobs, concurrency=concurrency)],
        cwd=folder, env=env, capture_output=True, text=True, check=True,
    ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def _export(rev: str, into: Path) -> None:
    """Put commit `rev`'s files into `into` (git archive | tar -x)."""
    root = Path(__file__).resolve().parent.parent
    git, tar = shutil.which("git") or "git", shutil.which("tar") or "tar"
    archive = subprocess.run([git, "-C", str(root), "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run([tar, "-x", "-C", str(into)], input=archive, check=True)


def compare(jobs: int, concurrency: int, rounds: int, reference: str) -> str:
    """Alternate this checkout and `reference`, `rounds` times each; a markdown report."""
    here = Path(__file__).resolve().parent.parent
    runs: dict[str, list[dict[str, float]]] = {"this checkout": [], reference: []}
    with tempfile.TemporaryDirectory() as tmp:
        _export(reference, Path(tmp))
        for _ in range(rounds):
            runs["this checkout"].append(_one(here, jobs, concurrency))
            runs[reference].append(_one(Path(tmp), jobs, concurrency))
    load = os.getloadavg()[0]
    lines = [
        "# Engine overhead (no provider work), SQLite WAL on local disk",
        "",
        f"Command: `.venv/bin/python -m benchmarks.engine --jobs {jobs} --concurrency "
        f"{concurrency} --rounds {rounds} --reference {reference}`. Each cell is a fresh "
        f"process; the two rows alternate round by round. {jobs} jobs with {concurrency} in "
        "flight (jobs/s), then 500 one at a time (latency). 2 CPUs; load average at the "
        f"end {load:.1f}.",
        "",
        "| engine | jobs/s per round | median jobs/s | p50 latency | p99 latency |",
        "|---|---|---:|---:|---:|",
    ]
    for name, figures in runs.items():
        rates = [f["rate"] for f in figures]
        lines.append(
            f"| {name} | {', '.join(f'{r:.0f}' for r in rates)} | "
            f"**{statistics.median(rates):.0f}** | "
            f"{statistics.median(f['p50'] for f in figures):.2f} ms | "
            f"{statistics.median(f['p99'] for f in figures):.2f} ms |"
        )
    mine = statistics.median(f["rate"] for f in runs["this checkout"])
    ref = statistics.median(f["rate"] for f in runs[reference])
    lines += ["", f"This checkout / {reference}: {mine / ref:.2f}x. Target: at least 750 jobs/s "
              "on this 2-core machine (issues #11 and #12).", ""]
    return "\n".join(lines)


def on_postgres(jobs: int, concurrency: int) -> str:
    """The same measurement on a throwaway Postgres cluster; a markdown report."""
    from tests import pg

    cluster = pg.start()
    try:
        figures = asyncio.run(measure(jobs, concurrency, cluster.url()))
    finally:
        cluster.stop()
    return "\n".join([
        "# Engine overhead (no provider work), Postgres 15 (throwaway cluster, fsync off)",
        "",
        f"Command: `.venv/bin/python -m benchmarks.engine --postgres --jobs {jobs} "
        f"--concurrency {concurrency}`. 2 CPUs; load average at the end "
        f"{os.getloadavg()[0]:.1f}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| throughput, {concurrency} in flight | **{figures['rate']:.0f} jobs/s** |",
        f"| one at a time, p50 | {figures['p50']:.2f} ms |",
        f"| one at a time, p99 | {figures['p99']:.2f} ms |",
        "",
    ])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reference", default="618bedb",
                    help="commit to measure alongside (default: before issue #11)")
    ap.add_argument("--postgres", action="store_true",
                    help="this checkout on a throwaway Postgres cluster instead")
    a = ap.parse_args()
    if a.postgres:
        report = on_postgres(a.jobs, a.concurrency)
    else:
        report = compare(a.jobs, a.concurrency, a.rounds, a.reference)
    name = "engine_postgres.md" if a.postgres else "engine.md"
    path = Path(__file__).parent / "results" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(report)
    print(report)
