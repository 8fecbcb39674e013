"""`studio db copy --from SQLITE_PATH --to postgresql://…`: move a stopped
single-machine install to Postgres (docs/scaling.md).

The SQLite file is opened read-only and must be at the latest schema (`studio db
upgrade` first otherwise). The Postgres database is migrated, must be empty, and
receives every table in one transaction (`COPY`, identity counters moved past the
copied ids). Before committing, every wallet's ledger sum is checked against its
balance and every table's row count against the source: any difference rolls the
whole copy back and raises StorageError naming the first wallet (or table) that
differs, so a copy is all or nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from core.errors import InvalidInput, StorageError
from core.storage.common import is_postgres_url, migrations, scrub_url
from core.storage.postgres import connect_direct, upgrade_postgres

# Every table of the schema, parents before children; those with identity ids.
TABLES = ("wallets", "ledger", "holds", "jobs", "cache", "guild_settings", "config_log",
          "provider_attempts", "provider_state")
_IDENTITY = ("ledger", "config_log", "provider_attempts")
_BATCH = 5000  # rows read from SQLite at a time


@dataclass(frozen=True)
class CopyReport:
    """What `copy_sqlite_to_postgres` copied: rows per table, and the wallets checked."""

    rows: dict[str, int]
    wallets: int


def copy_sqlite_to_postgres(source: Path, url: str) -> CopyReport:
    """Copy every table of the SQLite database at `source` into the (empty) Postgres
    database at `url`, in one transaction, checking the ledger before committing.

    Raises InvalidInput when `url` is not a `postgresql://` URL; StorageError (one
    line, the URL without its password) when the source is missing, not SQLite or
    not at the latest schema, the target cannot be reached or is not empty, or a
    wallet's ledger sum (or a table's row count) differs after the copy: nothing is
    then written.
    """
    if not is_postgres_url(url):
        raise InvalidInput(f"Invalid `--to`: expected a postgresql:// URL (got {url!r}).",
                           field="to")
    src = _open_source(source)
    try:
        with connect_direct(url) as conn:
            upgrade_postgres(conn, scrub_url(url))
            try:
                with conn.transaction():
                    return _copy(src, conn, source, scrub_url(url))
            except psycopg.Error as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise StorageError(f"database {scrub_url(url)}: copy failed ({first}); "
                                   "nothing was copied") from None
    finally:
        src.close()


def _open_source(source: Path) -> sqlite3.Connection:
    if not source.is_file():
        raise StorageError(f"database {source}: no such SQLite file")
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise StorageError(f"database {source}: cannot read it ({exc})") from None
    latest = migrations("sqlite")[-1][0]
    if version != latest:
        conn.close()
        raise StorageError(f"database {source}: schema version {version}, expected {latest}; "
                           f"run `studio db upgrade` on it first")
    return conn


def _copy(src: sqlite3.Connection, conn: psycopg.Connection[Any], source: Path,
          where: str) -> CopyReport:
    for table in TABLES:
        if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():  # noqa: S608 - fixed names
            raise StorageError(f"database {where}: not empty (table {table} has rows); "
                               "copy into a new, empty database")
    rows: dict[str, int] = {}
    for table in TABLES:
        columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
        names = ", ".join(columns)
        count = 0
        with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            cur = src.execute(f"SELECT {names} FROM {table}")  # noqa: S608 - schema names
            while batch := cur.fetchmany(_BATCH):
                for row in batch:
                    copy.write_row(row)
                count += len(batch)
        copied = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
        if copied is None or int(copied[0]) != count:
            raise StorageError(f"database {where}: table {table} has "
                               f"{copied[0] if copied else 0} rows after the copy, the source "
                               f"{count}; nothing was copied")
        rows[table] = count
    for table in _IDENTITY:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                     f"COALESCE(MAX(id), 0) + 1, false) FROM {table}")
    bad = conn.execute(
        "SELECT w.guild_id, w.member_id, w.balance, COALESCE(l.total, 0) FROM wallets w "
        "LEFT JOIN (SELECT guild_id, member_id, SUM(delta) AS total FROM ledger "
        "GROUP BY guild_id, member_id) l ON l.guild_id = w.guild_id AND l.member_id = w.member_id "
        "WHERE w.balance <> COALESCE(l.total, 0) ORDER BY w.guild_id, w.member_id LIMIT 1"
    ).fetchone()
    if bad is not None:
        raise StorageError(
            f"wallet {bad[1]} in server {bad[0]}: ledger sum {bad[3]} differs from its balance "
            f"{bad[2]} in {source}; nothing was copied")
    return CopyReport(rows, rows["wallets"])
