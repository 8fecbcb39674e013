"""The database thread: one OS thread that runs every statement of one connection.

Why not `loop.run_in_executor(ThreadPoolExecutor(1), fn)`: each call there costs a
`concurrent.futures.Future`, a chained asyncio future and one wake-up of the event
loop through its self-pipe, and under load the event loop and the database thread
hand the GIL back and forth once per call. This thread takes everything queued
since it last looked (a batch), runs it in order, and hands all the results back to
the event loop in one `call_soon_threadsafe`: one wake-up per batch instead of one
per statement. Order is kept: work runs first in, first out, one item at a time.

Group commit: work submitted with `grouped=True` (a write transaction) that finds
other grouped work queued right behind it is handed over as one list to the
thread's `run_group` callable (set by `SqliteDatabase` once its connection is open:
`core.storage.transactions.run_group`), which runs the whole run of them in one
database transaction. This is the classic group commit
of databases (Gray and Reuter, *Transaction Processing*, 1993, §9.4.7): one commit
for many transactions that were waiting anyway, and each caller still hears of its
own transaction only once the commit that contains it has happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Item = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any], bool]
Outcome = tuple[Any, BaseException | None]  # (result, exception): one of the two is None
GroupRunner = Callable[[list[Callable[[], Any]]], list[Outcome]]
_STOP = None


class DatabaseThread:
    """A single worker thread with batched hand-back to asyncio (see module docstring)."""

    def __init__(self, name: str = "luneo-db") -> None:
        # set once by the database, before the first grouped submit (the connection is
        # opened on this thread, so it cannot be known at construction)
        self.run_group: GroupRunner | None = None
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T], *, grouped: bool = False) -> asyncio.Future[T]:
        """Queue `fn` to run on the thread; the returned future (of the running loop)
        gets its result or exception. If the future is cancelled before `fn` starts,
        `fn` does not run. `grouped=True` lets `run_group` run it together with other
        grouped work (see the module docstring). Must be called inside a running loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, fut, fn, grouped and self.run_group is not None))
        return fut

    async def run(self, fn: Callable[[], T], *, grouped: bool = False) -> T:
        """Run `fn` on the thread and return its result (raises what `fn` raised)."""
        return await self.submit(fn, grouped=grouped)

    def stop(self) -> None:
        """Let the thread finish the work queued so far, then end; blocks until it has
        ended. Calling it twice is harmless."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while True:  # take everything queued since the last look
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stopping = True
            # `cancelled()` is a plain attribute read: safe off the loop's thread
            items = [item for item in batch if item is not None and not item[1].cancelled()]
            done: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = {}
            for run in _runs(items):
                for (loop, fut, _, _), (result, exc) in zip(run, self._execute(run), strict=True):
                    done.setdefault(loop, []).append((fut, result, exc))
            for loop, outcomes in done.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                    loop.call_soon_threadsafe(_deliver, outcomes)


    def _execute(self, run: list[_Item]) -> list[Outcome]:
        """Run one run of items: a grouped run through `run_group`, else one by one."""
        if len(run) > 1 and self.run_group is not None:
            return self.run_group([fn for _, _, fn, _ in run])
        outcomes: list[Outcome] = []
        for _, _, fn, _ in run:
            try:
                outcomes.append((fn(), None))
            except BaseException as exc:  # handed to the awaiting coroutine
                outcomes.append((None, exc))
        return outcomes


def _runs(items: list[_Item]) -> list[list[_Item]]:
    """Split `items` (in order) into runs: each maximal stretch of grouped items is
    one run, every other item a run of its own."""
    runs: list[list[_Item]] = []
    for item in items:
        if item[3] and runs and runs[-1][-1][3]:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _deliver(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the event loop: settle each future (skipping ones cancelled meanwhile)."""
    for fut, result, exc in outcomes:
        if fut.cancelled():
            continue
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)
