"""Ledger amounts stay in 0..MAX_CREDITS (issue 14, finding 9): nothing near 2^63
reaches the database (SQLite or Postgres), and every refusal is a clear error naming the field, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.cli import main
from core.config import load_settings
from core.credits import MAX_CREDITS, MAX_GRANT, Credits
from core.errors import ConfigError, InvalidInput, UserError
from tests.core.ledger import open_credits

HUGE = [2**63 - 1, 2**63, 2**64, -(2**63) - 1]


_credits = open_credits



async def _rows(c: Credits) -> list[tuple[str, int, int]]:
    rows = await c.db.fetchall("SELECT kind, delta, balance_after FROM ledger ORDER BY id")
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


@pytest.mark.parametrize("amount", [*HUGE, 0, -1, MAX_GRANT + 1])
async def test_grant_and_revoke_refuse_out_of_range_amounts(db_target: Path | str, amount: int) -> None:
    c = await _credits(db_target)
    try:
        with pytest.raises(InvalidInput) as grant:
            await c.grant("g", "m", amount, "mod")
        with pytest.raises(InvalidInput) as revoke:
            await c.revoke("g", "m", amount, "mod")
        assert grant.value.field == revoke.value.field == "amount"
        assert "Invalid `amount`" in str(grant.value)
        assert "1,000,000" in str(grant.value)
        assert await c.balance("g", "m") == 10
        assert await _rows(c) == [("start", 10, 10)]
    finally:
        await c.db.close()


async def test_grants_stop_at_the_maximum_balance(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=MAX_CREDITS - 5)
    try:
        assert await c.grant("g", "m", 5, "mod") == MAX_CREDITS
        with pytest.raises(InvalidInput, match="would go above the maximum") as exc:
            await c.grant("g", "m", 1, "mod")
        assert exc.value.field == "amount"
        assert await c.grant("g", "m", 1_000, "cli", kind="topup") == MAX_CREDITS  # clamped
        assert await _rows(c) == [("start", MAX_CREDITS - 5, MAX_CREDITS - 5),
                                  ("grant", 5, MAX_CREDITS)]
    finally:
        await c.db.close()


async def test_daily_claim_at_the_maximum_is_refused_cleanly(db_target: Path | str) -> None:
    c = await _credits(db_target, starting=MAX_CREDITS - 2, daily=5)
    try:
        with pytest.raises(UserError, match="at the maximum of 1,000,000,000 credits"):
            await c.claim_daily("g", "m")
        assert await c.balance("g", "m") == MAX_CREDITS - 2
        assert (await c.wallet("g", "m")).daily_available
    finally:
        await c.db.close()


@pytest.mark.parametrize(("starting", "daily", "field"), [
    (2**63, 5, "starting_credits"), (10, 2**63 - 1, "daily_credits"), (-1, 5, "starting_credits"),
])
async def test_out_of_range_starting_or_daily_names_the_field(
    db_target: Path | str, starting: int, daily: int, field: str
) -> None:
    c = await _credits(db_target, starting=starting, daily=daily)
    try:
        with pytest.raises(InvalidInput) as exc:
            await c.claim_daily("g", "m")
        assert exc.value.field == field
        assert f"Invalid `{field}`" in str(exc.value)
        row = await c.db.fetchone("SELECT COUNT(*) FROM wallets")
        assert row is not None
        assert row[0] == 0
    finally:
        await c.db.close()


@pytest.mark.parametrize("amount", [MAX_CREDITS + 1, 2**63, -1])
async def test_a_hold_out_of_range_names_the_cost(db_target: Path | str, amount: int) -> None:
    c = await _credits(db_target)
    try:
        with pytest.raises(InvalidInput) as exc:
            await c.db.run_tx(lambda conn: c.hold_in(conn, "g", "m", amount, "job1"))
        assert exc.value.field == "cost"
        assert await _rows(c) == []  # rolled back with the hold
    finally:
        await c.db.close()


@pytest.mark.parametrize("toml", [
    "[credits]\nstarting = 9223372036854775807",
    "[credits]\ndaily = 9223372036854775808",
    "[credits]\ncache_hit_cost = 1000000001",
    "[credits]\noperator_topup = 18446744073709551616",
    "[tools.crop]\ncost = 9223372036854775808",
])
def test_config_amounts_out_of_range_stop_start_up_with_one_line(
    tmp_path: Path, toml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[storage]\ndatabase = '{tmp_path / 'db'}'\n{toml}\n")
    key = toml.split("]\n", maxsplit=1)[0].lstrip("[") + "." + toml.split("\n")[1].split(" =", maxsplit=1)[0]
    with pytest.raises(ConfigError, match=f"`{key}`"):
        load_settings(cfg, env={})
    assert main(["--config", str(cfg), "credits", "balance", "operator"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"`{key}`" in err
    assert "1000000000" in err


def test_cli_grant_and_balance_near_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[storage]\ndatabase = '{tmp_path / 's.db'}'\n"
                   f"results_dir = '{tmp_path / 'r'}'\n[credits]\nstarting = {MAX_CREDITS}\n")
    for amount in ("9223372036854775808", "1", "-5"):
        assert main(["--config", str(cfg), "credits", "grant", "bob", amount]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: Invalid `amount`"), err
        assert err.count("\n") == 1, err
    assert main(["--config", str(cfg), "credits", "balance", "bob"]) == 0
    assert "1000000000 credits" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = conn.execute("SELECT kind, delta FROM ledger").fetchall()
    assert rows == [("start", MAX_CREDITS)]
