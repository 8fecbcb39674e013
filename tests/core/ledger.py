"""A ledger on SQLite or Postgres, for the credits tests."""

from __future__ import annotations

from pathlib import Path

from core.credits import Credits
from core.storage.db import Database


async def open_credits(target: Path | str, starting: int = 10, daily: int = 5) -> Credits:
    """A ledger on `target` (a path or a `postgresql://` URL) with these grants."""
    db = await Database.open(target)
    return Credits(db, starting=lambda _g: starting, daily=lambda _g: daily)
