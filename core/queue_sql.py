"""The job queue's statements on Postgres (procrastinate 3.10, docs/scaling.md).

Everything the gateway and the reconciler do to the queue is plain SQL through the
shared `Database` (the `?` placeholders of core/storage/db.py), so a queue entry is
written by the same transaction as the hold and the job row. Only `studio worker`
runs procrastinate's own worker (core/worker.py). The procrastinate functions
called here carry a version suffix (`_v1`, `_v2`): procrastinate keeps them
callable across releases so that old and new code can share a database.

Events a worker emits are rows of `luneo_job_events`; `NOTIFY luneo_jobs, '<job
id>'` carries the id only, the listener re-reads the rows.
"""

from __future__ import annotations

import json
import time
from typing import Any

from core.config import Settings
from core.jobs import JobEvent

TASK_NAME = "luneo.run_job"  # the procrastinate task a worker runs for a job
CHANNEL = "luneo_jobs"  # LISTEN/NOTIFY channel; payload: a job id
SCHEMA_LOCK = 0x6C756E656F01  # advisory lock key while the queue schema is created
RECONCILER_LOCK = 0x6C756E656F02  # advisory lock key of the one reconciler
EVENT_FIELDS = ("position", "provider", "attempt", "delay_s", "fraction", "message")

_EVENTS_DDL = (
    "CREATE TABLE IF NOT EXISTS luneo_job_events ("
    " id bigserial PRIMARY KEY, job_id text NOT NULL, kind text NOT NULL,"
    " fields text NOT NULL, at double precision NOT NULL)",
    "CREATE INDEX IF NOT EXISTS luneo_job_events_job ON luneo_job_events (job_id, id)",
)


def database_url(settings: Settings) -> str:
    """The `postgresql://` URL of `[storage] database` (the queue needs Postgres)."""
    return str(settings.storage.database)


async def ensure_schema(url: str) -> bool:
    """Create procrastinate's schema and `luneo_job_events` in the database at `url`
    unless they exist, under an advisory lock (several processes may start at once).
    Returns True when this call created the queue schema. Raises psycopg.Error."""
    import psycopg
    from procrastinate.schema import SchemaManager

    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        cur = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
        row = await cur.fetchone()
        created = row is None or row[0] is None
        if created:
            await conn.execute(SchemaManager.get_schema().encode())
        for ddl in _EVENTS_DDL:
            await conn.execute(ddl.encode())
        await conn.commit()
    return created


def defer_in(conn: Any, job_id: str, queue: str) -> None:
    """Queue job `job_id` on `queue` inside the caller's transaction (`conn` from
    `Database.run_tx`). The job id is both the `lock` (two deliveries never run at
    once) and the `queueing_lock` (at most one waiting entry per job)."""
    conn.execute(
        "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(?, ?, 0, ?, ?, ?::jsonb, NULL::timestamptz)]"
        "::procrastinate_job_to_defer_v1[])",
        (queue, TASK_NAME, job_id, job_id, json.dumps({"job_id": job_id})),
    )


async def workers_alive(db: Any, settings: Settings) -> int:
    """How many `studio worker` processes on this database are alive: their heartbeat
    is at most `[queue] stalled_after_s` old; 0 when none ever started (the queue schema
    is created by the first worker or gateway). `db`: an open Postgres `Database`."""
    present = await db.fetchall("SELECT to_regclass('procrastinate_workers') IS NOT NULL AS p")
    if not present[0]["p"]:
        return 0
    rows = await db.fetchall(LIVE_WORKERS_SQL, (settings.queue.stalled_after_s,))
    return int(rows[0]["n"])


def notify_in(conn: Any, job_id: str) -> None:
    """`NOTIFY luneo_jobs, job_id` inside the caller's transaction (sent at commit)."""
    conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, job_id))


def event_row(event: JobEvent) -> tuple[str, str, str, float]:
    """(job_id, kind, fields JSON, at) for a `luneo_job_events` row of `event`."""
    fields = {k: v for k in EVENT_FIELDS if (v := getattr(event, k)) is not None}
    return event.job_id, event.kind, json.dumps(fields), time.time()


def insert_events_in(conn: Any, rows: list[tuple[str, str, str, float]]) -> None:
    """Insert event rows and NOTIFY each job id once, in the caller's transaction."""
    for row in rows:
        conn.execute("INSERT INTO luneo_job_events (job_id, kind, fields, at) VALUES (?, ?, ?, ?)",
                     row)
    for job_id in dict.fromkeys(r[0] for r in rows):
        notify_in(conn, job_id)


ABORT_SQL = (
    "SELECT procrastinate_cancel_job_v1(id, true, false) FROM procrastinate_jobs "
    "WHERE lock = ? AND status IN ('todo', 'doing')"
)
# active job rows older than ? (s) whose queue entry is neither waiting nor running
ORPHANS_SQL = (
    "SELECT j.id FROM jobs j WHERE j.state IN ('queued', 'running') AND j.created_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs p WHERE p.lock = j.id "
    "AND p.status IN ('todo', 'doing'))"
)
# queue entries running on a worker whose heartbeat is older than ? s (or gone)
STALLED_SQL = (
    "SELECT p.id, p.lock FROM procrastinate_jobs p "
    "LEFT JOIN procrastinate_workers w ON w.id = p.worker_id "
    "WHERE p.status = 'doing' AND p.queue_name = ? "
    "AND (w.id IS NULL OR w.last_heartbeat < NOW() - make_interval(secs => ?))"
)
RETRY_SQL = "SELECT procrastinate_retry_job_v2(?, NOW(), NULL, NULL, NULL)"
# workers whose heartbeat is at most ? s old (procrastinate keeps no queue name per worker)
LIVE_WORKERS_SQL = (
    "SELECT count(*) AS n FROM procrastinate_workers "
    "WHERE last_heartbeat >= NOW() - make_interval(secs => ?)"
)
PRUNE_WORKERS_SQL = "SELECT * FROM procrastinate_prune_stalled_workers_v1(?)"
