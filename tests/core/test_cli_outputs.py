"""`studio run` outputs (issue 14, finding 8): no silent overwrite, an unwritable `-o`
refused before anything is held, and a write that still fails refunded."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

import core.cli_output
from core.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LUNEO_CONFIG", raising=False)
    (tmp_path / "config.toml").write_text(
        "[storage]\ndatabase = 'studio.db'\nresults_dir = 'results'\n"
        "[credits]\nstarting = 0\noperator_topup = 50\n")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "x.png")
    return tmp_path


def _ledger(workdir: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(workdir / "studio.db") as conn:
        return conn.execute("SELECT kind, delta, balance_after FROM ledger ORDER BY id").fetchall()


def _jobs(workdir: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(workdir / "studio.db") as conn:
        return conn.execute("SELECT state, error_type FROM jobs ORDER BY created_at").fetchall()


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["run", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_second_run_gets_a_suffix_instead_of_overwriting(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code1, first = _run_json(capsys, "crop", "x.png", "--ratio", "1:1")
    code2, second = _run_json(capsys, "crop", "x.png", "--ratio", "4:3")
    code3, third = _run_json(capsys, "crop", "x.png", "--ratio", "4:3", "-o", "out/")
    code4, fourth = _run_json(capsys, "crop", "x.png", "--ratio", "1:1", "-o", "out/")
    assert (code1, code2, code3, code4) == (0, 0, 0, 0)
    assert first["outputs"] == ["x-crop.png"]
    assert second["outputs"] == ["x-crop-2.png"]
    assert third["outputs"] == ["out/x-crop.png"]
    assert fourth["outputs"] == ["out/x-crop-2.png"]
    assert Image.open("x-crop.png").size == (48, 48)  # the first result is still there
    assert Image.open("x-crop-2.png").size == (64, 48)


def test_an_explicit_output_file_is_written_as_given(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_json(capsys, "crop", "x.png", "--ratio", "1:1", "-o", "mine.png")[0] == 0
    code, out = _run_json(capsys, "crop", "x.png", "--ratio", "4:3", "-o", "mine.png")
    assert code == 0
    assert out["outputs"] == ["mine.png"]
    assert Image.open("mine.png").size == (64, 48)


@pytest.mark.parametrize("out", ["blocker/out.png", "blocker/sub/", "blocker/a/b.png"])
def test_an_unwritable_output_is_refused_before_the_hold(
    workdir: Path, capsys: pytest.CaptureFixture[str], out: str
) -> None:
    (workdir / "blocker").write_text("a file where a folder should be")
    code, obj = _run_json(capsys, "crop", "x.png", "--ratio", "1:1", "-o", out)
    assert code == 2
    assert obj["status"] == "failed"
    assert obj["credits_charged"] == 0
    assert obj["job_id"] is None
    assert obj["error"]["type"] == "InvalidInput"
    assert "Invalid `out`" in obj["error"]["message"]
    assert not (workdir / "studio.db").exists() or _ledger(workdir) == []  # nothing held


def test_an_unwritable_output_without_json_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "blocker").write_text("x")
    assert main(["run", "crop", "x.png", "--ratio", "1:1", "-o", "blocker/out.png"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: Invalid `out`: blocker is not a folder.\n"


@pytest.mark.parametrize("as_json", [True, False])
def test_a_write_that_fails_after_the_job_is_refunded(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    as_json: bool,
) -> None:
    def disk_full(src: Path, dest: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))

    monkeypatch.setattr(core.cli_output, "_copy_new", disk_full)
    code = main(["run", "crop", "x.png", "--ratio", "1:1", *(["--json"] if as_json else [])])
    captured = capsys.readouterr()
    assert code == 1
    message = "output x-crop.png: cannot write it (No space left on device)"
    if as_json:
        obj = json.loads(captured.out)
        assert obj["status"] == "failed"
        assert obj["outputs"] == []
        assert obj["credits_charged"] == 0
        assert obj["balance"] == 50
        assert obj["error"] == {"type": "StorageError", "message": message}
    else:
        assert captured.out == ""
        assert captured.err == (f"crop failed: {message}; you were not charged "
                                "(balance 50).\n")
    assert "Traceback" not in captured.err
    assert _ledger(workdir) == [("topup", 50, 50), ("hold", -1, 49), ("refund", 1, 50)]
    assert _jobs(workdir) == [("failed", "StorageError")]
    assert not Path("x-crop.png").exists()
