"""Fixtures shared by the core tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Each ledger test runs on an SQLite file, then on a fresh Postgres database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        return url
    return tmp_path / "c.db"
