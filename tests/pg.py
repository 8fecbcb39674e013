"""A throwaway Postgres 15 cluster for tests and benchmarks (RESEARCH.md §E).

`initdb -A trust --no-sync` into a temporary folder, then `pg_ctl start` on a free
port of 127.0.0.1 with durability switched off (fsync, synchronous_commit,
full_page_writes): fast, and gone when stopped. Postgres refuses to run as root,
so as root the folder is given to the `postgres` user and every command runs
through `runuser -u postgres --`.

pytest: the session fixture `pg_url` (one cluster per test session, stopped at
the end even when tests fail) and the function fixture `pg_database` (a fresh,
empty database per test). Outside pytest (benchmarks, scripts):

    python -m tests.pg start [--dir DIR]   # prints the URL, then the folder on line 2
    python -m tests.pg stop DIR

If the Postgres binaries are missing, this fails with one line saying to run
`bash scripts/setup.sh --dev` (never a silent skip: CI must run these tests).
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("LUNEO_PG_BIN", "/usr/lib/postgresql/15/bin"))
_SUPERUSER = "postgres"


def _missing() -> str:
    return (f"Postgres 15 is not installed ({PG_BIN / 'initdb'} is missing): "
            "run `bash scripts/setup.sh --dev`")


class PostgresUnavailable(RuntimeError):
    """The cluster could not be created or started (one line saying why)."""


@dataclass
class Cluster:
    """A running throwaway cluster: its folder (data, socket, log) and port on 127.0.0.1."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        """The data directory (PGDATA)."""
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        """A `postgresql://` URL for `database` on this cluster (trust auth: no password)."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server at once and delete the folder; safe to call twice."""
        if self.data.exists():
            _run([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"],
                 check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_root() -> bool:
    return os.geteuid() == 0


def _run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    if _as_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PostgresUnavailable(f"{Path(cmd[cmd.index('--') + 1] if '--' in cmd else cmd[0]).name}: {tail[0]}")
    return done


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(folder: Path | None = None) -> Cluster:
    """Create and start a cluster in `folder` (default: a new temp folder).

    Returns the running Cluster. Raises PostgresUnavailable (one line) when the
    binaries are missing or the server does not start.
    """
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailable(_missing())
    folder = Path(folder or tempfile.mkdtemp(prefix="luneo-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    if _as_root():
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    _run([str(PG_BIN / "initdb"), "-A", "trust", "--no-sync", "-U", _SUPERUSER, "-E", "UTF8",
          "--locale", "C", "-D", str(data)])
    last = ""
    for _ in range(3):  # a free port can be taken between the probe and the bind
        port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        done = _run([str(PG_BIN / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data),
                     "-l", str(folder / "server.log"), "-o", opts], check=False)
        if done.returncode == 0:
            return Cluster(folder, port)
        last = (done.stderr or done.stdout).strip()
    log = folder / "server.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    shutil.rmtree(folder, ignore_errors=True)
    raise PostgresUnavailable(f"postgres did not start: {(tail or [last])[0]}")


def create_database(admin_url: str, name: str) -> None:
    """CREATE DATABASE `name` (an empty one, from template1) on the cluster at `admin_url`."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> bool:
    """DROP DATABASE `name` if nobody is connected to it; False (kept) otherwise."""
    import psycopg

    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    except psycopg.Error:
        return False
    return True


# -- pytest fixtures (imported into tests/conftest.py) --------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - the CLI below runs without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:
    _counter = itertools.count(1)

    @pytest.fixture(scope="session")
    def pg_cluster() -> Iterator[Cluster]:
        """One throwaway cluster for the whole session, stopped at the end."""
        try:
            cluster = start()
        except PostgresUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
        atexit.register(cluster.stop)  # also on an interrupted session
        try:
            yield cluster
        finally:
            cluster.stop()

    @pytest.fixture(scope="session")
    def pg_url(pg_cluster: Cluster) -> str:
        """A `postgresql://` URL of the session's cluster (database `postgres`, superuser)."""
        return pg_cluster.url()

    @pytest.fixture
    def pg_database(pg_cluster: Cluster) -> Iterator[str]:
        """A `postgresql://` URL of a fresh, empty database for this test alone (dropped
        afterwards when nothing is connected to it any more; the cluster goes anyway)."""
        name = f"t{os.getpid()}_{next(_counter)}"
        create_database(pg_cluster.url(), name)
        yield pg_cluster.url(name)
        drop_database(pg_cluster.url(), name)


def main(argv: list[str] | None = None) -> int:
    """`start [--dir DIR]` prints the URL and the folder; `stop DIR` stops and deletes it."""
    parser = argparse.ArgumentParser(prog="python -m tests.pg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_start = sub.add_parser("start", help="start a cluster; prints its URL, then its folder")
    p_start.add_argument("--dir", type=Path, default=None)
    p_stop = sub.add_parser("stop", help="stop the cluster in DIR and delete DIR")
    p_stop.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "start":
        try:
            cluster = start(args.dir)
        except PostgresUnavailable as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        sys.stdout.write(f"{cluster.url()}\n{cluster.folder}\n")
        return 0
    Cluster(args.dir, 0).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
