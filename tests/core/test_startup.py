"""Safe start-up (issue 8, cases 5 and 6): several processes on one new database, and
start-up failures that end the process at once with one line and exit status 1."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main
from core.errors import StorageError
from core.storage.db import Database, migrations, sql_statements, upgrade_connection

ROOT = Path(__file__).resolve().parents[2]
LATEST = migrations()[-1][0]
_ENV_DROP = ("LUNEO_CONFIG", "DISCORD_TOKEN", "OPENAI_API_KEY", "REPLICATE_API_TOKEN",
             "REMOVEBG_API_KEY")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


def _config(folder: Path, database: str = "db/studio.db", results: str = "results") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "config.toml"
    cfg.write_text(f"[storage]\ndatabase = '{database}'\nresults_dir = '{results}'\n")
    return cfg


def _studio(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())",
            *args]


# -- case 5: many processes open a database that does not exist yet -------------------

def _forked_cli(argv: list[str], out: Path, go: int) -> None:
    """Child body: wait for the start signal, run the real `studio` entry point with
    stdout/stderr to files, and exit with its status (no pytest teardown in a child)."""
    code = 1
    try:
        with (out.with_suffix(".out").open("w") as so, out.with_suffix(".err").open("w") as se):
            sys.stdout, sys.stderr = so, se
            os.read(go, 1)
            code = main(argv)
    finally:
        os._exit(code)


def _start_all_at_once(folder: Path, commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Fork one child per command, release them together, wait up to 60 s in all;
    (exit status, stdout, stderr) per child, -9 for one that had to be killed."""
    go_read, go_write = os.pipe()
    pids = []
    for i, cmd in enumerate(commands):
        pid = os.fork()
        if pid == 0:
            os.close(go_write)
            _forked_cli(cmd, folder / f"p{i}", go_read)
        pids.append(pid)
    os.close(go_read)
    os.write(go_write, b"x" * len(commands))
    os.close(go_write)
    deadline = time.monotonic() + 60
    codes: dict[int, int] = {}
    while len(codes) < len(pids):
        for pid in pids:
            if pid not in codes and (done := os.waitpid(pid, os.WNOHANG))[0]:
                codes[pid] = os.waitstatus_to_exitcode(done[1])
        if time.monotonic() > deadline:  # the bug this guards against: a hung process
            for pid in set(pids) - set(codes):
                os.kill(pid, signal.SIGKILL)
                codes[pid] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        time.sleep(0.01)
    return [(codes[pid], (folder / f"p{i}.out").read_text(), (folder / f"p{i}.err").read_text())
            for i, pid in enumerate(pids)]


def _assert_fresh_start(folder: Path, results: list[tuple[int, str, str]]) -> None:
    for i, (code, out, err) in enumerate(results):
        assert code == 0, f"process {i}: {err}"
        assert err == ""
        assert out.strip() == "operator in cli: 10 credits (daily available)"
    with sqlite3.connect(folder / "db" / "studio.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT member_id, delta, kind FROM ledger").fetchall()
    assert rows == [("operator", 10, "start")]  # one wallet, one starting grant


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the test process")
def test_eight_processes_start_on_a_fresh_database_ten_times(tmp_path: Path) -> None:
    """Ten trials of 8 processes released at the same instant on a new file, each
    running `studio credits balance operator`. Forked from this process (the CLI is
    already imported), so a trial costs milliseconds and the start-up race is tight.
    Before the fix: `table wallets already exists`, and processes that never exit."""
    for trial in range(10):
        folder = tmp_path / f"t{trial}"
        cfg = _config(folder)
        argv = ["--config", str(cfg), "credits", "balance", "operator"]
        _assert_fresh_start(folder, _start_all_at_once(folder, [argv] * 8))


def test_eight_studio_commands_start_on_a_fresh_database(tmp_path: Path) -> None:
    """The same with 8 separate `studio` interpreters (as in the issue), once."""
    folder = tmp_path / "w"
    cfg = _config(folder)
    procs = [subprocess.Popen(_studio("--config", str(cfg), "credits", "balance", "operator"),
                              cwd=folder, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    _assert_fresh_start(folder, [(p.returncode, o, e)
                                 for p, (o, e) in zip(procs, outs, strict=True)])


async def test_two_connections_upgrading_at_once_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    import asyncio

    path = tmp_path / "s.db"
    a, b = await asyncio.gather(Database.open(path, upgrade=False),
                                Database.open(path, upgrade=False))
    try:
        applied = await asyncio.gather(a.upgrade(), b.upgrade())
        assert sorted(applied, key=len) == [[], [name for _, name, _ in migrations()]]
        assert await a.version() == await b.version() == LATEST
    finally:
        await a.close()
        await b.close()


def test_sql_statements_cut_where_sqlite_says() -> None:
    script = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');  -- trailing; comment\n"
        "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN\n"
        "    UPDATE t SET a = a || ';' WHERE rowid = new.rowid;\n"
        "END;\n"
        "/* block; comment */\n"
        "INSERT INTO t (a) VALUES ('semi;colon')\n"
    )
    stmts = list(sql_statements(script))
    assert len(stmts) == 3
    assert stmts[1].startswith("CREATE TRIGGER")
    assert stmts[1].endswith("END;")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("BEGIN")
    for s in stmts:
        conn.execute(s)
    conn.execute("COMMIT")
    assert conn.execute("SELECT a FROM t").fetchall() == [("semi;colon;",)]
    for s in sql_statements("-- only a comment\n\n"):
        conn.execute(s)  # a comments-only tail is a no-op


def test_a_failed_migration_leaves_the_database_untouched(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "v1.db", isolation_level=None)
    conn.execute("PRAGMA user_version = 1")  # claims 0001 but has none of its tables
    with pytest.raises(StorageError, match=r"migration 0002_job_delivery\.sql failed"):
        upgrade_connection(conn, tmp_path / "v1.db")
    assert not conn.in_transaction
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


# -- case 6: start-up failures end the process at once, one line, status 1 --------------

def _garbage(folder: Path) -> None:
    (folder / "db").mkdir(parents=True)
    (folder / "db" / "studio.db").write_bytes(b"this is not an SQLite database file " * 4)


def _newer(folder: Path) -> None:
    (folder / "db").mkdir(parents=True)
    with sqlite3.connect(folder / "db" / "studio.db") as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 7}")


def _half_migrated(folder: Path) -> None:
    (folder / "db").mkdir(parents=True)
    with sqlite3.connect(folder / "db" / "studio.db") as conn:
        conn.execute("PRAGMA user_version = 1")


def _db_is_a_folder(folder: Path) -> None:
    (folder / "db" / "studio.db").mkdir(parents=True)


def _results_under_a_file(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "blocker").write_text("a file where a folder should be")


def _db_folder_under_a_file(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "db").write_text("a file where a folder should be")


FAILURES = {
    "not-a-database": (_garbage, {}, "db/studio.db: cannot open (file is not a database)"),
    "newer-schema": (_newer, {}, f"schema version {LATEST + 7} is newer than this program"),
    "cannot-upgrade": (_half_migrated, {},
                       "migration 0002_job_delivery.sql failed (no such table: jobs)"),
    "database-is-a-folder": (_db_is_a_folder, {}, "is a folder, not a database file"),
    "database-folder-blocked": (_db_folder_under_a_file, {},
                                "db/studio.db: cannot create its folder"),
    "results-dir-blocked": (_results_under_a_file, {"results": "blocker/results"},
                            "results_dir"),
}


def _run_failing(argv: list[str], folder: Path, **env: str) -> tuple[int, str, str, float]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=folder, env=_env(**env), capture_output=True, text=True,
                          timeout=30, check=False)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_cli_start_up_failure_is_one_line_and_status_1(tmp_path: Path, case: str) -> None:
    make, cfg_args, expected = FAILURES[case]
    folder = tmp_path / "w"
    make(folder)
    cfg = _config(folder, **cfg_args)
    code, out, err, took = _run_failing(
        _studio("--config", str(cfg), "credits", "balance", "operator"), folder)
    assert code == 1, err
    assert took < 8  # was: a traceback, then a process that never exits
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    assert expected in err
    assert "Traceback" not in err


def test_cli_run_json_start_up_failure_prints_its_json_object(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "w"
    _garbage(folder)
    cfg = _config(folder)
    (folder / "in.png").write_bytes(b"x")
    code, out, err, _ = _run_failing(
        _studio("--config", str(cfg), "run", "crop", "in.png", "--json"), folder)
    assert code == 1
    assert err == ""
    obj = json.loads(out)
    assert obj["status"] == "failed"
    assert obj["credits_charged"] == 0
    assert obj["error"]["type"] == "StorageError"
    assert "file is not a database" in obj["error"]["message"]


@pytest.mark.parametrize("case", ["not-a-database", "results-dir-blocked"])
def test_bot_start_up_failure_is_one_error_line_and_status_1(tmp_path: Path, case: str) -> None:
    import json

    make, cfg_args, expected = FAILURES[case]
    folder = tmp_path / "w"
    make(folder)
    cfg = _config(folder, **cfg_args)
    code, _, err, took = _run_failing(
        [sys.executable, "-m", "bot", "--config", str(cfg)], folder,
        DISCORD_TOKEN="not.a.real-token")
    assert code == 1, err
    assert took < 10
    errors = [json.loads(line) for line in err.splitlines()
              if line.startswith("{") and json.loads(line)["level"] == "ERROR"]
    assert len(errors) == 1
    assert expected in errors[0]["msg"]
    assert "exc" not in errors[0]
    assert "Traceback" not in err
