"""Ledger guarantees on Postgres at READ COMMITTED (issue 12), across connections and
processes: 200 concurrent holds settle exactly the affordable number, a refund raced
by 100 tasks happens once, revoke never goes below zero, and the unique index keeps a
job's ledger rows from repeating (on both backends)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from core.credits import Credits
from core.errors import InsufficientCredits
from core.storage.db import Database

ROOT = Path(__file__).resolve().parents[2]
COST = 3
AFFORDABLE = 50
PROCESSES = 3
HOLDS_PER_PROCESS = 40  # 3 x 40 here + 80 in the test's own process = 200


def _credits(db: Database, starting: int = 0) -> Credits:
    return Credits(db, starting=lambda _g: starting, daily=lambda _g: 0)


async def _hold_then_settle(c: Credits, job: str) -> str:
    try:
        await c.db.run_tx(lambda conn: c.hold_in(conn, "g", "m", COST, job))
    except InsufficientCredits:
        return "rejected"
    settled = await c.db.run_tx(lambda conn: c.settle_in(conn, job))
    return "settled" if settled else "lost"


async def _ledger_sum(db: Database) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = 'g' AND member_id = 'm'")
    assert row is not None
    return int(row[0])


def child_holds(url: str, prefix: str, count: int) -> None:
    """Body of a child process: connect, wait for a line on stdin (the start signal),
    then `count` concurrent holds (each settled when it succeeds) on a pool of its
    own; prints the outcomes as JSON."""

    async def run() -> list[str]:
        db = await Database.open(url, pool_size=8)
        c = _credits(db)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.readline)
        out = await asyncio.gather(*(_hold_then_settle(c, f"{prefix}{i}") for i in range(count)))
        await db.close()
        return list(out)

    sys.stdout.write(json.dumps(asyncio.run(run())))


async def test_200_concurrent_holds_over_connections_and_processes_settle_exactly_50(
    pg_database: str,
) -> None:
    a = await Database.open(pg_database, pool_size=10)
    b = await Database.open(pg_database, pool_size=10)
    ca, cb = _credits(a), _credits(b)
    await ca.grant("g", "m", AFFORDABLE * COST, actor="mod")
    code = ("import sys; from tests.core.test_postgres_ledger import child_holds; "
            "child_holds(sys.argv[1], sys.argv[2], int(sys.argv[3]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, pg_database, f"p{n}-", str(HOLDS_PER_PROCESS),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        for n in range(PROCESSES)]
    for child in children:  # every child connected: release them together
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 120) == b"ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    here = 200 - PROCESSES * HOLDS_PER_PROCESS
    mine = await asyncio.gather(*(_hold_then_settle(ca if i % 2 else cb, f"own{i}")
                                  for i in range(here)))
    outcomes = list(mine)
    for child in children:
        out, err = await asyncio.wait_for(child.communicate(), 120)
        assert child.returncode == 0, err.decode()[-2000:]
        outcomes += json.loads(out)
    assert len(outcomes) == 200
    assert outcomes.count("settled") == AFFORDABLE
    assert outcomes.count("rejected") == 200 - AFFORDABLE
    assert await ca.balance("g", "m") == 0
    assert await _ledger_sum(a) == 0
    row = await a.fetchone("SELECT COUNT(*) FROM holds WHERE state = 'settled'")
    assert row is not None
    assert row[0] == AFFORDABLE
    await a.close()
    await b.close()


async def test_a_refund_raced_by_100_tasks_happens_once(pg_database: str) -> None:
    a = await Database.open(pg_database, pool_size=10)
    b = await Database.open(pg_database, pool_size=10)
    ca, cb = _credits(a, starting=10), _credits(b, starting=10)
    await ca.db.run_tx(lambda conn: ca.hold_in(conn, "g", "m", 4, "job1"))
    assert await ca.balance("g", "m") == 6
    results = await asyncio.gather(*(
        (ca if i % 2 else cb).db.run_tx(
            lambda conn, c=(ca if i % 2 else cb): c.refund_in(conn, "job1", "raced"))
        for i in range(100)))
    assert results.count(True) == 1
    assert await ca.balance("g", "m") == 10
    assert await _ledger_sum(a) == 10
    row = await a.fetchone("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'")
    assert row is not None
    assert row[0] == 1
    await a.close()
    await b.close()


async def test_revoke_never_goes_below_zero_under_concurrency(pg_database: str) -> None:
    a = await Database.open(pg_database, pool_size=10)
    b = await Database.open(pg_database, pool_size=10)
    ca, cb = _credits(a), _credits(b)
    await ca.grant("g", "m", 100, actor="mod")

    async def revoke(i: int) -> int:
        removed, balance = await (ca if i % 2 else cb).revoke("g", "m", 7, actor="mod")
        assert balance >= 0
        assert 0 <= removed <= 7
        return removed

    async def hold(i: int) -> int:
        try:
            await (cb if i % 2 else ca).db.run_tx(
                lambda conn: ca.hold_in(conn, "g", "m", 2, f"job{i}"))
        except InsufficientCredits:
            return 0
        return 2

    tasks = [revoke(i) for i in range(40)] + [hold(i) for i in range(40)]
    taken = await asyncio.gather(*tasks)
    balance = await ca.balance("g", "m")
    assert balance >= 0
    assert sum(taken) == 100 - balance
    assert await _ledger_sum(a) == balance
    await a.close()
    await b.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_unique_index_rejects_a_second_hold_row_for_one_job(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    target = request.getfixturevalue("pg_database") if backend == "postgres" else tmp_path / "l.db"
    db = await Database.open(target)
    c = _credits(db, starting=10)
    await db.run_tx(lambda conn: c.hold_in(conn, "g", "m", 3, "job1"))
    again = ("INSERT INTO ledger (guild_id, member_id, at, delta, kind, job_id, balance_after) "
             "VALUES ('g', 'm', 0, -3, 'hold', 'job1', 4)")
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        await db.execute(again)
    # other kinds for the same job, and rows with no job, are not affected
    await db.execute(again.replace("'hold'", "'refund'"))
    await db.execute(again.replace("'job1'", "NULL"))
    await db.execute(again.replace("'job1'", "NULL"))
    assert await c.balance("g", "m") == 7
    await db.close()
