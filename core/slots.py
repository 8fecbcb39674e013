"""A bound across processes on heavy local work: machine-wide memory slots.

`memory_slots(settings)` = `memory_budget_mb // max_job_memory_mb` slots, each
a lock file taken with portalocker's BoundedSemaphore (flock: the kernel frees a
slot when its holder dies, even by SIGKILL). The bot's workers and every
`studio run` on the machine share them, so 30 parallel runs cannot exhaust
memory. Light jobs (core/budget.py `Budget.heavy` false) pass straight through.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.budget import Budget, estimate, memory_slots
from core.config import Settings
from core.errors import Interrupted, InvalidInput

if TYPE_CHECKING:
    from core.providers.base import ProviderRequest

WAIT_MESSAGE = "waiting for memory (other large jobs are running)"


def slot_dir(settings: Settings) -> Path:
    """Where the slot lock files live: beside the model cache, which every process on
    this machine shares (the bot's workers and each `studio run`); else beside the
    database when the cache folder is read-only."""
    for d in (settings.models.cache_dir() / ".slots", settings.database_path.parent / ".slots"):
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise InvalidInput("No writable folder for local job slots (check models.dir).")


@contextmanager
def local_slot(
    b: Budget, settings: Settings, *, deadline: float,
    waiting: Callable[[float, str], None] = lambda _f, _m: None,
) -> Iterator[None]:
    """Hold one of `memory_slots(settings)` machine-wide slots while a heavy job runs.

    Light jobs (estimated under LIGHT_BYTES) pass straight through. While every
    slot is taken, `waiting(0.0, message)` is called about twice a second (it may
    raise to stop the wait, e.g. on cancel) and Interrupted is raised once
    `deadline` (time.monotonic()) passes.
    """
    if not b.heavy:
        yield
        return
    sem = _semaphore(settings)
    while sem.acquire(timeout=0.5, check_interval=0.1, fail_when_locked=False) is None:
        if time.monotonic() > deadline:
            raise Interrupted("the job ran past its deadline waiting for memory")
        waiting(0.0, WAIT_MESSAGE)
    try:
        yield
    finally:
        sem.release()


def _semaphore(settings: Settings) -> Any:
    import portalocker  # only heavy local jobs need it

    return portalocker.BoundedSemaphore(
        memory_slots(settings), name="luneo-local-job", directory=str(slot_dir(settings)),
        fail_when_locked=False)


@asynccontextmanager
async def job_slot(req: ProviderRequest, settings: Settings) -> AsyncIterator[Budget | None]:
    """Around a local job, in the process that schedules it (before a worker or thread
    gets it): check the budget again (a job that reached local by falling back from a
    remote provider was not checked at submit), then hold a machine-wide slot while it
    is heavy. Waiting costs no worker and no copy of the image; it reports through
    `req.progress` (which raises once the job is stopped) and ends at the deadline."""
    if req.image is None:
        yield None
        return
    alpha = req.image.mode in ("RGBA", "LA", "PA")
    b = estimate(req.tool, req.params, req.image.width, req.image.height, settings, alpha=alpha)
    if not b.heavy:
        yield b
        return
    sem = _semaphore(settings)
    while sem.acquire(timeout=0, fail_when_locked=False) is None:
        if time.monotonic() > req.deadline:
            raise Interrupted("the job ran past its deadline waiting for memory")
        req.progress(0.0, WAIT_MESSAGE)
        await asyncio.sleep(0.25)
    try:
        yield b
    finally:
        sem.release()
