"""The Postgres backend of `Database` (issue 12): the same API as SQLite, migrations
under an advisory lock, `?` placeholders, rows by name, passwords never shown, and
the engine's own SQL (jobs, cache, stats, guild config) running on it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.errors import StorageError
from core.storage.db import Connection, Database, migrations, scrub_url, url_secrets
from core.storage.postgres import PostgresDatabase, to_psycopg

LATEST = migrations("postgres")[-1][0]


def test_both_backends_number_their_migrations_the_same() -> None:
    assert [n for n, _, _ in migrations("sqlite")] == [n for n, _, _ in migrations("postgres")]


def test_placeholders_are_translated_outside_literals_and_comments() -> None:
    sql = "SELECT '?', \"a?\", x % 2, 'it''s ?' FROM t WHERE a = ? -- why?\nAND b = ? /* ? */"
    assert to_psycopg(sql) == (
        "SELECT '?', \"a?\", x %% 2, 'it''s ?' FROM t WHERE a = %s -- why?\nAND b = %s /* ? */")


def test_a_password_in_the_url_is_scrubbed() -> None:
    url = "postgresql://luneo:s3cret-pw@db.internal:5432/luneo?sslmode=require&password=other-pw"
    shown = scrub_url(url)
    assert "s3cret-pw" not in shown
    assert "other-pw" not in shown
    assert shown.startswith("postgresql://luneo:***@db.internal:5432/luneo?")
    assert sorted(url_secrets(url)) == ["other-pw", "s3cret-pw"]
    assert url_secrets("data/studio.db") == []


async def test_an_unreachable_server_is_one_line_without_the_password(pg_url: str) -> None:
    port = int(pg_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{port + 1 if port < 65535 else 1}/x"
    with pytest.raises(StorageError) as info:
        await Database.open(url)
    message = str(info.value)
    assert "s3cret-pw" not in message
    assert message.startswith("database postgresql://postgres:***@127.0.0.1:")
    assert "cannot connect" in message
    assert "\n" not in message


def test_logging_scrubs_the_database_password(make_settings: Callable[..., Any]) -> None:
    from core.logging import formatter

    s = make_settings(storage__database="postgresql://luneo:s3cret-pw@db/luneo")
    line = formatter(s, json_lines=False).format(logging.LogRecord(
        "x", logging.INFO, __file__, 1, "connecting to %s", ("luneo:s3cret-pw@db",), None))
    assert "s3cret-pw" not in line


async def test_several_processes_opening_a_new_database_migrate_it_once(pg_database: str) -> None:
    dbs = await asyncio.gather(*(Database.open(pg_database, upgrade=False) for _ in range(4)))
    try:
        applied = await asyncio.gather(*(db.upgrade() for db in dbs))
        assert sorted(applied, key=len) == [[], [], [], [n for _, n, _ in migrations("postgres")]]
        assert [await db.version() for db in dbs] == [LATEST] * 4
        more = await asyncio.gather(*(Database.open(pg_database) for _ in range(3)))
        for db in more:
            await db.close()
    finally:
        for db in dbs:
            await db.close()


async def test_the_same_api_as_sqlite(pg_database: str) -> None:
    db = await Database.open(pg_database, pool_size=3)
    assert isinstance(db, PostgresDatabase)
    assert db.dialect == "postgres"
    await db.run_tx(lambda c: c.execute("CREATE TABLE t (x INTEGER, name TEXT)"))
    ran: list[str] = []

    def fails(conn: Connection) -> None:
        conn.execute("INSERT INTO t VALUES (?, ?)", (1, "one"))
        db.after_commit(lambda: ran.append("failed"))
        raise ValueError("boom")

    def works(conn: Connection) -> int:
        cur = conn.execute("INSERT INTO t VALUES (?, ?), (?, ?)", (2, "two", 3, "100%"))
        db.after_commit(lambda: ran.append("committed"))
        return cur.rowcount

    with pytest.raises(ValueError, match="boom"):
        await db.run_tx(fails)
    assert await db.run_tx(works) == 2
    assert ran == ["committed"]
    rows = await db.fetchall("SELECT x, name FROM t WHERE name LIKE '%' ORDER BY x")
    assert [tuple(r) for r in rows] == [(2, "two"), (3, "100%")]
    assert rows[1]["name"] == "100%"
    assert dict(rows[0]) == {"x": 2, "name": "two"}
    total = await db.fetchone("SELECT SUM(x) AS s, AVG(x) AS a FROM t")
    assert total is not None
    assert (total["s"], total["a"]) == (5, 2.5)  # numeric loads as int or float
    assert await db.fetchone("SELECT x FROM t WHERE x = ?", (9,)) is None
    before = {t for t in threading.enumerate() if t.name.startswith("luneo-db")}
    assert before
    await db.close()
    await db.close()  # a second close is a no-op
    assert not [t for t in before if t.is_alive()]


async def test_the_engine_runs_on_postgres(
    pg_database: str, engine_factory: Callable[..., Awaitable[Any]], photo_png: bytes,
) -> None:
    from core.engine import JobRequest
    from core.stats import collect_stats, daily_figures

    engine = await engine_factory(storage__database=pg_database, credits__starting=100)
    assert engine.db.dialect == "postgres"
    req = JobRequest("g", "m", "palette", {"colors": 4}, image=photo_png, source="test")
    first = await engine.run(req)
    assert first.ok
    again = await engine.run(req)
    assert again.ok
    assert again.cached  # the cache row written by the first run (ON CONFLICT upsert)
    stats = await collect_stats(engine.db)
    assert sum(r["runs"] for r in stats["tools"]) == 2
    assert stats["ledger"]["spent"] == first.credits_charged + again.credits_charged
    chart = await daily_figures(engine.db)
    assert sum(chart["runs"]["palette"]) == 2
    await engine.guild_config.set("g", "daily_credits", 7, actor="admin")
    assert (await engine.guild_config.log("g"))[0]["key"] == "daily_credits"
    w = await engine.credits.wallet("g", "m")
    assert w.balance == 100 - first.credits_charged - again.credits_charged
    led = await engine.db.fetchone(
        "SELECT SUM(delta) FROM ledger WHERE guild_id = 'g' AND member_id = 'm'")
    assert led is not None
    assert led[0] == w.balance
