"""The database behind one small API, on SQLite (the default) or Postgres.

`Database.open(target)` picks the backend in one place: a path is an SQLite file
(this module), a `postgresql://` URL is a Postgres server (core/storage/postgres.py).
Both run the same `?`-placeholder SQL: a write is `run_tx(fn)`, where `fn(conn)`
gets a `Connection` whose `execute(sql, params)` returns a cursor (fetchone,
fetchall, rowcount) with rows indexable by position and by column name.

SQLite: one plain `sqlite3` connection per process, owned by one database thread (a
`DatabaseThread`, which hands results back in batches): every statement, read or
write, runs on that thread, one at a time. Transactions queued together share one
commit (group commit, core/storage/transactions.py). A write is `run_tx(fn)`: the whole transaction (`BEGIN IMMEDIATE`,
`fn(conn)`, `COMMIT`, or `ROLLBACK` if `fn` raises) runs in one trip to the thread,
so no other statement from this process can interleave with it, and `BEGIN
IMMEDIATE` keeps a write that reads first from racing another process.

Start-up is safe with several processes on one new file: the schema version is
read and every pending migration applied inside one `BEGIN IMMEDIATE`
transaction, so a second process waits for the write lock and then finds the
work done. Any start-up failure is a `StorageError` with one line naming the
file and the problem, and leaves no database thread running.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core.errors import StorageError
from core.storage.common import is_postgres_url, migrations, scrub_url, url_secrets
from core.storage.db_thread import DatabaseThread
from core.storage.transactions import CallbackSlot, Tx, run_group

if TYPE_CHECKING:
    from core.config import Settings

__all__ = ["Connection", "Cursor", "Database", "Row", "SqliteDatabase", "describe",
           "is_postgres_url", "migrations", "open_database", "scrub_url", "sql_statements",
           "upgrade_connection", "url_secrets"]
log = logging.getLogger(__name__)
T = TypeVar("T")
# What `fetchone` / `fetchall` return: `sqlite3.Row`, or a Postgres row (a tuple that
# also indexes by column name); both support `row[0]`, `row["name"]`, `dict(row)`.
Row = Any

_BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's write lock
# Per-connection settings (WAL is a property of the file, set once in `_prepare_file`).
_CONNECTION_PRAGMAS = (
    f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


class Cursor(Protocol):
    """What `Connection.execute` returns (an `sqlite3.Cursor` or a psycopg cursor)."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """Every remaining row."""


class Connection(Protocol):
    """What a `run_tx` function gets: `execute(sql, params)` with `?` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor:
        """Run one statement with `?` placeholders bound to `parameters`."""


async def open_database(settings: Settings, *, upgrade: bool = True) -> Database:
    """The configured database (`[storage] database`: a path or a `postgresql://` URL,
    `[storage] pool_size`), upgraded unless `upgrade=False`. Raises StorageError."""
    return await Database.open(settings.database_target, upgrade=upgrade,
                               pool_size=settings.storage.pool_size)


def describe(target: Path | str) -> str:
    """`target` for messages: the file path, or the URL without its password."""
    return scrub_url(target) if isinstance(target, str) and is_postgres_url(target) else str(target)


class Database(Protocol):
    """The storage API both backends provide (`SqliteDatabase` here, `PostgresDatabase`
    in core/storage/postgres.py); `Database.open` chooses one.

    `dialect` is "sqlite" or "postgres", for the rare statement written per backend.
    """

    dialect: str

    @classmethod
    async def open(cls, target: Path | str, *, upgrade: bool = True,
                   pool_size: int = 10) -> Database:
        """Open the database at `target`: an SQLite file path (created if needed) or a
        `postgresql://` URL (a pool of up to `pool_size` connections). Migrations are
        applied unless `upgrade=False`.

        Raises StorageError (one line naming the file or the scrubbed URL, and the problem).
        """
        if is_postgres_url(target):
            from core.storage.postgres import PostgresDatabase

            return await PostgresDatabase.connect(str(target), upgrade=upgrade,
                                                  pool_size=pool_size)
        return await SqliteDatabase.open_file(Path(target), upgrade=upgrade)

    async def close(self) -> None:
        """Release the connections and threads; closing twice is a no-op."""

    async def version(self) -> int:
        """The schema version: the number of the last migration applied."""

    async def upgrade(self) -> list[str]:
        """Apply pending migrations; returns the names applied. Raises StorageError."""

    async def run_tx(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in one transaction (rolled back if it raises), then the
        `after_commit` callbacks it registered; returns what `fn` returned."""

    def after_commit(self, cb: Callable[[], None]) -> None:
        """Run `cb` once the current transaction commits (never if it rolls back).
        Called from inside a `run_tx` function."""

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a read, or None."""

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a read."""

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        """A single write statement, in its own transaction."""


class SqliteDatabase(Database):
    """One `sqlite3` connection on its own thread; see the module docstring."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, thread: DatabaseThread, path: Path) -> None:
        self._conn = conn  # touched only on `self._thread`
        self._thread = thread
        self._callbacks = CallbackSlot()  # the running transaction's after_commit list
        thread.run_group = lambda work: run_group(conn, work)
        self.path = path
        self._closed = False

    @classmethod
    async def open_file(cls, path: Path, *, upgrade: bool = True) -> SqliteDatabase:
        """Open (creating if needed) the database at `path`, upgraded unless `upgrade=False`.

        Start-up work (folder, WAL mode, migrations) runs first on a short-lived plain
        connection. Safe when several processes open a new file at once: migrations
        run in one `BEGIN IMMEDIATE` transaction (see `upgrade_connection`).

        Raises StorageError (one line naming the file and the problem) when the folder
        cannot be created, the file is not a usable SQLite database, or it cannot be
        upgraded; the database thread is then already stopped.
        """
        await asyncio.to_thread(_prepare_file, path, upgrade)
        thread = DatabaseThread()
        try:
            conn = await thread.run(lambda: _connect(path))
        except BaseException:
            await asyncio.to_thread(thread.stop)  # the connect has ended
            raise
        return cls(conn, thread, path)

    async def close(self) -> None:
        """Close the connection and stop the database thread (after queued work);
        when this returns the thread has ended. Closing twice is a no-op."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._call(self._conn.close)
        finally:
            await asyncio.to_thread(self._thread.stop)

    async def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the database thread."""
        return await self._thread.run(fn)

    async def version(self) -> int:
        """The schema version (PRAGMA user_version): the number of the last migration."""
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def upgrade(self) -> list[str]:
        """Apply pending migrations in one write transaction; returns the names applied
        (empty when another process got there first). Raises StorageError."""
        return await self._call(lambda: upgrade_connection(self._conn, self.path))

    async def run_tx(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` as one transaction on the database thread (rolled back if it
        raises), then the `after_commit` callbacks it registered. Every write goes
        through here. Transactions queued together share one commit (group commit,
        `core.storage.transactions`): each still commits or rolls back as a whole and
        its caller hears of it only after the commit that contains it.
        """
        result, callbacks = await self._thread.run(Tx(self._conn, fn, self._callbacks),
                                                   grouped=True)
        for cb in callbacks:
            cb()
        return result

    def after_commit(self, cb: Callable[[], None]) -> None:
        """Run `cb` once the current transaction commits (never if it rolls back).
        Called from inside a `run_tx` function."""
        self._callbacks.current.append(cb)

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a read, or None."""
        params = tuple(args)
        row: Row | None = await self._call(lambda: self._conn.execute(sql, params).fetchone())
        return row

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a read."""
        params = tuple(args)
        rows: list[Row] = await self._call(lambda: self._conn.execute(sql, params).fetchall())
        return rows

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        """A single write statement, in its own transaction."""
        params = tuple(args)
        await self.run_tx(lambda conn: conn.execute(sql, params))


def _connect(path: Path) -> sqlite3.Connection:
    """The long-lived connection (autocommit mode: transactions are explicit), opened
    on the database thread that will be its only user. Raises StorageError."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise StorageError(f"database {path}: cannot open ({exc})") from exc
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _CONNECTION_PRAGMAS:
            conn.execute(pragma)
    except sqlite3.Error as exc:
        conn.close()
        raise StorageError(f"database {path}: cannot open ({exc})") from exc
    return conn


def _prepare_file(path: Path, upgrade: bool) -> None:
    """Create the folder of `path`, check that the file opens as SQLite, switch it to
    WAL and (if asked) upgrade it, on a plain connection that is always closed.
    Raises StorageError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"database {path}: cannot create its folder {path.parent} ({exc.strerror or exc})"
        ) from exc
    if path.is_dir():
        raise StorageError(f"database {path}: is a folder, not a database file")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise StorageError(f"database {path}: cannot open ({exc})") from exc
    try:
        try:
            conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
            _retry_when_locked(lambda: _use_wal(conn))
        except sqlite3.Error as exc:
            raise StorageError(f"database {path}: cannot open ({exc})") from exc
        if upgrade:
            upgrade_connection(conn, path)
    finally:
        conn.close()


def _use_wal(conn: sqlite3.Connection) -> None:
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        conn.execute("PRAGMA journal_mode=WAL")


def _retry_when_locked(step: Callable[[], T], timeout_s: float = _BUSY_TIMEOUT_S) -> T:
    """Run `step`, again after a short pause while SQLite says the database is locked.

    Switching a new file to WAL takes an exclusive lock, and when several processes
    start at once SQLite can report "database is locked" there without waiting for
    its busy timeout; the switch is retried until `timeout_s` has passed.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def upgrade_connection(conn: sqlite3.Connection, path: Path | str = "") -> list[str]:
    """Apply pending migrations on `conn` (autocommit mode) in one BEGIN IMMEDIATE
    transaction: the version is read under the write lock, so a second process waits
    for the first and then finds nothing to do. Returns the migration names applied.

    Raises StorageError naming the migration when one fails (nothing is applied), or
    when the database is newer than this program.
    """
    bundled = migrations()
    latest = bundled[-1][0] if bundled else 0
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise StorageError(f"database {path}: cannot upgrade ({exc})") from exc
    applied: list[str] = []
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > latest:
            raise StorageError(
                f"database {path}: schema version {current} is newer than this program "
                f"knows ({latest}); upgrade Luneo AI Studio or use another database"
            )
        for number, name, sql in bundled:
            if number <= current:
                continue
            try:
                for stmt in sql_statements(sql):
                    conn.execute(stmt)
            except sqlite3.Error as exc:
                raise StorageError(f"database {path}: migration {name} failed ({exc})") from exc
            applied.append(name)
        if applied:
            conn.execute(f"PRAGMA user_version = {latest}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def sql_statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time, cut where SQLite's own tokenizer
    (`sqlite3.complete_statement`) says a statement ends, so semicolons inside string
    literals, comments and trigger bodies stay where they are. A trailing statement
    without its semicolon is yielded as is.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()  # SQLite runs a comments-only string as a no-op
