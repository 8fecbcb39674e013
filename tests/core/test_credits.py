"""The ledger over real SQLite files and a real Postgres database (each test runs on
both): holds, settle, refund-once, daily, grant/revoke."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from core.credits import Credits
from core.errors import InsufficientCredits, InvalidInput, UserError
from core.storage.db import Database
from tests.core.ledger import open_credits

_credits = open_credits



async def _hold(c: Credits, guild: str, member: str, amount: int, job_id: str) -> int:
    """A hold as the engine takes one: `hold_in` inside one `run_tx`."""
    return await c.db.run_tx(lambda conn: c.hold_in(conn, guild, member, amount, job_id))


async def _settle(c: Credits, job_id: str) -> bool:
    return await c.db.run_tx(lambda conn: c.settle_in(conn, job_id))


async def _refund(c: Credits, job_id: str, reason: str | None = None) -> bool:
    return await c.db.run_tx(lambda conn: c.refund_in(conn, job_id, reason))


async def _ledger_sum(db: Database, guild: str, member: str) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = ? AND member_id = ?",
        (guild, member))
    assert row is not None
    return int(row[0])


async def test_200_concurrent_holds_settle_exactly_50(db_target: Path | str) -> None:
    cost = 3
    # two connections on the same file, as two processes would have
    a = await _credits(db_target, starting=0)
    b = await _credits(db_target, starting=0)
    await a.grant("g", "m", 50 * cost, actor="mod")

    async def one(i: int) -> str:
        creds = a if i % 2 else b
        try:
            await _hold(creds, "g", "m", cost, f"job{i}")
        except InsufficientCredits:
            return "rejected"
        await _settle(creds, f"job{i}")
        return "settled"

    outcomes = await asyncio.gather(*(one(i) for i in range(200)))
    assert outcomes.count("settled") == 50
    assert outcomes.count("rejected") == 150
    assert await a.balance("g", "m") == 0
    assert await _ledger_sum(a.db, "g", "m") == 0
    row = await a.db.fetchone("SELECT COUNT(*) FROM holds WHERE state = 'settled'")
    assert row is not None
    assert row[0] == 50
    await a.db.close()
    await b.db.close()


async def test_refund_is_exactly_once(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=10)
    await _hold(c, "g", "m", 4, "job1")
    assert await c.balance("g", "m") == 6
    assert await _refund(c, "job1", "provider failed") is True
    assert await _refund(c, "job1", "again") is False
    assert await _settle(c, "job1") is False  # a refunded hold cannot be settled afterwards
    assert await c.balance("g", "m") == 10
    kinds = [r.kind for r in await c.history("g", "m")]
    assert kinds.count("refund") == 1
    await c.db.close()


async def test_insufficient_credits_moves_nothing(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=2)
    with pytest.raises(InsufficientCredits) as info:
        await _hold(c, "g", "m", 5, "job1")
    assert info.value.balance == 2
    assert info.value.needed == 5
    assert await c.balance("g", "m") == 2
    assert [r.kind for r in await c.history("g", "m")] == ["start"]
    await c.db.close()


async def test_daily_once_per_utc_day(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=10, daily=5)
    assert await c.claim_daily("g", "m") == (5, 15)
    with pytest.raises(UserError, match="already claimed"):
        await c.claim_daily("g", "m")
    # a new UTC day: yesterday's claim no longer blocks
    await c.db.execute("UPDATE wallets SET last_daily = '2000-01-01'")
    assert await c.claim_daily("g", "m") == (5, 20)
    await c.db.close()


async def test_grant_revoke_never_below_zero(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=3)
    assert await c.grant("g", "m", 7, actor="mod", reason="event prize") == 10
    assert await c.revoke("g", "m", 25, actor="mod") == (10, 0)
    assert await c.revoke("g", "m", 1, actor="mod") == (0, 0)
    with pytest.raises(InvalidInput):
        await c.grant("g", "m", 0, actor="mod")
    rows = await c.history("g", "m")
    assert rows[0].kind == "revoke"
    assert rows[0].delta == -10
    assert rows[0].actor_id == "mod"
    assert rows[1].reason == "event prize"
    await c.db.close()


async def test_top_orders_by_balance(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=0)
    for member, amount in (("a", 5), ("b", 50), ("c", 20)):
        await c.grant("g", member, amount, actor="mod")
    await c.grant("other", "z", 999, actor="mod")
    assert await c.top("g") == [("b", 50), ("c", 20), ("a", 5)]
    await c.db.close()


async def test_randomized_run_ledger_matches_balances(db_target: Path | str) -> None:
    """A seeded random mix of every operation, concurrently: sum(deltas) == balance."""
    rng = random.Random(1234)
    c = await _credits(db_target, starting=10, daily=5)
    wallets = [("g1", "a"), ("g1", "b"), ("g2", "a"), ("g2", "c")]
    held: list[str] = []

    async def op(i: int) -> None:
        g, m = rng.choice(wallets)
        kind = rng.choice(["hold", "hold", "settle", "refund", "refund", "grant", "revoke",
                           "daily"])
        try:
            if kind == "hold":
                await _hold(c, g, m, rng.randint(0, 6), f"j{i}")
                held.append(f"j{i}")
            elif kind == "settle" and held:
                await _settle(c, rng.choice(held))
            elif kind == "refund" and held:
                await _refund(c, rng.choice(held))
            elif kind == "grant":
                await c.grant(g, m, rng.randint(1, 9), actor="mod")
            elif kind == "revoke":
                await c.revoke(g, m, rng.randint(1, 9), actor="mod")
            elif kind == "daily":
                await c.claim_daily(g, m)
        except UserError:
            pass

    for batch in range(6):
        await asyncio.gather(*(op(batch * 100 + i) for i in range(100)))
    for g, m in wallets:
        balance = await c.balance(g, m)
        assert balance >= 0
        assert await _ledger_sum(c.db, g, m) == balance
    row = await c.db.fetchone("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'")
    refunded = await c.db.fetchone("SELECT COUNT(*) FROM holds WHERE state = 'refunded' AND amount > 0")
    assert row is not None
    assert refunded is not None
    assert row[0] == refunded[0]
    await c.db.close()
