"""The credit ledger (PRODUCT.md §2).

Wallets are per (server, member). Every balance change writes its ledger row
in the same transaction; a hold is one conditional UPDATE (`balance >= cost`),
so two runs at once never spend the same credit. A hold ends exactly once:
settled (credits spent) or refunded (credits returned); a second refund is a
no-op because the state change is itself conditional.

Every amount stays within 0..MAX_CREDITS (tool costs, holds, starting and daily
credits, cache-hit cost, operator top-ups, grants and revokes), and grants,
daily claims and top-ups never take a balance above MAX_CREDITS; an amount out of
range is refused with InvalidInput naming it, so ledger arithmetic stays far
from SQLite's 64-bit limit (a refund returns what was held, so a balance can
exceed MAX_CREDITS only by credits held at the time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import InsufficientCredits, InvalidInput, UserError
from core.storage.db import Connection, Database

MAX_CREDITS = 1_000_000_000  # the largest amount or balance (see the module docstring)
MAX_GRANT = 1_000_000  # the most a moderator grants or revokes at once


def check_amount(value: int, field: str, *, low: int = 0, high: int = MAX_CREDITS) -> int:
    """`value` if it is a whole number in low..high; else InvalidInput naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"Invalid `{field}`: must be a whole number from {low:,} to {high:,} credits "
            f"(got {value!r}).",
            field=field,
        )
    return value


@dataclass(frozen=True)
class Wallet:
    """A member's wallet in one guild: balance (credits) and the UTC day of the last daily claim."""

    guild_id: str
    member_id: str
    balance: int
    last_daily: str | None

    @property
    def daily_available(self) -> bool:
        """True when the member has not claimed the daily allowance this UTC day."""
        return self.last_daily != utc_today()


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry: signed `delta` (credits), its kind, job or actor, and the balance after."""

    id: int
    at: float
    delta: int
    kind: str
    job_id: str | None
    actor_id: str | None
    reason: str | None
    balance_after: int


def utc_today() -> str:
    """Today in UTC as "YYYY-MM-DD" (the daily allowance resets at 00:00 UTC)."""
    return datetime.now(UTC).date().isoformat()


def until_next_utc_day() -> timedelta:
    """Time left until the next 00:00 UTC, when the daily allowance resets."""
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

    # -- inside a caller's transaction (sync: runs on the database thread) ---------------
    def ensure_wallet_in(self, conn: Connection, guild: str, member: str) -> None:
        """Create the member's wallet with the starting balance (ledger row `start`) if it is new."""
        if (guild, member) in self._known:
            return
        starting = check_amount(self._starting(guild), "starting_credits")
        cur = conn.execute(
            "INSERT INTO wallets (guild_id, member_id, balance, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild, member, starting, time.time()),
        )
        if cur.rowcount == 1 and starting:
            _ledger(conn, guild, member, starting, "start", balance_after=starting)
        self.db.after_commit(lambda: self._known.add((guild, member)))

    def hold_in(
        self, conn: Connection, guild: str, member: str, amount: int, job_id: str
    ) -> int:
        """Hold `amount` (0..MAX_CREDITS) for `job_id`; returns the balance after.
        Raises InsufficientCredits, or InvalidInput (field `cost`) when out of range."""
        check_amount(amount, "cost")
        self.ensure_wallet_in(conn, guild, member)
        if amount > 0:
            row = conn.execute(
                "UPDATE wallets SET balance = balance - ? "
                "WHERE guild_id = ? AND member_id = ? AND balance >= ? RETURNING balance",
                (amount, guild, member, amount),
            ).fetchone()
            if row is None:
                raise InsufficientCredits(amount, _balance(conn, guild, member))
            balance = int(row[0])
            _ledger(conn, guild, member, -amount, "hold", job_id=job_id, balance_after=balance)
        else:
            balance = _balance(conn, guild, member)
        conn.execute(
            "INSERT INTO holds (job_id, guild_id, member_id, amount, state, created_at) "
            "VALUES (?, ?, ?, ?, 'held', ?)",
            (job_id, guild, member, amount, time.time()),
        )
        return balance

    def settle_in(self, conn: Connection, job_id: str) -> bool:
        """Mark the job's hold settled (the credits are spent); False if it was not held."""
        cur = conn.execute(
            "UPDATE holds SET state = 'settled', closed_at = ? WHERE job_id = ? AND state = 'held'",
            (time.time(), job_id),
        )
        return cur.rowcount == 1

    def refund_in(self, conn: Connection, job_id: str, reason: str | None = None) -> bool:
        """Return the held credits; True the first time, False (no-op) afterwards."""
        return _refund_from(conn, job_id, "held", reason)

    def refund_settled_in(self, conn: Connection, job_id: str, reason: str) -> bool:
        """Give back a settled job's credits because its result never reached the
        member (e.g. the CLI could not write the output file). One conditional
        settled -> refunded transition, so it happens at most once per job (and never
        after an ordinary refund); True if this call refunded."""
        return _refund_from(conn, job_id, "settled", reason)

    def balance_in(self, conn: Connection, guild: str, member: str) -> int:
        """The member's balance in credits, inside the caller's transaction."""
        return _balance(conn, guild, member)

    # -- public operations, each one transaction in one trip to the database thread -----
    async def wallet(self, guild: str, member: str) -> Wallet:
        """The member's wallet, created with the starting balance on first use."""
        def op(c: Connection) -> Wallet:
            self.ensure_wallet_in(c, guild, member)
            row = c.execute(
                "SELECT balance, last_daily FROM wallets WHERE guild_id = ? AND member_id = ?",
                (guild, member),
            ).fetchone()
            return Wallet(guild, member, int(row[0]), row[1])

        return await self.db.run_tx(op)

    async def balance(self, guild: str, member: str) -> int:
        """The member's balance in credits (the wallet is created on first use)."""
        return (await self.wallet(guild, member)).balance

    async def claim_daily(self, guild: str, member: str) -> tuple[int, int]:
        """Claim today's allowance: (amount, new balance). Once per UTC day.

        Raises UserError when already claimed today or when the claim would take the
        balance above MAX_CREDITS; InvalidInput (`daily_credits`) if the configured
        amount is out of range."""
        amount = check_amount(self._daily(guild), "daily_credits")
        today = utc_today()

        def op(c: Connection) -> int:
            self.ensure_wallet_in(c, guild, member)
            row = c.execute(
                "UPDATE wallets SET balance = balance + ?, last_daily = ? "
                "WHERE guild_id = ? AND member_id = ? "
                "AND (last_daily IS NULL OR last_daily <> ?) AND balance <= ? RETURNING balance",
                (amount, today, guild, member, today, MAX_CREDITS - amount),
            ).fetchone()
            if row is None:
                claimed = c.execute(
                    "SELECT last_daily FROM wallets WHERE guild_id = ? AND member_id = ?",
                    (guild, member),
                ).fetchone()[0] == today
                if not claimed:
                    raise UserError(
                        f"Your balance is at the maximum of {MAX_CREDITS:,} credits; spend "
                        "some before claiming your daily credits."
                    )
                left = until_next_utc_day()
                h, m = divmod(int(left.total_seconds()) // 60, 60)
                raise UserError(
                    f"You already claimed today's credits; the next claim opens in {h}h {m:02d}m "
                    "(midnight UTC)."
                )
            _ledger(c, guild, member, amount, "daily", balance_after=int(row[0]))
            return int(row[0])

        return amount, await self.db.run_tx(op)

    async def grant(
        self, guild: str, member: str, amount: int, actor: str, reason: str | None = None,
        *, kind: str = "grant",
    ) -> int:
        """Add `amount` credits with a ledger row of `kind` ("grant", or "topup" for the
        CLI's automatic refill); returns the new balance.

        A grant is 1..MAX_GRANT and raises InvalidInput (field `amount`) when out of
        range or when the balance would go above MAX_CREDITS. A top-up is clamped so
        the balance stops at MAX_CREDITS (the hold that follows refuses a cost above it).
        """
        if kind == "grant":
            check_amount(amount, "amount", low=1, high=MAX_GRANT)
        else:
            amount = min(check_amount(amount, "amount", low=1, high=2**62), MAX_CREDITS)

        def op(c: Connection) -> int:
            self.ensure_wallet_in(c, guild, member)
            before = _balance(c, guild, member)
            add = amount if kind == "grant" else min(amount, MAX_CREDITS - before)
            if before > MAX_CREDITS - add:
                raise InvalidInput(
                    f"Invalid `amount`: the balance ({before:,}) would go above the maximum "
                    f"of {MAX_CREDITS:,} credits.",
                    field="amount",
                )
            if add <= 0:
                return before
            balance = _add(c, guild, member, add)
            _ledger(c, guild, member, add, kind, actor_id=actor, reason=reason,
                    balance_after=balance)
            return balance

        return await self.db.run_tx(op)

    async def revoke(
        self, guild: str, member: str, amount: int, actor: str, reason: str | None = None
    ) -> tuple[int, int]:
        """Remove up to `amount` (1..MAX_GRANT; never below zero): (removed, new balance).
        Raises InvalidInput (field `amount`) when out of range."""
        check_amount(amount, "amount", low=1, high=MAX_GRANT)

        one_statement = self.db.dialect == "postgres"

        def op(c: Connection) -> tuple[int, int]:
            self.ensure_wallet_in(c, guild, member)
            if one_statement:
                row = c.execute(_REVOKE, (guild, member, amount)).fetchone()
                if row is None:  # the balance is zero
                    return 0, 0
                removed, balance = int(row[0]), int(row[1])
            else:  # BEGIN IMMEDIATE holds the write lock: nothing interleaves
                before = _balance(c, guild, member)
                removed = min(amount, before)
                if removed == 0:
                    return 0, before
                balance = _add(c, guild, member, -removed)
            _ledger(c, guild, member, -removed, "revoke", actor_id=actor, reason=reason,
                    balance_after=balance)
            return removed, balance

        return await self.db.run_tx(op)

    async def history(self, guild: str, member: str, limit: int = 10) -> list[LedgerRow]:
        """The member's last `limit` ledger rows, newest first."""
        rows = await self.db.fetchall(
            "SELECT id, at, delta, kind, job_id, actor_id, reason, balance_after FROM ledger "
            "WHERE guild_id = ? AND member_id = ? ORDER BY id DESC LIMIT ?",
            (guild, member, limit),
        )
        return [LedgerRow(*tuple(r)) for r in rows]

    async def top(self, guild: str, limit: int = 10) -> list[tuple[str, int]]:
        """The guild's `limit` largest balances as `(member_id, balance)`, largest first."""
        rows = await self.db.fetchall(
            "SELECT member_id, balance FROM wallets WHERE guild_id = ? "
            "ORDER BY balance DESC, member_id LIMIT ?",
            (guild, limit),
        )
        return [(str(r[0]), int(r[1])) for r in rows]


# Revoke on Postgres, one statement: remove min(amount, balance) from a positive
# balance and return (removed, balance after). The CTE's FOR UPDATE locks the row
# and (a CTE with a locking clause is never inlined) reads its latest committed
# balance after any wait, and the SET works on the row version the UPDATE locked,
# so concurrent revokes and holds never take a balance below zero or misstate
# `removed`. (SQLite cannot return a FROM table's columns; there the transaction
# holds the write lock from BEGIN IMMEDIATE, so its read-then-write cannot race.)
_REVOKE = (
    "WITH o AS (SELECT guild_id, member_id, balance FROM wallets "
    "WHERE guild_id = ? AND member_id = ? AND balance > 0 FOR UPDATE) "
    "UPDATE wallets SET balance = wallets.balance - LEAST(?, wallets.balance) FROM o "
    "WHERE wallets.guild_id = o.guild_id AND wallets.member_id = o.member_id "
    "RETURNING o.balance - wallets.balance, wallets.balance"
)


def _refund_from(conn: Connection, job_id: str, state: str, reason: str | None) -> bool:
    """One conditional `state` -> refunded transition of a job's hold, crediting the
    member and writing the ledger row; False (nothing written) if the hold was not in
    `state`."""
    row = conn.execute(
        "UPDATE holds SET state = 'refunded', closed_at = ? "
        "WHERE job_id = ? AND state = ? RETURNING guild_id, member_id, amount",
        (time.time(), job_id, state),
    ).fetchone()
    if row is None:
        return False
    guild, member, amount = str(row[0]), str(row[1]), int(row[2])
    if amount > 0:
        balance = _add(conn, guild, member, amount)
        _ledger(conn, guild, member, amount, "refund", job_id=job_id, reason=reason,
                balance_after=balance)
    return True


def _balance(conn: Connection, guild: str, member: str) -> int:
    row = conn.execute(
        "SELECT balance FROM wallets WHERE guild_id = ? AND member_id = ?", (guild, member)
    ).fetchone()
    return int(row[0]) if row else 0


def _add(conn: Connection, guild: str, member: str, delta: int) -> int:
    row = conn.execute(
        "UPDATE wallets SET balance = balance + ? WHERE guild_id = ? AND member_id = ? "
        "RETURNING balance",
        (delta, guild, member),
    ).fetchone()
    return int(row[0])


def _ledger(  # noqa: PLR0913 - one parameter per ledger column
    conn: Connection, guild: str, member: str, delta: int, kind: str, *,
    balance_after: int, job_id: str | None = None, actor_id: str | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO ledger (guild_id, member_id, at, delta, kind, job_id, actor_id, reason, "
        "balance_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (guild, member, time.time(), delta, kind, job_id, actor_id, reason, balance_after),
    )
