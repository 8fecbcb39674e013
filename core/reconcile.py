"""The reconciler: the engine's crash recovery, generalised to many processes.

Every gateway and worker runs `Reconciler.run_forever`; only the one holding the
Postgres advisory lock `RECONCILER_LOCK` (`pg_try_advisory_lock`, on a connection
it keeps) does the work, so there is exactly one at a time and another takes over
within `reconcile_interval_s` when its process dies. Each round:

1. queue entries running on a worker whose heartbeat stopped are retried, after
   their job rows go back to `queued` (procrastinate does not do this by itself);
2. active job rows without a waiting or running queue entry are queued again;
3. jobs still active past their deadline (plus a grace) are refunded, as one
   conditional transition with the refund, and their ids NOTIFYed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from core import jobs as jobrows
from core import queue_sql
from core.config import Settings
from core.errors import AllProvidersFailed
from core.jobs import JobRecord

if TYPE_CHECKING:
    from core.runner import JobRunner

log = logging.getLogger(__name__)
DEADLINE_GRACE_S = 30.0  # past the deadline, a worker's own backstop has had its chance
EVENTS_KEPT_S = 3600.0  # event rows of a job are kept this long


@dataclass
class Round:
    """What one reconciler round did (job counts)."""

    stalled: int = 0
    requeued: int = 0
    refunded: int = 0


class Reconciler:
    """One per process; the advisory lock picks which one works."""

    def __init__(self, settings: Settings, runner: JobRunner) -> None:
        self.settings = settings
        self.runner = runner
        self.db = runner.db
        self._conn: Any = None  # the psycopg connection holding the lock
        self.leader = False

    async def run_forever(self) -> None:
        """A round every `reconcile_interval_s` (errors logged, never raised)."""
        try:
            while True:
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconciler round failed")
                    await self._drop_lock()
                await asyncio.sleep(self.settings.queue.reconcile_interval_s)
        finally:
            await self._drop_lock()

    async def _take_lock(self) -> bool:
        import psycopg

        from core.queue_sql import database_url

        if self._conn is None or self._conn.closed:
            self.leader = False
            self._conn = await psycopg.AsyncConnection.connect(
                database_url(self.settings), autocommit=True)
        if not self.leader:
            cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                           (queue_sql.RECONCILER_LOCK,))
            row = await cur.fetchone()
            self.leader = bool(row and row[0])
        return self.leader

    async def _drop_lock(self) -> None:
        conn, self._conn, self.leader = self._conn, None, False
        if conn is not None:
            try:
                await conn.close()  # the session's advisory lock goes with it
            except Exception:
                log.debug("reconciler connection close failed")

    async def run_once(self) -> Round | None:
        """One round if this process holds the lock (else None). Raises psycopg or
        storage errors (the caller logs them)."""
        if not await self._take_lock():
            return None
        q = self.settings.queue
        done = Round()
        await self.db.fetchall(queue_sql.PRUNE_WORKERS_SQL, (q.stalled_after_s,))
        for row in await self.db.fetchall(queue_sql.STALLED_SQL, (q.name, q.stalled_after_s)):
            pid, job_id = int(row["id"]), str(row["lock"])

            def retry(conn: Any, pid: int = pid, job_id: str = job_id) -> None:
                conn.execute("UPDATE jobs SET state = 'queued' WHERE id = ? AND state = 'running'",
                              (job_id,))
                conn.execute(queue_sql.RETRY_SQL, (pid,))

            await self.db.run_tx(retry)
            done.stalled += 1
            log.info("job of a dead worker queued again", extra={"job_id": job_id})
        now = time.time()
        deadline = self.settings.jobs.deadline_s + DEADLINE_GRACE_S
        for row in await self.db.fetchall(queue_sql.ORPHANS_SQL, (now - 2.0,)):
            rec = await jobrows.get_job(self.db, str(row["id"]))
            if rec is None or rec.created_at < now - deadline:
                continue
            if await self.db.run_tx(partial(self._requeue_in, rec=rec)):
                done.requeued += 1
                log.info("job without a queue entry queued again", extra={"job_id": rec.id})
        for rec in await jobrows.active_jobs(self.db):
            if rec.created_at < now - deadline and await self.refund_late(rec):
                done.refunded += 1
        await self.db.execute("DELETE FROM luneo_job_events WHERE at < ?", (now - EVENTS_KEPT_S,))
        return done

    def _requeue_in(self, conn: Any, rec: JobRecord) -> bool:
        cur = conn.execute("UPDATE jobs SET state = 'queued' WHERE id = ? "
                           "AND state IN ('queued', 'running')", (rec.id,))
        if cur.rowcount != 1:
            return False
        queue_sql.defer_in(conn, rec.id, self.settings.queue.name)
        return True

    async def refund_late(self, rec: JobRecord) -> bool:
        """Refund `rec` as past its deadline, if it is still active (conditional, with
        the refund, in one transaction; NOTIFY at commit; its queue entry aborted).
        True if this call ended it."""
        exc = AllProvidersFailed(rec.tool, [("engine", "the job ran past its deadline")])
        rec.state, rec.error_type, rec.error_message = "failed", type(exc).__name__, str(exc)

        def tx(conn: Any) -> bool:
            if not jobrows.finish_job_in(conn, rec):
                return False
            self.runner.credits.refund_in(conn, rec.id, reason="job past its deadline")
            queue_sql.notify_in(conn, rec.id)
            return True

        if not await self.db.run_tx(tx):
            return False
        await self.db.fetchall(queue_sql.ABORT_SQL, (rec.id,))
        log.info("job past its deadline refunded", extra={"job_id": rec.id, "outcome": "refunded"})
        return True


__all__ = ["Reconciler", "Round"]
