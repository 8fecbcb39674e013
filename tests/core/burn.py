"""A local provider that keeps both cores busy for a while, for stop-the-CPU tests.

Module-level so worker processes can unpickle `burn`; it reports progress every
~50 ms, which is where work on a thread is stopped.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.process_pool import WorkerProgress
from core.providers.base import Attempt, LocalProvider, ProviderRequest, ProviderResult
from core.tools.base import TOOLS
from tests.core.scripted import result_for


def burn(req: ProviderRequest, seconds: float, only: frozenset[str] | None = None) -> ProviderResult:
    """Spin numpy on two threads for `seconds`, reporting progress as it goes (only for
    the tools in `only`, when given; the others answer at once)."""
    if only is not None and req.tool not in only:
        return result_for(req)
    end = time.monotonic() + seconds
    done = threading.Event()  # like a native library's threads, the helper ends with the call

    def spin() -> None:
        a = np.random.default_rng(0).random((200, 200))
        while not done.is_set() and time.monotonic() < end:
            a = a @ a
            a /= a.max()

    helper = threading.Thread(target=spin, daemon=True)
    helper.start()
    try:
        a = np.random.default_rng(1).random((200, 200))
        last = 0.0
        while time.monotonic() < end:
            a = a @ a
            a /= a.max()
            if time.monotonic() - last > 0.05:
                last = time.monotonic()
                req.progress(1 - (end - last) / seconds, "burning")
    finally:
        done.set()
    return result_for(req)


class Burner(LocalProvider):
    """Runs `burn` in a worker process (isolated=True) or on the engine's thread pool."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(self, seconds: float, isolated: bool, only: frozenset[str] | None = None) -> None:
        self.seconds = seconds
        self.isolated = isolated
        self.only = only

    def run_sync(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        return burn(req, self.seconds, self.only)

    def isolated_call(self, req: ProviderRequest) -> Any:
        if not self.isolated:
            return None
        sendable = dataclasses.replace(req, progress=WorkerProgress(req.job_id), stop=None)
        return burn, (sendable, self.seconds, self.only)


def process_tree(root: int | None = None) -> dict[int, list[str]]:
    """The /proc/PID/stat fields (after the command name) of process `root` (default:
    this one) and every live descendant, by pid."""
    root = root or os.getpid()
    parent: dict[int, int] = {}
    fields: dict[int, list[str]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        pid = int(d.name)
        fields[pid] = stat[stat.rindex(")") + 2:].split()
        parent[pid] = int(fields[pid][1])
    tree = {}
    for pid, f in fields.items():
        p = pid
        while p and p != root and p in parent:
            p = parent[p]
        if p == root:
            tree[pid] = f
    return tree


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU time (user + system, s) of process `root` and every live descendant."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum((int(f[11]) + int(f[12])) / tick for f in process_tree(root).values())


def tree_rss_mb(root: int | None = None) -> float:
    """Resident memory (MB) of process `root` and every live descendant."""
    page = os.sysconf("SC_PAGE_SIZE")
    return sum(int(f[21]) * page for f in process_tree(root).values()) / 1e6


def busy_cpu_over(seconds: float) -> float:
    """CPU seconds the process tree burns during the next `seconds` of wall time."""
    before = tree_cpu_seconds()
    time.sleep(seconds)
    return tree_cpu_seconds() - before
