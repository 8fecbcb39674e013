"""The `studio` commands that look after a Studio rather than run a tool: models,
db, credits, stats, providers/doctor (core/cli.py parses and dispatches them)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.config import Settings


async def open_engine(settings: Settings) -> Any:
    """A started Engine for a maintenance command (no rate limits: it is the operator's machine)."""
    from core.engine import Engine

    engine = await Engine.create(settings, rate_limits=False)  # the operator's own machine
    await engine.start()
    return engine


def models_command(args: argparse.Namespace, settings: Settings) -> int:
    """`studio models list|fetch`: list the cache, or fetch models into it (0 on success;
    a failed fetch raises ModelFetchError).
    """
    from core.cli_progress import ProgressReport
    from core.models import MODELS, format_rows, get_store

    store = get_store(settings)
    if args.models_cmd == "fetch":
        wanted = list(dict.fromkeys(args.names)) if args.names else list(MODELS)
        with ProgressReport() as bar:
            bar.start("models", "models", total=len(wanted))
            count = iter(range(1, len(wanted) + 1))
            report = store.fetch(
                args.names or None, log=bar.log, archive_dir=args.archive_dir,
                done=lambda name: bar.update("models", next(count, len(wanted)), name)
                if not bar.plain else None)
            bar.finish("models")
        print(f"done in {report.seconds:.1f} s: {len(report.fetched)} fetched, "
              f"{len(report.skipped)} already present, "
              f"{report.downloaded_bytes / 1e6:.1f} MB downloaded into {store.root}")
        return 0
    print(f"cache: {store.root}")
    print(format_rows(store.list()))
    return 0


async def db_upgrade(settings: Settings) -> int:
    """`studio db upgrade`: apply pending migrations and print the schema version; returns 0."""
    from core.storage.db import describe, open_database

    db = await open_database(settings, upgrade=False)
    try:
        applied = await db.upgrade()
        version = await db.version()
    finally:
        await db.close()
    print(f"database {describe(settings.database_target)}: version {version}"
          + (f" (applied {', '.join(applied)})" if applied else " (up to date)"))
    return 0


def db_copy(args: argparse.Namespace) -> int:
    """`studio db copy --from SQLITE_PATH --to postgresql://...`: copy a stopped install's
    SQLite database into an empty Postgres one, checking every wallet's ledger sum
    (core/storage/copy.py); returns 0. Raises StorageError (nothing copied) or
    InvalidInput."""
    from pathlib import Path

    from core.storage.copy import copy_sqlite_to_postgres
    from core.storage.db import scrub_url

    report = copy_sqlite_to_postgres(Path(args.source), args.target)
    counts = ", ".join(f"{n} {table}" for table, n in report.rows.items() if n)
    print(f"copied {args.source} to {scrub_url(args.target)}: {counts or 'no rows'}; "
          f"every wallet's ledger sum matches its balance ({report.wallets} wallets)")
    return 0


async def credits_command(args: argparse.Namespace, settings: Settings) -> int:
    """`studio credits grant|balance`: grant credits, or show a wallet; returns 0."""
    engine = await open_engine(settings)
    try:
        if args.credits_cmd == "grant":
            bal = await engine.credits.grant(args.guild, args.member, args.amount, "cli",
                                             args.reason)
            print(f"granted {args.amount} to {args.member} in {args.guild}; balance {bal}")
        else:
            w = await engine.credits.wallet(args.guild, args.member)
            daily = "available" if w.daily_available else "claimed today"
            print(f"{args.member} in {args.guild}: {w.balance} credits (daily {daily})")
    finally:
        await engine.close()
    return 0


async def stats_command(args: argparse.Namespace, settings: Settings) -> int:
    """`studio stats [--json]`: per-tool runs, failures, latency and credits; exit code 0."""
    from core.stats import collect_stats
    from core.storage.db import open_database

    db = await open_database(settings)
    try:
        stats = await collect_stats(db)
    finally:
        await db.close()
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
        return 0
    print(format_stats(stats))
    return 0


def format_stats(stats: dict[str, Any]) -> str:
    """The stats from `collect_stats` as fixed-width text: runs per tool and provider,
    failures by type, attempts per provider with its circuit, and the ledger totals.
    """
    lines = ["tool        provider   runs  ok  failed  canceled  avg ms  credits"]
    for r in stats["tools"]:
        lines.append(f"{r['tool']:<11} {r['provider']:<10} {r['runs']:>4} {r['successes']:>3} "
                     f"{r['failures']:>7} {r['canceled']:>9} {r['avg_latency_ms'] or 0:>7} "
                     f"{r['credits']:>8}")
    if stats["failures"]:
        lines.append("")
        lines.append("failures: " + ", ".join(
            f"{f['tool']} {f['error_type']}×{f['n']}" for f in stats["failures"]))
    lines.append("")
    lines.append("provider    attempts  ok  transient  permanent  timeouts  rejected  cost $  "
                 "circuit")
    circuits = stats["circuits"]
    for r in stats["providers"]:
        c = circuits.get(r["provider"], {}).get("circuit", "closed")
        lines.append(f"{r['provider']:<11} {r['attempts']:>8} {r['ok']:>3} {r['transient']:>10} "
                     f"{r['permanent']:>10} {r['timeouts']:>9} {r['rejected']:>9} "
                     f"{r['cost_usd'] or 0:>7} {c}")
    led = stats["ledger"]
    lines.append("")
    lines.append(f"credits: {led.get('issued', 0)} given out (starting, daily, grants, top-ups); "
                 f"{led.get('spent', 0)} spent on finished jobs; "
                 f"{led.get('refunded', 0)} refunded (failed, refused or cancelled jobs: not charged); "
                 f"{led.get('held_now', 0)} held right now by running jobs")
    return "\n".join(lines)


async def _queue_line(db: Any, settings: Settings) -> str:
    """Where jobs run: in this process, or on the Postgres queue with N workers alive."""
    q = settings.queue
    if q.backend == "inprocess":
        return "jobs run: in the process that accepts them ([queue] backend = \"inprocess\")"
    from core.queue_sql import workers_alive

    head = f"jobs run: in `studio worker` processes, queue '{q.name}' on the database above"
    try:
        alive = await workers_alive(db, settings)
    except Exception as exc:  # the queue schema may not exist yet: doctor still answers
        return f"{head}; workers alive: unknown ({type(exc).__name__}: run `studio db upgrade`)"
    hint = "" if alive else " (none: queued jobs wait; start one with `studio worker`)"
    return f"{head}; workers alive (heartbeat within {q.stalled_after_s:g} s): {alive}{hint}"


async def providers_command(settings: Settings, *, doctor: bool) -> int:
    """`studio providers [--doctor]`: each provider's key status, circuit and last error;
    with `doctor`, also the database path, the job queue (and how many workers are
    alive) and the model cache. Returns 0.
    """
    from core.providers.registry import provider_status
    from core.stats import collect_stats
    from core.storage.db import describe, open_database

    db = await open_database(settings)
    try:
        stats = await collect_stats(db)
        queue = await _queue_line(db, settings) if doctor else ""
    finally:
        await db.close()
    circuits = stats["circuits"]
    for row in provider_status(settings):
        c = circuits.get(row["provider"], {})
        last = c.get("last_error") or "-"
        print(f"{row['provider']:<10} configured: {row['configured']:<40} "
              f"circuit: {c.get('circuit', 'closed'):<9} last error: {last}")
    if doctor:
        from core.config import user_data_dir
        from core.models import format_rows, get_store

        where = ("the per-user data folder (no config file)"
                 if settings.base_dir == user_data_dir() else f"config folder {settings.base_dir}")
        print(f"data in {where}:")
        print(f"  database (wallets, jobs, history): {describe(settings.database_target)}")
        print(f"  results and result cache:          "
              f"{settings.storage.results_url or settings.results_path}")
        store = get_store(settings)
        print(f"  models:                            {store.root}")
        print(queue)
        print(format_rows(store.list()))
    return 0
