"""`studio db copy --from SQLITE_PATH --to postgresql://…` (issue 12): a stopped
install's SQLite database, made by running real jobs through the engine, moves to an
empty Postgres database whole, or not at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.engine import JobRequest
from core.storage.copy import TABLES
from core.storage.db import Database

MEMBERS = ("alice", "bob", "carol")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no config.toml here: `studio` runs on defaults
    monkeypatch.delenv("LUNEO_CONFIG", raising=False)
    return tmp_path


async def _install(engine_factory: Callable[..., Awaitable[Any]], photo_png: bytes,
                   tmp_path: Path) -> Path:
    """A single-machine install after some use: jobs (one served from the cache), a
    refund, grants, a revoke, a daily claim and a server setting; then stopped."""
    engine = await engine_factory(credits__starting=20)
    for i, member in enumerate(MEMBERS):
        for tool, params in (("palette", {"colors": 4}), ("crop", {"ratio": "1:1"})):
            result = await engine.run(JobRequest("g", member, tool, params, image=photo_png))
            assert result.ok
        await engine.credits.grant("g", member, 5 + i, actor="mod", reason="prize")
    assert (await engine.run(JobRequest("g", "alice", "palette", {"colors": 4},
                                        image=photo_png))).cached
    await engine.credits.revoke("g", "bob", 3, actor="mod")
    await engine.credits.claim_daily("g", "carol")
    c = engine.credits
    await engine.db.run_tx(lambda conn: c.hold_in(conn, "g", "carol", 2, "job-refunded"))
    await engine.db.run_tx(lambda conn: c.refund_in(conn, "job-refunded", "provider failed"))
    await engine.guild_config.set("g", "daily_credits", 9, actor="admin")
    await engine.close()
    return tmp_path / "studio.db"


async def _snapshot(target: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    db = await Database.open(target)
    try:
        return {t: sorted(tuple(r) for r in await db.fetchall(f"SELECT * FROM {t}"))  # noqa: S608
                for t in TABLES}
    finally:
        await db.close()


async def test_copy_moves_every_row_and_the_copy_keeps_working(
    engine_factory: Callable[..., Awaitable[Any]], photo_png: bytes, tmp_path: Path,
    pg_database: str, workdir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    source = await _install(engine_factory, photo_png, tmp_path)
    before = await _snapshot(source)
    assert before["ledger"]
    assert before["jobs"]
    assert main(["db", "copy", "--from", str(source), "--to", pg_database]) == 0
    out = capsys.readouterr().out
    assert "every wallet's ledger sum matches its balance (3 wallets)" in out
    assert await _snapshot(pg_database) == before  # every row, every column, as it was
    # the Postgres install carries on: balances, history, the cache, new ledger ids
    engine = await engine_factory(storage__database=pg_database, credits__starting=20)
    for member in MEMBERS:
        wallet = before["wallets"][[w[1] for w in before["wallets"]].index(member)]
        assert await engine.credits.balance("g", member) == wallet[2]
    again = await engine.run(JobRequest("g", "bob", "crop", {"ratio": "1:1"}, image=photo_png))
    assert again.cached
    await engine.credits.grant("g", "bob", 1, actor="mod")  # a new ledger id past the copied
    row = await engine.db.fetchone("SELECT MAX(id) FROM ledger")
    assert row is not None
    assert row[0] > max(r[0] for r in before["ledger"])


async def test_copy_refuses_a_target_that_is_not_empty(
    engine_factory: Callable[..., Awaitable[Any]], photo_png: bytes, tmp_path: Path,
    pg_database: str, workdir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    source = await _install(engine_factory, photo_png, tmp_path)
    assert main(["db", "copy", "--from", str(source), "--to", pg_database]) == 0
    copied = await _snapshot(pg_database)
    capsys.readouterr()
    assert main(["db", "copy", "--from", str(source), "--to", pg_database]) == 1
    err = capsys.readouterr().err
    assert "not empty (table wallets has rows)" in err
    assert len(err.strip().splitlines()) == 1
    assert await _snapshot(pg_database) == copied


async def test_copy_refuses_when_a_wallet_ledger_differs_and_copies_nothing(
    engine_factory: Callable[..., Awaitable[Any]], photo_png: bytes, tmp_path: Path,
    pg_database: str, workdir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import sqlite3

    source = await _install(engine_factory, photo_png, tmp_path)
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE wallets SET balance = balance + 1 WHERE member_id = 'bob'")
    assert main(["db", "copy", "--from", str(source), "--to", pg_database]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: wallet bob in server g: ledger sum ")
    assert "nothing was copied" in err
    assert all(rows == [] for rows in (await _snapshot(pg_database)).values())


def test_copy_needs_a_postgres_url_and_a_source(workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "copy", "--from", "nowhere.db", "--to", "other.db"]) == 2
    assert "expected a postgresql:// URL" in capsys.readouterr().err
    assert main(["db", "copy", "--from", "nowhere.db",
                 "--to", "postgresql://u:s3cret-pw@127.0.0.1:1/x"]) == 1
    err = capsys.readouterr().err
    assert "nowhere.db: no such SQLite file" in err
    assert "s3cret-pw" not in err
