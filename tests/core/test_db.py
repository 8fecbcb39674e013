"""The database thread: one transaction path, reads in the same line as writes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from core.errors import StorageError
from core.storage.db import Database


def _db_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("luneo-db")}


async def _table(db: Database) -> None:
    await db.run_tx(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))


async def test_a_read_waits_for_a_transaction_in_flight(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "d.db")
    await _table(db)
    halfway, release = threading.Event(), threading.Event()

    def two_rows(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        halfway.set()
        release.wait(5)
        conn.execute("INSERT INTO t VALUES (2)")

    write = asyncio.create_task(db.run_tx(two_rows))
    assert await asyncio.to_thread(halfway.wait, 5)
    read = asyncio.create_task(db.fetchone("SELECT COUNT(*) FROM t"))
    await asyncio.sleep(0.05)
    assert not read.done()  # queued behind the transaction, not reading half of it
    release.set()
    await write
    row = await read
    assert row is not None
    assert row[0] == 2
    await db.close()


async def test_a_failed_transaction_rolls_back_and_skips_after_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "d.db")
    await _table(db)
    ran: list[str] = []

    def fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        db.after_commit(lambda: ran.append("failed"))
        raise ValueError("boom")

    def works(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t VALUES (2)")
        db.after_commit(lambda: ran.append("committed"))
        return 7

    with pytest.raises(ValueError, match="boom"):
        await db.run_tx(fails)
    assert await db.run_tx(works) == 7
    assert ran == ["committed"]
    assert [tuple(r) for r in await db.fetchall("SELECT x FROM t")] == [(2,)]
    await db.close()


async def test_close_stops_the_database_thread(tmp_path: Path) -> None:
    before = _db_threads()
    db = await Database.open(tmp_path / "d.db")
    (thread,) = _db_threads() - before
    await db.close()
    await db.close()  # a second close is a no-op
    assert not thread.is_alive()


async def test_a_failed_open_leaves_no_database_thread(tmp_path: Path) -> None:
    before = _db_threads()
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not an SQLite database file " * 4)
    with pytest.raises(StorageError, match="file is not a database"):
        await Database.open(bad)
    assert not {t for t in _db_threads() - before if t.is_alive()}


async def _group(db: Database, fns: list) -> list:  # type: ignore[type-arg]
    """Queue every transaction of `fns` while the database thread is busy, so they
    reach it together and share one group commit; returns their outcomes in order."""
    busy, release = threading.Event(), threading.Event()

    def hold_the_thread(conn: sqlite3.Connection) -> None:
        busy.set()
        release.wait(5)

    sizes: list[int] = []
    run_group = db._thread.run_group
    assert run_group is not None

    def spy(work: list) -> list:  # type: ignore[type-arg]
        sizes.append(len(work))
        return run_group(work)

    db._thread.run_group = spy
    first = asyncio.create_task(db.run_tx(hold_the_thread))
    assert await asyncio.to_thread(busy.wait, 5)
    tasks = [asyncio.create_task(db.run_tx(fn)) for fn in fns]
    await asyncio.sleep(0.02)  # every task has queued its transaction
    release.set()
    await first
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert sizes == [len(fns)]  # they did share one group commit
    return outcomes


async def test_group_commit_rolls_back_only_the_transaction_that_raised(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "d.db")
    await _table(db)
    seen: list[int] = []

    def insert(x: int):  # type: ignore[no-untyped-def]
        def tx(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (x,))
            db.after_commit(lambda: seen.append(x))
            if x == 3:
                raise ValueError("three")
            return x

        return tx

    outcomes = await _group(db, [insert(x) for x in range(1, 6)])
    assert outcomes[:2] == [1, 2]
    assert outcomes[3:] == [4, 5]
    assert isinstance(outcomes[2], ValueError)
    rows = await db.fetchall("SELECT x FROM t ORDER BY x")
    assert [r[0] for r in rows] == [1, 2, 4, 5]  # 3 rolled back alone, the rest committed
    assert sorted(seen) == [1, 2, 4, 5]  # after_commit only for what committed
    await db.close()


async def test_group_commit_reruns_each_alone_when_the_transaction_is_lost(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "d.db")
    await _table(db)

    def insert(x: int):  # type: ignore[no-untyped-def]
        def tx(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (x,))
            if x == 2:
                conn.execute("ROLLBACK")  # ends the whole (group) transaction
            return x

        return tx

    outcomes = await _group(db, [insert(x) for x in (1, 2, 3)])
    assert outcomes[0] == 1
    assert outcomes[2] == 3
    assert isinstance(outcomes[1], sqlite3.Error)
    rows = await db.fetchall("SELECT x FROM t ORDER BY x")
    assert [r[0] for r in rows] == [1, 3]  # 1 was lost with the group and redone alone
    await db.close()


async def test_a_transaction_cancelled_before_it_starts_never_runs(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "d.db")
    await _table(db)
    busy, release = threading.Event(), threading.Event()
    first = asyncio.create_task(db.run_tx(lambda c: (busy.set(), release.wait(5))))
    assert await asyncio.to_thread(busy.wait, 5)
    doomed = asyncio.create_task(db.run_tx(lambda c: c.execute("INSERT INTO t VALUES (9)")))
    await asyncio.sleep(0.02)
    doomed.cancel()
    release.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await doomed
    row = await db.fetchone("SELECT COUNT(*) FROM t")
    assert row is not None
    assert row[0] == 0
    await db.close()
