"""The throwaway Postgres cluster of tests/pg.py: it starts, and each test gets its own database."""

from __future__ import annotations

import psycopg


def test_each_test_gets_a_fresh_database(pg_url: str, pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.commit()
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
        assert conn.execute("SELECT current_setting('fsync')").fetchone() == ("off",)
    assert pg_database != pg_url


def test_a_second_database_is_empty(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        tables = conn.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_missing_binaries_say_how_to_install(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from tests import pg

    monkeypatch.setattr(pg, "PG_BIN", tmp_path / "nowhere")
    with pytest.raises(pg.PostgresUnavailable, match=r"run `bash scripts/setup.sh --dev`"):
        pg.start(tmp_path / "cluster")
