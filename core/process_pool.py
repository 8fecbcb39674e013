"""Killable worker processes for the local tools.

A thread cannot be stopped from outside: a canceled ×4 upscale kept both cores
busy for minutes after its job was refunded. Local work therefore runs in a
small pool of worker processes (pebble's `ProcessPool`), where cancelling a
running future terminates its worker at once and the pool starts a fresh one.
A job's deadline is the task's timeout, enforced the same way, and shutdown
stops every worker. A crash of the native code (segfault, out-of-memory kill)
ends one worker, not the studio.

Two lanes keep a member's quick job from waiting behind another's heavy one:
`light` workers (crop, palette, design: jobs estimated at a few seconds) and
`heavy` workers (upscale, remove-bg) that run at a lower CPU priority (nice 10),
so when both want the cores the quick job gets them (Linux CFS gives nice 0
about ten times the share of nice 10).

Workers fork from a `forkserver` that has imported the local tools once, so a
replacement worker starts in milliseconds; each worker loads its models on its
first job and keeps them. Progress reported inside a worker travels back over
one pipe as `(job_id, fraction, message)` and reaches the job's own callback.

Why pebble: the standard library's `ProcessPoolExecutor` cannot cancel a task
that has started, and a home-made pool would re-implement what pebble has
maintained since 2013 (worker restart, timeouts, expiry detection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

from pebble import ProcessExpired, ProcessPool

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

# Modules the forkserver imports once, so every worker starts warm.
PRELOAD = [
    "core.providers.local",
    "core.providers.local.crop",
    "core.providers.local.design",
    "core.providers.local.palette",
    "core.providers.local.remove_bg",
    "core.providers.local.upscale",
]

_EVERY_TOOL = tuple(PRELOAD)
_progress_pipe: Any = None  # the write end of the progress pipe, set by _init_worker
# A write of at most PIPE_BUF bytes to a pipe is atomic (POSIX), so workers share the
# progress pipe without a lock: a worker killed mid-write has written all of its
# message or none of it, and can never leave a lock held that wedges the others or
# the pool's shutdown (which multiprocessing.SimpleQueue's write lock can).
_MAX_PROGRESS_MESSAGE = 512  # characters; keeps every progress message < PIPE_BUF


def start_for(tool: str) -> None:
    """For a process that runs only `tool` (`studio run`): preload just the local
    package and that tool's module, and start the forkserver now on a background
    thread, so its imports overlap the caller's own start-up instead of delaying the
    first job. A forkserver already running keeps what it loaded."""
    name = "core.providers.local." + tool.replace("-", "_")
    PRELOAD[:] = [m for m in _EVERY_TOOL if m in ("core.providers.local", name)]
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    threading.Thread(target=multiprocessing.forkserver.ensure_running,
                     name="luneo-forkserver", daemon=True).start()


class WorkerDied(Exception):
    """The worker process ended without an answer (killed, out of memory, a native
    crash). `exitcode` is the process's exit status (negative: the signal)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"worker process ended (exit code {exitcode})")
        self.exitcode = exitcode


class WorkerProgress:
    """A picklable progress callback for work inside a worker process."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def __call__(self, fraction: float, message: str) -> None:
        """Send `(job_id, fraction 0..1, message)` to the parent's progress reader."""
        if _progress_pipe is not None:
            _progress_pipe.send(("progress", self.job_id, fraction,
                                 message[:_MAX_PROGRESS_MESSAGE]))


HEAVY_NICE = 10  # CPU priority of heavy-lane workers (0 = the bot's own)
LANES = ("light", "heavy")


def _init_worker(pipe: Any, nice: int, threads: int) -> None:
    global _progress_pipe  # noqa: PLW0603 - per-worker state, set once by the pool initializer
    _progress_pipe = pipe
    _limit_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if nice:
        os.nice(nice)


def _limit_threads(threads: int) -> None:
    """Hold every native thread pool of this worker to `threads` (`[models] threads`):
    BLAS and OpenMP through threadpoolctl, and OpenCV's own pool. The networks take
    the same figure (core/models/runtimes.py); without this, NumPy and OpenCV steps
    of one job would use every core and two workers could not run side by side."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(threads)


def _call(fn: Callable[..., Any], args: tuple[Any, ...], job_id: str) -> tuple[str, Any]:
    """Run `fn(*args)` in the worker. Exceptions come back as plain data, because
    exceptions with keyword-only constructor arguments do not survive pickling.

    The parent hears "start" (with this worker's pid) before the work and "end"
    after it, so it can kill the worker of a cancelled job even when the pool had
    not yet seen the task start (see `LocalProcessPool._stop_job`)."""
    if _progress_pipe is not None:
        _progress_pipe.send(("start", job_id, os.getpid()))
    try:
        return "ok", fn(*args)
    except BaseException as exc:  # every failure must reach the parent
        state = {k: v for k, v in vars(exc).items() if _picklable(v)}
        return "error", (type(exc), [str(a) for a in exc.args], state,
                         traceback.format_exc())
    finally:
        if _progress_pipe is not None:
            _progress_pipe.send(("end", job_id))


def _picklable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None)))


def _kill(pid: int) -> None:
    """SIGKILL a worker process (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _rebuild(cls: type[BaseException], args: list[str], state: dict[str, Any]) -> BaseException:
    exc = cls.__new__(cls)
    BaseException.__init__(exc, *args)
    vars(exc).update(state)
    return exc


class LocalProcessPool:
    """Worker processes running picklable functions, cancellable, in two lanes:
    `heavy` (`workers` processes at nice 10) and `light` (`light_workers` at the
    bot's own priority).

    `run()` is awaited from the event loop; cancelling the awaiting task
    terminates the worker running it within milliseconds.
    """

    def __init__(self, workers: int, light_workers: int = 1, threads: int = 2) -> None:
        self.workers = {"heavy": workers, "light": light_workers}
        self.threads = threads  # native threads per worker (`[models] threads`)
        self._callbacks: dict[str, Progress] = {}
        self._lock = threading.Lock()  # guards the two maps below (reader thread + loop)
        self._pids: dict[str, int] = {}  # job id -> pid of the worker running it now
        self._stopped: dict[str, None] = {}  # cancelled jobs whose worker has not said start
        self._doomed: dict[str, int] = {}  # cancelled jobs' workers, killed once the pipe drains
        self._started: tuple[Any, dict[str, ProcessPool], threading.Thread] | None = None
        self._closed = False

    def _start(self) -> tuple[Any, dict[str, ProcessPool], threading.Thread]:
        """Start the forkserver, the pools and the progress reader on first use, so a
        process that never runs a local tool (e.g. `studio credits`) pays nothing."""
        if self._started is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            receive, send = ctx.Pipe(duplex=False)
            pools = {
                lane: ProcessPool(max_workers=n, initializer=_init_worker,
                                  initargs=(send, HEAVY_NICE if lane == "heavy" else 0,
                                            self.threads),
                                  context=ctx)
                for lane, n in self.workers.items()
            }
            reader = threading.Thread(target=self._read_progress, args=(receive,),
                                      name="luneo-progress", daemon=True)
            reader.start()
            self._started = ((receive, send), pools, reader)
        return self._started

    def _read_progress(self, receive: Any) -> None:
        """The reader thread: progress to callbacks; start/end to the job -> worker map.

        A cancelled job's worker is killed only once every message written so far has
        been read (`poll(0)` is false) and its "end" is not among them: a worker writes
        "end" before it can take another task, so it is still on that job.
        """
        while True:
            if self._doomed and not receive.poll(0):
                with self._lock:
                    doomed, self._doomed = list(self._doomed.values()), {}
                for pid in doomed:
                    _kill(pid)
            try:
                item = receive.recv()
            except (EOFError, OSError):  # every write end is closed
                return
            if item is None:
                return
            kind, job_id, *rest = item
            with self._lock:
                if kind == "start" and job_id in self._stopped:
                    del self._stopped[job_id]
                    self._doomed[job_id] = rest[0]  # cancelled before its start reached us
                elif kind == "start":
                    self._pids[job_id] = rest[0]
                elif kind == "end":
                    self._pids.pop(job_id, None)
                    self._doomed.pop(job_id, None)  # it finished: nothing left to stop
            if kind == "progress":
                self._report(job_id, *rest)

    def _report(self, job_id: str, fraction: float, message: str) -> None:
        cb = self._callbacks.get(job_id)
        if cb is None:
            return
        try:
            cb(fraction, message)
        except Exception:  # a progress callback must never stop the reader
            log.debug("progress callback failed", exc_info=True)

    def _stop_job(self, job_id: str, wake: Any) -> None:
        """Have the reader kill the worker running cancelled `job_id`, now or as soon
        as it says it started. The pool kills the workers of tasks it has seen start;
        this covers a task cancelled between a worker taking it and the pool hearing."""
        with self._lock:
            pid = self._pids.pop(job_id, None)
            if pid is None:
                self._stopped[job_id] = None
                while len(self._stopped) > 10_000:  # never started: forget the oldest
                    del self._stopped[next(iter(self._stopped))]
            else:
                self._doomed[job_id] = pid
        if pid is not None:
            wake.send(("wake", job_id))  # the reader kills it once the pipe has drained

    async def run(self, fn: Callable[..., Any], *args: Any, job_id: str,
                  progress: Progress, time_limit: float | None, lane: str = "heavy") -> Any:
        """`fn(*args)` in a worker process of `lane`; its exceptions are re-raised here.

        Raises TimeoutError after `time_limit` seconds (the worker is killed),
        WorkerDied if the worker ended without an answer, and whatever `fn`
        raised. Cancelling the awaiting task kills the worker.
        """
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        (_receive, send), pools, _reader = self._start()
        self._callbacks[job_id] = progress
        future = pools[lane if lane in pools else "heavy"].schedule(_call, args=(fn, args, job_id),
                                                           timeout=time_limit)
        try:
            status, payload = await asyncio.wrap_future(future)
        except ProcessExpired as exc:
            raise WorkerDied(exc.exitcode) from None
        except CancelledError:
            raise asyncio.CancelledError() from None
        finally:
            future.cancel()  # a no-op once done; kills the worker if we were cancelled
            if future.cancelled():
                self._stop_job(job_id, send)
            else:
                with self._lock:
                    self._pids.pop(job_id, None)
            self._callbacks.pop(job_id, None)
        if status == "ok":
            return payload
        cls, exc_args, state, tb = payload
        error = _rebuild(cls, exc_args, state)
        error.add_note(f"in worker process:\n{tb}")
        raise error

    def close(self) -> None:
        """Stop every worker and the progress reader. Idle workers are let go (they exit
        on their own, so the pool's semaphores are released in order: stopping them
        left the resource tracker warning of a leaked semaphore at exit); running work
        is killed."""
        if self._closed:
            return
        self._closed = True
        if self._started is None:
            return
        pipe, pools, reader = self._started
        with self._lock:
            busy = bool(self._pids)
        for pool in pools.values():
            if busy:
                pool.stop()
            else:
                pool.close()
        for pool in pools.values():
            try:
                pool.join(timeout=5)
            except TimeoutError:  # a worker that would not exit in time
                pool.stop()
                pool.join(timeout=5)
        receive, send = pipe
        send.send(None)  # atomic like the workers' writes: never waits on a lock
        reader.join(timeout=2)
        send.close()
        receive.close()
