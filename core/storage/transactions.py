"""SQLite write transactions for the database thread, alone or group-committed.

A `Tx` is one `Database.run_tx` call: it runs on the database thread either alone
(`BEGIN IMMEDIATE`, the function, `COMMIT`) or, when several were queued together,
as one member of a group commit (`run_group`): one `BEGIN IMMEDIATE ... COMMIT`
around all of them, each inside its own `SAVEPOINT` so that one that raises rolls
back alone. Group commit is the classic technique of Gray and Reuter
(*Transaction Processing*, 1993, §9.4.7): one commit for many transactions that were
waiting anyway. Every caller still hears of its own transaction only after the
commit that contains it (`DatabaseThread` delivers outcomes after `run_group`
returns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from core.storage.db_thread import Outcome

T = TypeVar("T")
Callbacks = list[Callable[[], None]]


class CallbackSlot:
    """Where `Database.after_commit` puts callbacks: the running transaction's list.
    Touched only on the database thread."""

    def __init__(self) -> None:
        self.current: Callbacks = []


class Tx(Generic[T]):
    """One transaction: `fn(conn)` plus the after-commit callbacks it registers.

    Calling it runs it alone and returns `(result, callbacks)`, raising what `fn`
    raised after a rollback. Runs on the database thread only.
    """

    def __init__(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T],
                 slot: CallbackSlot) -> None:
        self.conn = conn
        self.fn = fn
        self.slot = slot

    def __call__(self) -> tuple[T, Callbacks]:
        """Run alone in BEGIN IMMEDIATE ... COMMIT (ROLLBACK and re-raise on error)."""
        self.slot.current = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            result = self.fn(self.conn)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        finally:
            callbacks, self.slot.current = self.slot.current, []
        return result, callbacks

    def in_savepoint(self) -> Outcome:
        """Run inside an open transaction under `SAVEPOINT tx`: `((result, callbacks),
        None)`, or `(None, exception)` after rolling back to the savepoint."""
        self.slot.current = []
        self.conn.execute("SAVEPOINT tx")
        try:
            result = self.fn(self.conn)
            self.conn.execute("RELEASE tx")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK TO tx")
                self.conn.execute("RELEASE tx")
            return None, exc
        finally:
            callbacks, self.slot.current = self.slot.current, []
        return (result, callbacks), None


def run_group(conn: sqlite3.Connection, work: list[Callable[[], Any]]) -> list[Outcome]:
    """Run several `Tx` (in order) in one BEGIN IMMEDIATE ... COMMIT on `conn`.

    Returns one outcome per member, in order. If the commit fails every member gets
    that error (nothing was committed). If SQLite abandons the whole transaction
    midway (a member ended it, or a disk error), nothing was committed, so each
    member is run again alone and gets its own transaction's outcome.

    Raises:
        TypeError: when `work` holds anything but `Tx`.
    """
    txs = [w for w in work if isinstance(w, Tx)]
    if len(txs) != len(work):
        raise TypeError("only run_tx work is grouped")
    outcomes: list[Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for tx in txs:
            outcomes.append(tx.in_savepoint())
            if not conn.in_transaction:  # the whole transaction is gone
                return _one_by_one(txs)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return [(None, exc)] * len(txs)
    return outcomes


def _one_by_one(txs: list[Tx[Any]]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for tx in txs:
        try:
            outcomes.append((tx(), None))
        except BaseException as exc:  # handed to that transaction's caller
            outcomes.append((None, exc))
    return outcomes
