"""Test equipment for the Postgres job queue: a config file for a gateway and its
workers, and worker processes (tests/core/test_queue*.py, tests/bot, benchmarks/scale.py).

    spawn_worker(cfg)            # `studio worker --config cfg` in a new process
    spawn_worker(cfg, noop=True) # `python -m tests.queue_stack worker`: same worker, but
                                 # its local provider does no work (empty-job benchmark),
                                 # or sleeps `delay` s first (delay=…)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDIO = str(Path(sys.executable).with_name("studio"))

FAST_QUEUE = {  # short periods so recovery happens within a test
    "poll_s": 0.5, "heartbeat_s": 0.5, "stalled_after_s": 5.0, "reconcile_interval_s": 0.5,
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(folder: Path, url: str, sections: dict[str, dict[str, Any]] | None = None
                 ) -> Path:
    """A config.toml in `folder` for the queue on `url`: results in `folder/results`,
    fast queue periods, generous limits; `sections` adds or overrides keys."""
    base: dict[str, dict[str, Any]] = {
        "storage": {"database": url, "results_dir": str(folder / "results")},
        "queue": {"backend": "procrastinate", **FAST_QUEUE},
        "limits": {"per_member_per_minute": 100000, "per_server_per_minute": 100000,
                   "per_member_queued": 1000, "per_member_running": 1000, "local_threads": 1},
        "models": {"threads": 1},
        "logging": {"level": "WARNING"},
    }
    for name, keys in (sections or {}).items():
        base.setdefault(name, {}).update(keys)
    lines = []
    for name, keys in base.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
        lines.append("")
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def spawn_worker(cfg: Path, *, concurrency: int = 1, noop: bool = False, delay: float = 0.0,
                 log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a worker process on `cfg` (stderr to `log` when given)."""
    if noop or delay:
        cmd = [sys.executable, "-m", "tests.queue_stack", "worker", str(cfg), str(concurrency),
               str(delay)]
    else:
        cmd = [STUDIO, "worker", "--config", str(cfg), "--concurrency", str(concurrency)]
    err = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # a session of its own, as a worker started by its own shell or service manager has:
    # with the kernel's autogroup scheduling, workers sharing the session of whoever
    # started them would also share one CPU share on a busy machine
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, env=env,
                            start_new_session=True)


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM, then wait (SIGKILL after `timeout` s); the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _noop_worker(cfg: str, concurrency: int, delay: float) -> int:
    """A worker whose local provider returns a 1×1 PNG after `delay` s (0: at once)."""
    from benchmarks.engine import NoWork
    from core.config import load_settings
    from core.engine import Engine
    from core.providers.base import Attempt, ProviderRequest, ProviderResult
    from core.worker import Worker

    class Sleepy(NoWork):
        async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
            for i in range(int(delay * 10)):
                await asyncio.sleep(0.1)
                req.progress(i / (delay * 10), "sleeping")
            return await super().run(req, attempt)

    async def run() -> None:
        settings = load_settings(cfg)
        engine = await Engine.create(settings, providers={"local": Sleepy()})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await Worker(engine, concurrency=concurrency).serve(
                stop, grace_s=settings.queue.shutdown_grace_s)
        finally:
            await engine.close(grace_s=0)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.queue_stack")
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("config")
    w.add_argument("concurrency", type=int)
    w.add_argument("delay", type=float, nargs="?", default=0.0)
    a = parser.parse_args()
    sys.exit(_noop_worker(a.config, a.concurrency, a.delay))
