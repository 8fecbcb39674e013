"""Job records, events and results, and their rows in the database.

A job moves queued -> running -> succeeded | failed | canceled. Its row holds
everything needed to resume it after a crash (tool, normalised params, the
input's key in the result store) and to report it (provider, attempts, error).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import StudioError
from core.storage.db import Connection, Database, Row

ACTIVE_STATES = ("queued", "running")
PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


@dataclass(frozen=True)
class JobRequest:
    """What a front end (bot, CLI) asks for. `image`: the uploaded bytes; or
    `input_key`: a file already in the result store (a follow-on on a previous
    result), read from there instead of being uploaded again. `source` is recorded
    on the job row for reports; no decision depends on it."""

    guild_id: str
    member_id: str
    tool: str
    params: dict[str, Any]
    image: bytes | None = None
    input_key: str | None = None
    channel_id: str | None = None
    source: str = "api"


@dataclass
class JobRecord:
    """One row of `jobs`: who asked for what, its state, cost (credits) and result."""

    id: str
    guild_id: str
    member_id: str
    channel_id: str | None
    tool: str
    params: dict[str, Any]
    state: str
    cost: int
    source: str
    created_at: float
    input_key: str | None = None
    cache_key: str = ""
    provider: str | None = None
    attempts: int = 0
    error_type: str | None = None
    error_message: str | None = None
    note: str | None = None
    result_files: list[dict[str, str]] = field(default_factory=list)
    result_data: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    owner: str | None = None
    result_url: str | None = None  # where the result was delivered (a message link)

    @classmethod
    def from_row(cls, row: Row) -> JobRecord:
        """The record for a `SELECT * FROM jobs` row (JSON columns decoded)."""
        d = dict(row)
        return cls(
            id=d["id"], guild_id=d["guild_id"], member_id=d["member_id"],
            channel_id=d["channel_id"], tool=d["tool"], params=json.loads(d["params"]),
            state=d["state"], cost=d["cost"], source=d["source"], created_at=d["created_at"],
            input_key=d["input_hash"], cache_key=d["cache_key"], provider=d["provider"],
            attempts=d["attempts"], error_type=d["error_type"], error_message=d["error_message"],
            note=d["note"], result_files=json.loads(d["result_files"] or "[]"),
            result_data=json.loads(d["result_data"] or "{}"), started_at=d["started_at"],
            finished_at=d["finished_at"], owner=d["owner"], result_url=d.get("result_url"),
        )


@dataclass
class JobResult:
    """How a job ended: status, provider, credits charged, the balance after, files, data, error."""

    job_id: str
    tool: str
    status: str  # succeeded | failed | canceled
    provider: str | None
    credits_charged: int
    balance: int
    files: list[Path]  # local paths, when the result store is a local folder
    data: dict[str, Any]
    note: str | None
    fallback_reason: str | None
    error: StudioError | None
    elapsed_ms: int
    cached: bool = False
    file_names: list[str] = field(default_factory=list)
    file_keys: list[str] = field(default_factory=list)  # in the result store (`Engine.store`)

    @property
    def ok(self) -> bool:
        """True when the job succeeded."""
        return self.status == "succeeded"


@dataclass
class JobEvent:
    """Something that happened to a job, for front ends: `kind` plus the fields that kind uses."""

    kind: str  # queued started attempt retrying fallback progress done failed canceled resumed refunded
    job_id: str
    job: JobRecord
    position: int | None = None
    provider: str | None = None
    attempt: int | None = None
    delay_s: float | None = None
    fraction: float | None = None
    message: str | None = None
    result: JobResult | None = None


@dataclass
class JobHandle:
    """What `submit` returns: the job id, its cost, queue position (0: started), cache hit, balance."""

    job_id: str
    cost: int
    position: int
    cached: bool
    balance: int


_INSERT = (
    "INSERT INTO jobs (id, guild_id, member_id, channel_id, tool, params, input_hash, cache_key, "
    "cost, state, source, owner, created_at, provider, result_files, result_data, note, "
    "started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_job(conn: Connection, rec: JobRecord) -> None:
    """Insert `rec` as a new `jobs` row inside the caller's transaction."""
    conn.execute(
        _INSERT,
        (rec.id, rec.guild_id, rec.member_id, rec.channel_id, rec.tool, json.dumps(rec.params),
         rec.input_key, rec.cache_key, rec.cost, rec.state, rec.source, rec.owner, rec.created_at,
         rec.provider, json.dumps(rec.result_files), json.dumps(rec.result_data), rec.note,
         rec.started_at, rec.finished_at),
    )


async def mark_running(db: Database, rec: JobRecord) -> bool:
    """Move the job from queued to running, conditionally: False (nothing written) if
    the job has already left the queue, e.g. it was canceled first."""
    started, owner = time.time(), PROCESS_OWNER

    def tx(conn: Connection) -> bool:
        cur = conn.execute(
            "UPDATE jobs SET state = 'running', started_at = ?, owner = ? "
            "WHERE id = ? AND state = 'queued'",
            (started, owner, rec.id),
        )
        return cur.rowcount == 1

    if not await db.run_tx(tx):
        return False
    rec.state, rec.started_at, rec.owner = "running", started, owner
    return True


def finish_job_in(conn: Connection, rec: JobRecord) -> bool:
    """Write a job's final state inside the caller's transaction (with its settle or
    refund), as one conditional transition from queued/running. Returns False, having
    written nothing, if the job had already ended: the caller lost a race and must roll
    back its ledger change."""
    rec.finished_at = time.time()
    cur = conn.execute(
        "UPDATE jobs SET state = ?, provider = ?, attempts = ?, error_type = ?, error_message = ?, "
        "note = ?, result_files = ?, result_data = ?, finished_at = ? "
        "WHERE id = ? AND state IN ('queued', 'running')",
        (rec.state, rec.provider, rec.attempts, rec.error_type, rec.error_message, rec.note,
         json.dumps(rec.result_files), json.dumps(rec.result_data), rec.finished_at, rec.id),
    )
    return cur.rowcount == 1


async def record_delivery(
    db: Database, job_id: str, channel_id: str, message_id: str, url: str | None
) -> None:
    """Remember where the result was posted (channel, message, link) for /history."""
    await db.execute(
        "UPDATE jobs SET result_channel_id = ?, result_message_id = ?, result_url = ? "
        "WHERE id = ?",
        (channel_id, message_id, url, job_id),
    )


async def get_job(db: Database, job_id: str) -> JobRecord | None:
    """The job with this id, or None."""
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return JobRecord.from_row(row) if row else None


async def active_jobs(db: Database) -> list[JobRecord]:
    """Every queued or running job, oldest first (recovery after a restart)."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at"
    )
    return [JobRecord.from_row(r) for r in rows]


async def history(db: Database, guild: str, member: str, limit: int) -> list[JobRecord]:
    """The member's last `limit` jobs in the guild, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE guild_id = ? AND member_id = ? ORDER BY created_at DESC LIMIT ?",
        (guild, member, limit),
    )
    return [JobRecord.from_row(r) for r in rows]


def owner_alive(owner: str | None) -> bool:
    """Is the process that owns a job still running on this host (and not us)?"""
    if not owner or owner == PROCESS_OWNER:
        return False
    try:
        host, pid, _ = owner.split(":")
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()
