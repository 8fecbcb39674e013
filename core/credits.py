"""The credit ledger (PRODUCT.md §2).

Wallets are per (server, member). Every balance change writes its ledger row
in the same transaction; a hold is one conditional UPDATE (`balance >= cost`),
so two runs at once never spend the same credit. A hold ends exactly once:
settled (credits spent) or refunded (credits returned); a second refund is a
no-op because the state change is itself conditional.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from core.errors import InsufficientCredits, InvalidInput, UserError
from core.storage.db import Database


@dataclass(frozen=True)
class Wallet:
    guild_id: str
    member_id: str
    balance: int
    last_daily: str | None

    @property
    def daily_available(self) -> bool:
        return self.last_daily != utc_today()


@dataclass(frozen=True)
class LedgerRow:
    id: int
    at: float
    delta: int
    kind: str
    job_id: str | None
    actor_id: str | None
    reason: str | None
    balance_after: int


def utc_today() -> str:
    return datetime.now(UTC).date().isoformat()


def until_next_utc_day() -> timedelta:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return tomorrow - now


class Credits:
    """Ledger operations. `starting` and `daily` resolve per server (guild config)."""

    def __init__(
        self,
        db: Database,
        starting: Callable[[str], int],
        daily: Callable[[str], int],
    ) -> None:
        self.db = db
        self._starting = starting
        self._daily = daily
        self._known: set[tuple[str, str]] = set()  # wallets seen to exist (never deleted)

    # -- inside a caller's transaction ------------------------------------------------
    async def ensure_wallet_in(self, conn: aiosqlite.Connection, guild: str, member: str) -> None:
        if (guild, member) in self._known:
            return
        now = time.time()
        starting = self._starting(guild)
        cur = await conn.execute(
            "INSERT OR IGNORE INTO wallets (guild_id, member_id, balance, created_at) "
            "VALUES (?, ?, ?, ?)",
            (guild, member, starting, now),
        )
        if cur.rowcount == 1 and starting:
            await _ledger(conn, guild, member, starting, "start", balance_after=starting)
        self.db.after_commit(lambda: self._known.add((guild, member)))

    async def hold_in(
        self, conn: aiosqlite.Connection, guild: str, member: str, amount: int, job_id: str
    ) -> int:
        """Hold `amount` for `job_id`; returns the balance after. Raises InsufficientCredits."""
        await self.ensure_wallet_in(conn, guild, member)
        if amount > 0:
            row = await _one(
                conn,
                "UPDATE wallets SET balance = balance - ? "
                "WHERE guild_id = ? AND member_id = ? AND balance >= ? RETURNING balance",
                (amount, guild, member, amount),
            )
            if row is None:
                raise InsufficientCredits(amount, await _balance(conn, guild, member))
            balance = int(row[0])
            await _ledger(
                conn, guild, member, -amount, "hold", job_id=job_id, balance_after=balance
            )
        else:
            balance = await _balance(conn, guild, member)
        await conn.execute(
            "INSERT INTO holds (job_id, guild_id, member_id, amount, state, created_at) "
            "VALUES (?, ?, ?, ?, 'held', ?)",
            (job_id, guild, member, amount, time.time()),
        )
        return balance

    async def settle_in(self, conn: aiosqlite.Connection, job_id: str) -> bool:
        cur = await conn.execute(
            "UPDATE holds SET state = 'settled', closed_at = ? WHERE job_id = ? AND state = 'held'",
            (time.time(), job_id),
        )
        return cur.rowcount == 1

    async def refund_in(
        self, conn: aiosqlite.Connection, job_id: str, reason: str | None = None
    ) -> bool:
        """Return the held credits; True the first time, False (no-op) afterwards."""
        row = await _one(
            conn,
            "UPDATE holds SET state = 'refunded', closed_at = ? "
            "WHERE job_id = ? AND state = 'held' RETURNING guild_id, member_id, amount",
            (time.time(), job_id),
        )
        if row is None:
            return False
        guild, member, amount = str(row[0]), str(row[1]), int(row[2])
        if amount > 0:
            balance = await _add(conn, guild, member, amount)
            await _ledger(
                conn,
                guild,
                member,
                amount,
                "refund",
                job_id=job_id,
                reason=reason,
                balance_after=balance,
            )
        return True

    async def balance_in(self, conn: aiosqlite.Connection, guild: str, member: str) -> int:
        return await _balance(conn, guild, member)

    # -- public operations, each its own transaction -----------------------------------
    async def settle(self, job_id: str) -> bool:
        async with self.db.transaction() as conn:
            return await self.settle_in(conn, job_id)

    async def refund(self, job_id: str, reason: str | None = None) -> bool:
        async with self.db.transaction() as conn:
            return await self.refund_in(conn, job_id, reason)

    async def hold(self, guild: str, member: str, amount: int, job_id: str) -> int:
        async with self.db.transaction() as conn:
            return await self.hold_in(conn, guild, member, amount, job_id)

    async def wallet(self, guild: str, member: str) -> Wallet:
        async with self.db.transaction() as conn:
            await self.ensure_wallet_in(conn, guild, member)
            row = await _one(
                conn,
                "SELECT balance, last_daily FROM wallets WHERE guild_id = ? AND member_id = ?",
                (guild, member),
            )
        assert row is not None
        return Wallet(guild, member, int(row[0]), row[1])

    async def balance(self, guild: str, member: str) -> int:
        return (await self.wallet(guild, member)).balance

    async def claim_daily(self, guild: str, member: str) -> tuple[int, int]:
        """Claim today's allowance: (amount, new balance). Once per UTC day."""
        amount = self._daily(guild)
        today = utc_today()
        async with self.db.transaction() as conn:
            await self.ensure_wallet_in(conn, guild, member)
            row = await _one(
                conn,
                "UPDATE wallets SET balance = balance + ?, last_daily = ? "
                "WHERE guild_id = ? AND member_id = ? "
                "AND (last_daily IS NULL OR last_daily <> ?) RETURNING balance",
                (amount, today, guild, member, today),
            )
            if row is None:
                left = until_next_utc_day()
                h, m = divmod(int(left.total_seconds()) // 60, 60)
                raise UserError(
                    f"You already claimed today's credits; the next claim opens in {h}h {m:02d}m "
                    "(midnight UTC)."
                )
            balance = int(row[0])
            await _ledger(conn, guild, member, amount, "daily", balance_after=balance)
        return amount, balance

    async def grant(
        self,
        guild: str,
        member: str,
        amount: int,
        actor: str,
        reason: str | None = None,
        *,
        kind: str = "grant",
    ) -> int:
        if amount <= 0:
            raise InvalidInput(
                "Invalid `amount`: grant a positive number of credits.", field="amount"
            )
        if amount > 1_000_000:
            raise InvalidInput(
                "Invalid `amount`: at most 1,000,000 credits at once.", field="amount"
            )
        async with self.db.transaction() as conn:
            await self.ensure_wallet_in(conn, guild, member)
            balance = await _add(conn, guild, member, amount)
            await _ledger(
                conn,
                guild,
                member,
                amount,
                kind,
                actor_id=actor,
                reason=reason,
                balance_after=balance,
            )
        return balance

    async def revoke(
        self, guild: str, member: str, amount: int, actor: str, reason: str | None = None
    ) -> tuple[int, int]:
        """Remove up to `amount` (never below zero): (removed, new balance)."""
        if amount <= 0:
            raise InvalidInput(
                "Invalid `amount`: revoke a positive number of credits.", field="amount"
            )
        async with self.db.transaction() as conn:
            await self.ensure_wallet_in(conn, guild, member)
            before = await _balance(conn, guild, member)
            removed = min(amount, before)
            if removed == 0:
                return 0, before
            balance = await _add(conn, guild, member, -removed)
            await _ledger(
                conn,
                guild,
                member,
                -removed,
                "revoke",
                actor_id=actor,
                reason=reason,
                balance_after=balance,
            )
        return removed, balance

    async def history(self, guild: str, member: str, limit: int = 10) -> list[LedgerRow]:
        rows = await self.db.fetchall(
            "SELECT id, at, delta, kind, job_id, actor_id, reason, balance_after FROM ledger "
            "WHERE guild_id = ? AND member_id = ? ORDER BY id DESC LIMIT ?",
            (guild, member, limit),
        )
        return [LedgerRow(*tuple(r)) for r in rows]

    async def top(self, guild: str, limit: int = 10) -> list[tuple[str, int]]:
        rows = await self.db.fetchall(
            "SELECT member_id, balance FROM wallets WHERE guild_id = ? "
            "ORDER BY balance DESC, member_id LIMIT ?",
            (guild, limit),
        )
        return [(str(r[0]), int(r[1])) for r in rows]


async def _one(conn: aiosqlite.Connection, sql: str, args: tuple[Any, ...]) -> Any:
    """First row of a query (RETURNING included) in one round trip to the db thread."""
    rows = await conn.execute_fetchall(sql, args)
    return next(iter(rows), None)


async def _balance(conn: aiosqlite.Connection, guild: str, member: str) -> int:
    row = await _one(
        conn, "SELECT balance FROM wallets WHERE guild_id = ? AND member_id = ?", (guild, member)
    )
    return int(row[0]) if row else 0


async def _add(conn: aiosqlite.Connection, guild: str, member: str, delta: int) -> int:
    row = await _one(
        conn,
        "UPDATE wallets SET balance = balance + ? WHERE guild_id = ? AND member_id = ? "
        "RETURNING balance",
        (delta, guild, member),
    )
    assert row is not None
    return int(row[0])


async def _ledger(
    conn: aiosqlite.Connection,
    guild: str,
    member: str,
    delta: int,
    kind: str,
    *,
    balance_after: int,
    job_id: str | None = None,
    actor_id: str | None = None,
    reason: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO ledger (guild_id, member_id, at, delta, kind, job_id, actor_id, reason, "
        "balance_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (guild, member, time.time(), delta, kind, job_id, actor_id, reason, balance_after),
    )
