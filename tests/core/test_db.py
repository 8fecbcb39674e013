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
