"""The Postgres backend of `Database` (`[storage] database = "postgresql://…"`).

psycopg 3 with a `psycopg_pool.ConnectionPool` and a thread pool of the same size:
`run_tx(fn)` takes one pooled connection on a worker thread and runs `fn(conn)` in
one transaction at READ COMMITTED (committed when `fn` returns, rolled back if it
raises), then the `after_commit` callbacks it registered. The ledger's conditional
statements (`UPDATE … WHERE balance >= ? RETURNING`, `UPDATE holds … WHERE state =
'held'`) re-check their WHERE on the row version they waited for at READ COMMITTED,
so they stay exactly-once without SERIALIZABLE (RESEARCH.md §E).

`fn` sees the same API as on SQLite: `conn.execute(sql, params)` with `?`
placeholders (translated to psycopg's `%s` outside string literals, quoted names
and comments), returning a cursor whose rows index by position and by column name.
`numeric` values (e.g. `SUM` of a BIGINT column) load as int when whole, else float.

Migrations live in core/storage/migrations/postgres, numbered like the SQLite ones;
the version is the `schema_version` table, and `open` applies pending migrations in
one transaction under an advisory lock, so several processes starting together
apply each migration once. Passwords in the URL never reach a log line or an error
message (`scrub_url`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from core.errors import StorageError
from core.storage.common import is_postgres_url, migrations, scrub_url, url_secrets

if TYPE_CHECKING:  # the API it provides (core/storage/db.py), for the type checker
    from core.storage.db import Connection, Cursor, Row

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATION_LOCK = 0x4C554E454F0001  # pg_advisory_xact_lock key held while migrating
_CONNECT_TIMEOUT_S = 10


class _NumericLoader(Loader):
    """`numeric` as int when whole (SUM of integers), else float (never Decimal)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode("ascii")
        try:
            return int(text)
        except ValueError:
            return float(text)


class PgRow(tuple[Any, ...]):
    """A result row: a tuple that also indexes by column name, with `keys()` (so
    `dict(row)` works as with `sqlite3.Row`)."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}  # noqa: RUF012 - set per column list by `_row_class`

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._names)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    return type("PgRow", (PgRow,), {"__slots__": (), "_names": names,
                                     "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    names = tuple(c.name for c in cursor.description or ())
    cls = _row_class(names)
    return cls  # PgRow(values) builds the row


@functools.lru_cache(maxsize=2048)
def to_psycopg(sql: str) -> str:
    """`sql` with `?` placeholders as psycopg's `%s` and every `%` doubled, leaving `?`
    inside string literals, quoted names and comments alone."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":  # a literal or quoted name: copy to its closing quote ('' escapes)
            j = sql.find(ch, i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == ch:
                j = sql.find(ch, j + 2)
            j = n - 1 if j == -1 else j
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
            continue
        if sql.startswith("--", i) or sql.startswith("/*", i):
            j = sql.find("\n" if ch == "-" else "*/", i + 2)
            j = n if j == -1 else j + (1 if ch == "-" else 2)
            out.append(sql[i:j].replace("%", "%%"))
            i = j
            continue
        out.append("%s" if ch == "?" else "%%" if ch == "%" else ch)
        i += 1
    return "".join(out)


class PgConnection:
    """The connection a `run_tx` function gets: `?` SQL on one psycopg connection."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw  # the psycopg connection, for Postgres-only work (COPY, LISTEN)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """Run one statement with `?` placeholders bound to `parameters`."""
        return self.raw.execute(to_psycopg(sql), tuple(parameters))


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.row_factory = _row_factory
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED


def _first_line(exc: BaseException, url: str) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


class PostgresDatabase:
    """The `Database` API (core/storage/db.py) on a connection pool plus a thread pool
    of the same size; see the module docstring."""

    dialect = "postgres"

    def __init__(self, pool: ConnectionPool[Any], threads: ThreadPoolExecutor, url: str) -> None:
        self._pool = pool
        self._threads = threads
        self._url = url
        self.where = scrub_url(url)  # the URL without its password, for messages
        self._local = threading.local()  # the after-commit callbacks of this thread's tx
        self._closed = False

    @classmethod
    async def open(cls, target: Path | str, *, upgrade: bool = True,
                   pool_size: int = 10) -> PostgresDatabase:
        """`connect` to the `postgresql://` URL `target`. Raises StorageError (also when
        `target` is not such a URL)."""
        if not is_postgres_url(target):
            raise StorageError(f"database {target}: not a postgresql:// URL")
        return await cls.connect(str(target), upgrade=upgrade, pool_size=pool_size)

    @classmethod
    async def connect(cls, url: str, *, upgrade: bool = True,
                      pool_size: int = 10) -> PostgresDatabase:
        """Connect to `url`, apply pending migrations (unless `upgrade=False`) and open a
        pool of 1..`pool_size` connections.

        Raises StorageError (one line, the URL without its password) when the server
        cannot be reached, refuses the login, or a migration fails.
        """
        where = scrub_url(url)
        if upgrade:
            await asyncio.to_thread(_upgrade_url, url)
        else:
            await asyncio.to_thread(_check_reachable, url)
        pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, configure=_configure,
            kwargs={"connect_timeout": _CONNECT_TIMEOUT_S}, name="luneo-db")
        try:
            await asyncio.to_thread(pool.open, True, _CONNECT_TIMEOUT_S)
        except (PoolTimeout, psycopg.Error) as exc:
            await asyncio.to_thread(pool.close)
            raise StorageError(f"database {where}: cannot connect ({_first_line(exc, url)})"
                               ) from None
        threads = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="luneo-db")
        return cls(pool, threads, url)

    async def close(self) -> None:
        """Close the pool and stop the worker threads (after queued work); a second
        close is a no-op."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.to_thread(self._threads.shutdown)
        finally:
            await asyncio.to_thread(self._pool.close)

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn)

    async def version(self) -> int:
        """The schema version: the `schema_version` table (0 before any migration)."""
        return await self._call(lambda: _version_url(self._url))

    async def upgrade(self) -> list[str]:
        """Apply pending migrations under the migration advisory lock; returns the names
        applied (empty when another process got there first). Raises StorageError."""
        return await self._call(lambda: _upgrade_url(self._url))

    async def run_tx(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in one READ COMMITTED transaction on a pooled connection, on a
        worker thread (rolled back if it raises), then its `after_commit` callbacks."""

        def tx() -> tuple[T, list[Callable[[], None]]]:
            self._local.callbacks = []
            try:
                with self._pool.connection() as raw:  # commits on exit, rolls back on error
                    result = fn(PgConnection(raw))
                return result, self._local.callbacks
            finally:
                self._local.callbacks = None

        result, callbacks = await self._call(tx)
        for cb in callbacks:
            cb()
        return result

    def after_commit(self, cb: Callable[[], None]) -> None:
        """Run `cb` once the current transaction commits (never if it rolls back).
        Called from inside a `run_tx` function (on its worker thread)."""
        self._local.callbacks.append(cb)

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        """The first row of a read, or None."""
        params = tuple(args)
        return await self.run_tx(lambda c: c.execute(sql, params).fetchone())

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        """Every row of a read."""
        params = tuple(args)
        return await self.run_tx(lambda c: c.execute(sql, params).fetchall())

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        """A single write statement, in its own transaction."""
        params = tuple(args)
        await self.run_tx(lambda conn: conn.execute(sql, params))


def connect_direct(url: str) -> psycopg.Connection[Any]:
    """A plain psycopg connection to `url` (not pooled; rows by name, numeric as
    int/float) for start-up and maintenance work. Raises StorageError (one line, the
    URL without its password) when it cannot connect."""
    try:
        conn = psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StorageError(f"database {scrub_url(url)}: cannot connect "
                           f"({_first_line(exc, url)})") from None
    _configure(conn)
    return conn


def _check_reachable(url: str) -> None:
    connect_direct(url).close()


def _version_url(url: str) -> int:
    with connect_direct(url) as conn:
        return _version(conn)


def _version(conn: psycopg.Connection[Any]) -> int:
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _upgrade_url(url: str) -> list[str]:
    with connect_direct(url) as conn:
        return upgrade_postgres(conn, scrub_url(url))


def upgrade_postgres(conn: psycopg.Connection[Any], where: str = "") -> list[str]:
    """Apply pending Postgres migrations on `conn` in one transaction, holding the
    migration advisory lock, so a second process waits and then finds nothing to do.
    Returns the migration names applied.

    Raises StorageError naming the migration when one fails (nothing is applied), or
    when the database is newer than this program.
    """
    bundled = migrations("postgres")
    latest = bundled[-1][0] if bundled else 0
    applied: list[str] = []
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = _version(conn)
            if current > latest:
                raise StorageError(
                    f"database {where}: schema version {current} is newer than this program "
                    f"knows ({latest}); upgrade Luneo AI Studio or use another database")
            for number, name, sql in bundled:
                if number <= current:
                    continue
                try:
                    conn.execute(sql.encode())  # bytes: no placeholder parsing
                except psycopg.Error as exc:
                    raise StorageError(f"database {where}: migration {name} failed "
                                       f"({_first_line(exc, '')})") from None
                applied.append(name)
            if applied:
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (latest,))
    except psycopg.Error as exc:
        raise StorageError(f"database {where}: cannot upgrade ({_first_line(exc, '')})") from None
    for name in applied:
        log.info("applied migration %s", name)
    return applied
