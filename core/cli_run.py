"""`studio run TOOL INPUT...`: every input through one engine, with progress on a
terminal and one result per input (core/cli.py parses the command line)."""

from __future__ import annotations

import argparse
import asyncio
import glob
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.cli_commands import open_engine
from core.cli_output import (
    CLI_GUILD,
    CLI_MEMBER,
    check_output,
    event_line,
    print_result,
    refund_undelivered,
    report_error,
    write_outputs,
)
from core.config import Settings
from core.errors import InvalidInput, StudioError, UserError
from core.jobs import JobEvent
from core.tools.base import TOOLS

log = logging.getLogger(__name__)
PROMPT = ("design", "prompt")  # the positional INPUT, not an option


def tool_params(tool: str, a: argparse.Namespace, *, prompt: str | None = None
                ) -> dict[str, Any]:
    """Map `studio run` options onto the tool's parameters (PRODUCT.md §7); `prompt` is
    the design prompt (default: the first INPUT)."""
    params = {name: getattr(a, name, None) for name in TOOLS[tool].params.model_fields}
    if (tool, "prompt") == PROMPT:
        params["prompt"] = prompt if prompt is not None else a.inputs[0]
    return params


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
WORKER_NOTICE_S = 3.0  # with a job queue: a job still waiting this long checks for workers
LONG_JOB_S = 2.0  # plain progress lines (not a terminal) only for jobs running longer


def expand_inputs(tool: str, inputs: Sequence[str]) -> list[str]:
    """The inputs `studio run` works through, in order: a folder gives its image files
    (by extension, sorted by name, not recursive), a glob the files it matches (sorted);
    anything else stays as given, so a missing file is reported in its place. Prompts
    (design) are never expanded."""
    if not TOOLS[tool].takes_image:
        return list(inputs)
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out += sorted(str(p) for p in path.iterdir()
                          if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif not path.exists() and any(c in item for c in "*?["):
            out += sorted(glob.glob(item)) or [item]
        else:
            out.append(item)
    return out


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """`studio run`: every input in one process (one engine, models loaded once).

    Each input is checked before anything is held, so a bad path costs nothing; an
    output that still cannot be written is refunded. One result per input, in order:
    a table, or a JSON object (JSON Lines when there are several inputs). Exit status:
    0 if every input succeeded, else 1 if any failed for a reason other than the user's,
    else 2.
    """
    from core.cli_progress import ProgressReport

    started = time.monotonic()
    inputs = expand_inputs(args.tool, args.inputs)
    try:
        if not inputs:
            raise InvalidInput(f"Invalid `image`: no images in {', '.join(args.inputs)}",
                               field="image")
        if len(inputs) > 1 and args.out is not None and not _names_folder(args.out):
            raise InvalidInput("Invalid `out`: with several inputs, -o must be a folder "
                               "(end it with /).", field="out")
        check_output(args.out)
    except StudioError as exc:
        return report_error(args, exc, started)
    if "local" in settings.tool_chain(args.tool) and settings.limits.local_isolation == "process":
        from core.process_pool import start_for

        start_for(args.tool)  # the worker side starts while this process opens the engine
    run = _Run(args, settings, compact=len(inputs) > 1)
    try:
        with ProgressReport() as bar:
            run.bar = bar
            codes = [await run.one(item) for item in inputs]
    finally:
        run.stop_checks()
        if run.engine is not None:
            await run.engine.close()
    if all(c == 0 for c in codes):
        return 0
    return 1 if 1 in codes else 2


def _names_folder(out: str) -> bool:
    return Path(out).is_dir() or out.endswith(("/", "\\"))


class _Run:
    """One `studio run` over several inputs: the engine is opened at the first input
    that can be read (so a missing file alone creates nothing) and shared after."""

    def __init__(self, args: argparse.Namespace, settings: Settings, *, compact: bool) -> None:
        self.args, self.settings, self.compact = args, settings, compact
        self.engine: Any = None
        self.engine_error: StudioError | None = None
        self.bar: Any = None
        self._started: dict[str, float] = {}
        self._queued: set[str] = set()  # on the queue, no worker has reported on it yet
        self._checks: set[asyncio.Task[None]] = set()
        self._told_no_worker = False

    def stop_checks(self) -> None:
        """Cancel the pending worker checks (the run is over)."""
        for check in list(self._checks):
            check.cancel()

    async def _worker_check(self, job_id: str) -> None:
        """With a job queue: if the job is still waiting after `WORKER_NOTICE_S` and no
        worker is alive, say so once (otherwise it would wait silently until its
        deadline refunds it)."""
        self._queued.add(job_id)
        try:
            await asyncio.sleep(WORKER_NOTICE_S)
            if job_id not in self._queued or self._told_no_worker:
                return
            try:
                alive = await self.engine.dispatcher.workers_alive()
            except Exception as exc:  # a notice only: the job itself goes on regardless
                log.debug("could not count the workers: %s", exc)
                return
            if alive == 0:
                self._told_no_worker = True
                self.bar.log(f"waiting for a worker: none is running on queue "
                             f"'{self.settings.queue.name}' (start one with `studio worker`); "
                             "if none takes the job before its deadline, it is refunded")
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._checks.discard(task)

    async def one(self, item: str) -> int:
        """Run the tool on one input and print its result; its exit status."""
        from core.engine import JobRequest
        from core.operator import run_as_operator

        args, started = self.args, time.monotonic()
        takes_image = TOOLS[args.tool].takes_image
        try:
            image, filename = _read_input(item) if takes_image else (None, None)
            await self._open()
            result = await run_as_operator(self.engine, JobRequest(
                CLI_GUILD, CLI_MEMBER, args.tool, tool_params(args.tool, args, prompt=item),
                image=image, source="cli"))
        except StudioError as exc:
            return report_error(args, exc, started, compact=self.compact)
        self.bar.finish(result.job_id)  # no bar left over the result
        stem = Path(filename).stem if filename else slug(item) if not takes_image else None
        try:
            outputs = write_outputs(result, args.out, stem, self.engine.store)
        except OSError as exc:
            result, outputs = await refund_undelivered(self.engine, result, exc), []
        print_result(args, result, outputs, compact=self.compact)
        if result.ok:
            return 0
        return 2 if isinstance(result.error, UserError) else 1

    async def _open(self) -> None:
        if self.engine_error is not None:
            raise self.engine_error
        if self.engine is None:
            try:
                self.engine = await open_engine(one_heavy_worker(self.settings))
            except StudioError as exc:
                self.engine_error = exc
                raise
            self.engine.add_listener(self._event)

    def _event(self, ev: JobEvent) -> None:
        if ev.kind == "queued" and self.settings.queue.backend != "inprocess":
            self._checks.add(asyncio.get_running_loop().create_task(self._worker_check(ev.job_id)))
        if ev.kind != "queued":
            self._queued.discard(ev.job_id)
        if ev.kind in ("queued", "started"):
            self._started.setdefault(ev.job_id, time.monotonic())
        if ev.kind in ("done", "failed", "canceled"):
            self._started.pop(ev.job_id, None)
            self.bar.finish(ev.job_id)
            return
        if ev.kind == "progress" and ev.fraction is not None:
            long_enough = time.monotonic() - self._started.get(ev.job_id, 0.0) >= LONG_JOB_S
            if not self.bar.plain or (long_enough and not self.args.json):
                if not self.bar.has(ev.job_id):
                    self.bar.start(ev.job_id, self.args.tool)
                self.bar.update(ev.job_id, ev.fraction, ev.message or "")
            return
        line = event_line(ev)
        if line and not self.bar.plain and not self.args.json:
            self.bar.log(line)


def one_heavy_worker(settings: Settings) -> Settings:
    """`settings` with one heavy worker process (`limits.local_threads` = 1).

    `studio run` works through its inputs one at a time, so one worker is enough,
    and every input after the first finds the models loaded; with two, jobs took
    turns between the workers and the second input paid a second model load.
    """
    if settings.limits.local_threads == 1:
        return settings
    limits = settings.limits.model_copy(update={"local_threads": 1})
    return settings.model_copy(update={"limits": limits})


def slug(text: str, limit: int = 40) -> str:
    """A file-name slug of a prompt: lowercase letters and digits joined by `-`, cut at
    a word boundary within `limit` characters ("design" when nothing is left)."""
    words = re.findall(r"[^\W_]+", text.lower())
    out = ""
    for word in words:
        if len(out) + len(word) + (1 if out else 0) > limit:
            break
        out = f"{out}-{word}" if out else word
    return out or (words[0][:limit] if words else "design")


def _read_input(item: str) -> tuple[bytes, str]:
    src = Path(item)
    if not src.is_file():
        raise InvalidInput(f"Invalid `image`: no such file: {src}", field="image")
    try:
        return src.read_bytes(), src.name
    except OSError as exc:
        raise InvalidInput(f"Invalid `image`: cannot read {src} ({exc.strerror or exc})",
                           field="image") from None
