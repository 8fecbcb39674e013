"""The command line with the Postgres job queue: `studio run` says when no worker is
alive instead of waiting silently, and `studio doctor` counts the workers."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from PIL import Image

from tests.queue_stack import STUDIO, spawn_worker, stop_worker, write_config

NOTICE = "waiting for a worker: none is running on queue 'luneo'"


def _wait_for(path: Path, text: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in path.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def _doctor(cfg: Path) -> str:
    out = subprocess.run([STUDIO, "--config", str(cfg), "doctor"], capture_output=True,
                         text=True, check=True, timeout=120)
    return out.stdout


def test_run_without_a_worker_says_so_and_finishes_once_one_starts(
    tmp_path: Path, pg_database: str
) -> None:
    cfg = write_config(tmp_path, pg_database)
    Image.new("RGB", (96, 64), (30, 120, 200)).save(tmp_path / "in.png")
    assert "workers alive (heartbeat within 5 s): 0 (none: queued jobs wait" in _doctor(cfg)
    err = tmp_path / "run.err"
    with err.open("wb") as sink:
        run = subprocess.Popen(
            [STUDIO, "--config", str(cfg), "run", "crop", "in.png", "--ratio", "1:1",
             "-o", "out.png"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=sink)
    worker = None
    try:
        assert _wait_for(err, NOTICE, 60), err.read_text()
        assert run.poll() is None  # still waiting, not failed
        worker = spawn_worker(cfg)
        assert run.wait(120) == 0
        assert Image.open(tmp_path / "out.png").size == (64, 64)
        assert "workers alive (heartbeat within 5 s): 1" in _doctor(cfg)
        # with a worker alive, no notice
        again = subprocess.run(
            [STUDIO, "--config", str(cfg), "run", "crop", "in.png", "--ratio", "4:3",
             "-o", "out2.png"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
            check=False)
        assert again.returncode == 0, again.stderr
        assert "waiting for a worker" not in again.stderr
    finally:
        if run.poll() is None:
            run.kill()
        if worker is not None:
            stop_worker(worker)
    assert err.read_text().count("waiting for a worker") == 1
