"""What `studio run` writes and prints: output files (checked before anything is held,
never replacing an earlier result), the refund of a result that could not be written,
and each result as a table or a JSON object (core/cli.py runs the jobs)."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, StorageError, StudioError, UserError
from core.jobs import JobEvent, JobResult
from core.storage.db import Connection
from core.storage.results import BlobStore

CLI_GUILD = "cli"
CLI_MEMBER = "operator"
log = logging.getLogger("core.cli")


def _out_folder(out: str | None) -> Path:
    """The folder outputs go to: `-o` when it names a folder, else its parent."""
    if out is None:
        return Path.cwd()
    if Path(out).is_dir() or out.endswith(("/", "\\")):
        return Path(out)
    return Path(out).parent


def check_output(out: str | None) -> None:
    """Check, before any credits are held, that outputs can be written for `-o out`
    (None: the current folder; a folder, existing or to be created; or a file path).

    The nearest existing folder must accept a new file (tried with a temporary file,
    which also catches read-only file systems) and an existing `-o` file must be a
    writable file. Raises InvalidInput (field `out`) naming the path and the reason.
    """
    folder = _out_folder(out)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        also = f", so {folder} cannot be created" if existing != folder else ""
        raise InvalidInput(f"Invalid `out`: {existing} is not a folder{also}.", field="out")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".studio-check-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"Invalid `out`: cannot write in {existing} "
                           f"({exc.strerror or exc}).", field="out") from None
    target = Path(out) if out is not None and folder != Path(out) else None
    if target is not None and target.exists() and (
            not target.is_file() or not os.access(target, os.W_OK)):
        raise InvalidInput(f"Invalid `out`: {target} exists and is not a writable file.",
                           field="out")


async def refund_undelivered(engine: Any, result: JobResult, exc: OSError) -> JobResult:
    """The job succeeded but its output could not be written: refund its credits and
    mark it failed, in one transaction; the result to report instead."""
    where = exc.filename or "the output"
    error = StorageError(f"output {where}: cannot write it ({exc.strerror or exc})")

    def tx(conn: Connection) -> int:
        if engine.credits.refund_settled_in(conn, result.job_id, "output not written"):
            conn.execute(  # the job ends failed, never "succeeded and refunded"
                "UPDATE jobs SET state = 'failed', error_type = ?, error_message = ? "
                "WHERE id = ? AND state = 'succeeded'",
                (type(error).__name__, str(error), result.job_id),
            )
        return int(engine.credits.balance_in(conn, CLI_GUILD, CLI_MEMBER))

    balance = await engine.db.run_tx(tx)
    log.warning("job %s: output not written, refunded: %s", result.job_id, error)
    return dataclasses.replace(result, status="failed", error=error, credits_charged=0,
                               balance=balance, files=[], file_names=[])


def event_line(ev: JobEvent) -> str | None:
    """What a terminal shows above the progress bar for a job event, if anything."""
    if ev.kind == "queued":
        return f"queued (position {ev.position})"
    if ev.kind == "attempt":
        return f"running on {ev.provider} (attempt {ev.attempt})"
    if ev.kind == "retrying":
        return f"{ev.provider} failed; retrying in {ev.delay_s:.1f} s"
    if ev.kind == "fallback":
        return f"{ev.provider} gave up ({ev.message}); trying the next provider"
    return None


def write_outputs(result: JobResult, out: str | None, stem: str | None,
                  store: BlobStore | None = None) -> list[str]:
    """Copy a job's result files out (from their local paths, else read by key from
    `store`, e.g. S3); the paths written.

    Names made up here (`<input stem>-<name>`, in the current folder or an `-o`
    folder) never replace an existing file: a second run gets `-2`, `-3`, ...
    (created exclusively, so parallel runs cannot take the same name). An `-o` file
    path is written as given (with the result's extension added when it has none).
    Raises OSError after removing what this call wrote.
    """
    written: list[str] = []
    sources: list[Path | bytes] = list(result.files)
    if len(sources) != len(result.file_names) and store is not None:
        sources = [store.get(key) for key in result.file_keys]
    try:
        for src, name in zip(sources, result.file_names, strict=True):
            base = f"{stem}-{name}" if stem else f"{result.job_id[:8]}-{name}"
            if out is None:
                dest = _copy_new(src, Path(base))
            elif Path(out).is_dir() or out.endswith(("/", "\\")):
                Path(out).mkdir(parents=True, exist_ok=True)
                dest = _copy_new(src, Path(out) / base)
            else:
                dest = Path(out) if not written else Path(out).with_name(
                    f"{Path(out).stem}-{name}")
                if not dest.suffix:  # `-o result`: the file type's own extension
                    dest = dest.with_name(dest.name + Path(name).suffix)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(src, bytes):
                    dest.write_bytes(src)
                else:
                    shutil.copyfile(src, dest)
            written.append(str(dest))
    except OSError:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
    return written


def _copy_new(src: Path | bytes, dest: Path) -> Path:
    """Copy `src` (a file, or bytes) to `dest`, or to `dest` with `-2`, `-3`, ... before
    the extension if that name is taken; the path written."""
    for n in range(1, 10_000):
        candidate = dest if n == 1 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
        try:
            fh = candidate.open("xb")
        except FileExistsError:
            continue
        with fh:
            if isinstance(src, bytes):
                fh.write(src)
            else:
                with src.open("rb") as data:
                    shutil.copyfileobj(data, fh)
        return candidate
    raise FileExistsError(errno.EEXIST, "too many outputs with this name", str(dest))


def result_json(result: JobResult, outputs: list[str]) -> dict[str, Any]:
    """The result as `studio run --json` prints it: ids, status, cost, `outputs` (file
    paths), the tool's `data`, and the error's type and message when it failed."""
    err = None
    if result.error is not None:
        err = {"type": type(result.error).__name__, "message": str(result.error)}
    return {
        "job_id": result.job_id, "tool": result.tool,
        "status": "succeeded" if result.ok else "failed", "provider": result.provider,
        "credits_charged": result.credits_charged, "balance": result.balance,
        "outputs": outputs, "error": err, "elapsed_ms": result.elapsed_ms, "data": result.data,
        "note": result.note, "fallback_reason": result.fallback_reason, "cached": result.cached,
    }


def report_error(args: argparse.Namespace, exc: StudioError, started: float, *,
                 compact: bool = False) -> int:
    """Report a run that stopped before it had a result (nothing was charged); the
    exit status (2 for a user error, 1 otherwise). `--json` still prints its object
    (on one line when `compact`, i.e. one of several JSON Lines)."""
    if getattr(args, "json", False):
        print(json.dumps({
            "job_id": None, "tool": args.tool, "status": "failed", "provider": None,
            "credits_charged": 0, "balance": None, "outputs": [],
            "error": {"type": type(exc).__name__, "message": str(exc)},
            "elapsed_ms": int((time.monotonic() - started) * 1000), "data": {}},
            indent=None if compact else 2))
    else:
        print(f"error: {exc}", file=sys.stderr)
    return 2 if isinstance(exc, UserError) else 1


def print_result(args: argparse.Namespace, result: JobResult, outputs: list[str], *,
                 compact: bool = False) -> None:
    """Print a job's result: its JSON object with `--json` (one line when `compact`),
    else a table on stdout, or one line on stderr when it failed."""
    if args.json:
        print(json.dumps(result_json(result, outputs), indent=None if compact else 2))
        return
    if not result.ok:
        print(f"{result.tool} failed: {str(result.error).rstrip('.')}; you were not charged "
              f"(balance {result.balance}).", file=sys.stderr)
        return
    rows = [("tool", result.tool), ("provider", result.provider or "-"),
            ("credits charged", str(result.credits_charged)), ("balance", str(result.balance)),
            ("time", f"{result.elapsed_ms / 1000:.2f} s")]
    if result.note:
        rows.append(("note", result.note))
    if result.fallback_reason:
        rows.append(("fallback", result.fallback_reason))
    rows.extend(("output", o) for o in outputs)
    rows.extend(_data_rows(result))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")


def _data_rows(result: JobResult) -> list[tuple[str, str]]:
    d = result.data
    if result.tool == "palette":
        return [(f"{c['percent']:>5}%", f"{c['hex']}  {c['name']}") for c in d.get("colors", [])]
    if result.tool == "crop" and "box" in d:
        b = d["box"]
        return [("box", f"x={b['x']} y={b['y']} {b['width']}×{b['height']}"),
                ("reasons", ", ".join(d.get("reasons", [])))]
    if "width" in d:
        return [("size", f"{d['width']}×{d['height']}")]
    return []
