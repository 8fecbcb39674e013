"""Gateway shards: `studio bot --shard-count S --shard-ids A-B` runs shards A..B of S
in one `AutoShardedBot`; other processes run the other shards.

* A guild's events and interactions arrive on shard `(guild_id >> 22) % S`
  (Discord's rule; DMs on shard 0). Discord wants a new shard per 2,500 guilds.
* Only the process holding shard 0 syncs the application commands (once per
  deploy is enough, and several processes syncing at once race each other).
* IDENTIFYs are spaced `IDENTIFY_SPACING_S` apart (Discord's max_concurrency=1
  allows one every 5 s per bot token) across every process: with `[storage]
  database` on Postgres, each identify takes a Postgres advisory lock and holds it
  for the spacing after identifying; otherwise the spacing holds within this
  process (one machine, SQLite: run the shards in one process).

Without the flags nothing here is used: the bot is the plain, unsharded client.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from core.storage.db import is_postgres_url, scrub_url

log = logging.getLogger(__name__)

IDENTIFY_SPACING_S = 5.0
# pg_advisory_lock key for identifies: "LUNEO" + "ID" in ASCII, one per database.
IDENTIFY_LOCK_KEY = 0x4C554E454F4944


class ShardError(ValueError):
    """A bad --shard-count / --shard-ids (the message is one line for the operator)."""


@dataclass(frozen=True)
class ShardPlan:
    """Shards `ids` of `count` in this process."""

    count: int
    ids: tuple[int, ...]

    @property
    def syncs_commands(self) -> bool:
        """Only the process holding shard 0 syncs the application commands."""
        return 0 in self.ids

    def holds(self, guild_id: str) -> bool:
        """True when `guild_id`'s interactions arrive in this process."""
        return guild_id.isdigit() and shard_of(int(guild_id), self.count) in self.ids

    def describe(self) -> str:
        ids = ",".join(map(str, self.ids))
        return f"shards {ids} of {self.count}"


def shard_of(guild_id: int, count: int) -> int:
    """The shard that receives `guild_id`'s events."""
    return (guild_id >> 22) % count


def parse_shards(count: int | None, ids: str | None) -> ShardPlan | None:
    """The plan for `--shard-count` / `--shard-ids` (`A-B` or `A,B,C`); None when
    neither is given (the unsharded bot). Raises ShardError with one line."""
    if count is None:
        if ids is not None:
            raise ShardError("--shard-ids needs --shard-count (the total number of shards)")
        return None
    if count < 1:
        raise ShardError(f"--shard-count must be at least 1 (got {count})")
    if ids is None:
        return ShardPlan(count, tuple(range(count)))
    chosen: list[int] = []
    try:
        for part in ids.split(","):
            first, dash, last = part.strip().partition("-")
            lo, hi = int(first), int(last) if dash else int(first)
            if lo > hi:
                raise ShardError(f"--shard-ids: {part.strip()} is an empty range")
            chosen += range(lo, hi + 1)
    except ValueError as exc:
        if isinstance(exc, ShardError):
            raise
        raise ShardError(f"--shard-ids: expected A-B or A,B,C (got {ids!r})") from None
    if bad := [i for i in chosen if not 0 <= i < count]:
        raise ShardError(f"--shard-ids: shard {bad[0]} is outside 0-{count - 1} "
                         f"(--shard-count {count})")
    if len(set(chosen)) != len(chosen):
        raise ShardError(f"--shard-ids: {ids!r} names a shard twice")
    return ShardPlan(count, tuple(sorted(chosen)))


def add_shard_arguments(parser: argparse.ArgumentParser) -> None:
    """`--shard-count S` and `--shard-ids A-B|A,B,C` on `parser`."""
    parser.add_argument("--shard-count", type=int, default=None, metavar="S",
                        help="run a sharded gateway of S shards in total (docs/scaling.md)")
    parser.add_argument("--shard-ids", default=None, metavar="A-B",
                        help="the shards this process runs: A-B or A,B,C (default: all S); "
                             "the process holding shard 0 syncs the commands")


class IdentifyGate:
    """One IDENTIFY per `spacing_s`: across processes through a Postgres advisory lock
    (`database_url`), else within this process."""

    def __init__(self, spacing_s: float = IDENTIFY_SPACING_S,
                 database_url: str | None = None) -> None:
        self.spacing_s = spacing_s
        self.database_url = database_url
        self._lock = asyncio.Lock()
        self._last = float("-inf")
        self._releases: set[asyncio.Task[None]] = set()

    @classmethod
    def for_database(cls, database: object, spacing_s: float = IDENTIFY_SPACING_S
                     ) -> IdentifyGate:
        """A gate shared through `database` when it is a Postgres URL."""
        return cls(spacing_s, str(database) if is_postgres_url(database) else None)

    async def turn(self, shard_id: int | None) -> None:
        """Return when `shard_id` may IDENTIFY now."""
        if self.database_url is not None:
            try:
                await self._postgres_turn(self.database_url)
                return
            except Exception as exc:  # the bot must still log in
                log.warning("identify lock on %s unavailable (%s); spacing in this process",
                            scrub_url(self.database_url), type(exc).__name__)
        await self._local_turn()
        log.debug("shard %s identifies", shard_id)

    async def _local_turn(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            wait = self._last + self.spacing_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = loop.time()

    async def _postgres_turn(self, url: str) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (IDENTIFY_LOCK_KEY,))
        except BaseException:
            await conn.close()
            raise
        task = asyncio.create_task(self._release_later(conn), name="identify-lock")
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_later(self, conn: Any) -> None:
        """Hold the lock for the spacing after this identify, then let the next one go
        (closing the connection releases it too, e.g. when the process dies)."""
        try:
            await asyncio.sleep(self.spacing_s)
            await conn.execute("SELECT pg_advisory_unlock(%s)", (IDENTIFY_LOCK_KEY,))
        finally:
            await conn.close()

    async def close(self) -> None:
        """Let go of a lock still held (the bot is closing)."""
        for task in list(self._releases):
            task.cancel()
        await asyncio.gather(*self._releases, return_exceptions=True)
