"""The worker pool survives workers killed while they report progress.

With a lock around the progress channel (multiprocessing.SimpleQueue), a worker
killed while holding the lock left it held forever: the other workers' progress
and the pool's shutdown then blocked for good. Progress now goes through a pipe
with atomic writes and no lock.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.process_pool import LocalProcessPool, WorkerProgress


def chatter(job_id: str, seconds: float) -> str:
    """Report progress in a tight loop for `seconds` (module level: picklable)."""
    report = WorkerProgress(job_id)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        report(0.5, "x" * 200)
        n += 1
    return f"sent {n}"


async def test_killing_workers_mid_progress_never_wedges_the_pool() -> None:
    pool = LocalProcessPool(workers=1, light_workers=1)
    heard: list[str] = []
    try:
        for i in range(8):  # each kill lands somewhere inside a progress write, or near it
            task = asyncio.create_task(pool.run(chatter, f"j{i}", 30.0, job_id=f"j{i}",
                                                progress=lambda f, m: None, time_limit=None))
            await asyncio.sleep(0.4 + 0.05 * i)
            task.cancel()  # kills the worker process running it
            with pytest.raises(asyncio.CancelledError):
                await task
        # a fresh worker's progress still reaches the parent ...
        result = await asyncio.wait_for(
            pool.run(chatter, "last", 0.3, job_id="last",
                     progress=lambda f, m: heard.append(m), time_limit=None), 60)
        assert result.startswith("sent ")
        assert heard
    finally:
        # ... and shutdown returns promptly instead of waiting on a dead worker's lock
        await asyncio.wait_for(asyncio.to_thread(pool.close), 30)


def native_threads() -> tuple[list[int], int]:
    """BLAS/OpenMP pool sizes and OpenCV's thread count, seen inside a worker."""
    import cv2
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS loaded
    return [p["num_threads"] for p in threadpool_info()], cv2.getNumThreads()


async def test_workers_hold_native_threads_to_the_models_setting() -> None:
    pool = LocalProcessPool(workers=1, light_workers=1, threads=1)
    try:
        pools, opencv = await pool.run(native_threads, job_id="t", progress=lambda f, m: None,
                                       time_limit=None)
    finally:
        await asyncio.to_thread(pool.close)
    assert pools  # at least NumPy's BLAS is there to limit
    assert set(pools) == {1}
    assert opencv == 1
