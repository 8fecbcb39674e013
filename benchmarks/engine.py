"""Engine overhead: jobs/s and per-job cost of hold + cache lookup + job rows + settle.

The provider does no work (returns a pre-encoded 1×1 PNG), so what is measured
is the engine itself on a real SQLite file (WAL): validation, rate-limit and
queue checks, cache lookup, the hold + job-row transaction, scheduling, the
attempt row, storing the result, and the settle + final-row + cache transaction.

    .venv/bin/python -m benchmarks.engine [--jobs 2000] [--concurrency 64] [--postgres]
Writes benchmarks/results/engine.md; with `--postgres`, the same on a throwaway
Postgres 15 cluster (tests/pg.py) into benchmarks/results/engine_postgres.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
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
    with tempfile.TemporaryDirectory() as tmp:
        engine = await _engine(Path(tmp), database)
        await sequential(engine, 50)  # warm-up
        lat = await sequential(engine, min(jobs, 500))
        secs = await concurrent(engine, jobs, concurrency)
        ledger = await engine.db.fetchone("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'")
        await engine.close()
    lat.sort()
    p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
    rate = jobs / secs
    table = "\n".join(
        [
            "# Engine overhead (no provider work), "
            + ("Postgres 15 on this machine (throwaway cluster, fsync off)" if database
               else "SQLite WAL on local disk"),
            "",
            f"Command: `.venv/bin/python -m benchmarks.engine --jobs {jobs} "
            f"--concurrency {concurrency}{' --postgres' if database else ''}`",
            "",
            "| measure | value |",
            "|---|---|",
            f"| jobs | {jobs} (+{len(lat) + 50} sequential) |",
            f"| throughput, {concurrency} in flight | **{rate:.0f} jobs/s** |",
            f"| per-job engine overhead, one at a time, p50 | {p50:.2f} ms |",
            f"| per-job engine overhead, one at a time, p99 | {p99:.2f} ms |",
            f"| jobs succeeded in the database | {ledger[0] if ledger else '?'} |",
            "",
            "Target (issue #2): at least 500 jobs/s on the 2-core machine.",
            "",
        ]
    )
    return table


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--postgres", action="store_true",
                    help="on a throwaway Postgres cluster (tests/pg.py) instead of SQLite")
    a = ap.parse_args()
    if a.postgres:
        from tests import pg

        cluster = pg.start()
        try:
            out = asyncio.run(main(a.jobs, a.concurrency, cluster.url()))
        finally:
            cluster.stop()
    else:
        out = asyncio.run(main(a.jobs, a.concurrency))
    path = Path(__file__).parent / "results" / ("engine_postgres.md" if a.postgres else "engine.md")
    path.parent.mkdir(exist_ok=True)
    path.write_text(out)
    print(out)
