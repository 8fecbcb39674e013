"""SQLite connection: WAL, numbered migrations tracked with PRAGMA user_version.

One aiosqlite connection per process; writes go through `transaction()`, which
serialises them with an asyncio lock and uses `BEGIN IMMEDIATE` so a write that
reads first cannot race another process either.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)
T = TypeVar("T")

_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every bundled migration, in order."""
    folder = resources.files("core.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._after_commit: list[Callable[[], None]] = []

    @classmethod
    async def open(cls, path: Path, *, upgrade: bool = True) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=30)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=30000")
        db = cls(conn, path)
        if upgrade:
            await db.upgrade()
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def upgrade(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        applied: list[str] = []
        async with self._lock:
            current = await self.version()
            for number, name, sql in migrations():
                if number <= current:
                    continue
                await self.conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in _split_sql(sql):
                        await self.conn.execute(stmt)
                    await self.conn.execute(f"PRAGMA user_version = {number}")
                    await self.conn.execute("COMMIT")
                except BaseException:
                    await self.conn.execute("ROLLBACK")
                    raise
                log.info("applied migration %s", name)
                applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A short write transaction (BEGIN IMMEDIATE ... COMMIT), serialised in-process."""
        async with self._lock:
            self._after_commit.clear()
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self._after_commit.clear()
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")
            for cb in self._after_commit:
                cb()
            self._after_commit.clear()

    async def run_tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` inside BEGIN IMMEDIATE ... COMMIT in one trip to the database
        thread (rolled back if it raises). The hot paths (hold, settle, refund) use this:
        one thread hand-off per transaction instead of one per statement.

        Uses aiosqlite's `_execute` (pinned range in pyproject) to run a function on its
        connection thread; the connection is only ever touched from that thread.
        """

        def tx(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._lock:
            self._after_commit.clear()
            try:
                result: T = await self.conn._execute(tx, self.conn._conn)
            except BaseException:
                self._after_commit.clear()
                raise
            for cb in self._after_commit:
                cb()
            self._after_commit.clear()
            return result

    def after_commit(self, cb: Callable[[], None]) -> None:
        """Run `cb` once the current transaction commits (never if it rolls back)."""
        self._after_commit.append(cb)

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.conn.execute_fetchall(sql, tuple(args))
        return next(iter(rows), None)

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return list(await self.conn.execute_fetchall(sql, tuple(args)))

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        """A single autocommit write."""
        async with self._lock:
            await self.conn.execute(sql, tuple(args))


def _split_sql(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
