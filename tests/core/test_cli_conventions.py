"""CLI conventions (issue 13): global options anywhere, `--json` always a JSON object,
several inputs in one process as JSON Lines, readable names, one studio per user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import _parser, main
from core.cli_commands import format_stats
from core.cli_run import expand_inputs, slug
from core.demo import write_samples

STUDIO = [sys.executable, "-m", "core.cli"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    return write_samples(tmp_path / "in")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    cfg = tmp_path / "conf" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text("[storage]\ndatabase = 'db/studio.db'\nresults_dir = 'results'\n"
                   "[credits]\nstarting = 0\noperator_topup = 50\n")
    return cfg


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LUNEO_CONFIG", "XDG_DATA_HOME", "DISCORD_TOKEN")}
    env["HOME"] = str(home)
    env["LUNEO_MODELS_DIR"] = str(home / "models")
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("argv", [
    ["--config", "x.toml", "bot"],
    ["bot", "--config", "x.toml"],
    ["run", "palette", "a.png", "--config", "x.toml", "--json"],
    ["--config", "x.toml", "run", "palette", "a.png", "--json"],
    ["models", "list", "--config", "x.toml"],
    ["credits", "grant", "m", "3", "--config", "x.toml"],
])
def test_global_options_before_or_after_the_subcommand(argv: list[str]) -> None:
    assert _parser().parse_args(argv).config == "x.toml"


def test_verbose_after_the_subcommand_keeps_the_config_given_before() -> None:
    a = _parser().parse_args(["--config", "x.toml", "stats", "-v"])
    assert (a.config, a.verbose) == ("x.toml", True)
    assert _parser().parse_args(["stats"]).config is None


def test_studio_bot_takes_config_after_the_subcommand(tmp_path: Path, config: Path) -> None:
    proc = subprocess.run([*STUDIO, "bot", "--config", str(config)], cwd=tmp_path,
                          env=_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=60, check=False)
    assert "unrecognized arguments" not in proc.stderr
    assert proc.returncode == 2  # parsed and loaded; stops only for the missing token
    assert "DISCORD_TOKEN is not set" in proc.stderr


def test_run_palette_config_after_and_json(config: Path, samples: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["run", "palette", str(samples["coffee.jpg"]), "--config", str(config),
                 "--json"])
    out = json.loads(capsys.readouterr().out)  # exactly one object, as before
    assert code == 0
    assert out["status"] == "succeeded"
    assert out["outputs"] == ["coffee-palette.png"]
    assert (config.parent / "db" / "studio.db").is_file()


def test_json_with_a_missing_file_is_one_object_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert main(["run", "palette", "missing.png", "--json"]) == 2
    captured = capsys.readouterr()
    obj = json.loads(captured.out)
    assert obj["status"] == "failed"
    assert obj["error"]["type"] == "InvalidInput"
    assert "missing.png" in obj["error"]["message"]
    assert obj["credits_charged"] == 0
    assert captured.err == ""
    assert list(tmp_path.iterdir()) == []  # not even a database


def test_json_with_an_unreadable_config_is_one_object_and_exit_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[storage\n")
    assert main(["run", "palette", "x.png", "--config", str(bad), "--json"]) == 1
    obj = json.loads(capsys.readouterr().out)
    assert obj["status"] == "failed"
    assert obj["error"]["type"] == "ConfigError"


def test_help_lists_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("--style {modern,vintage,minimal,bold,playful}", "--scale {2,4}",
                   "--ratio {1:1,16:9,9:16,4:3}", "--focus {auto,face,center,product}",
                   "--mode {auto,person,product,animal}", "--aspect {1:1,16:9,9:16,4:3}",
                   "default 2", "INPUT [INPUT ...]", "--config"):
        assert needle in text, needle


def test_three_inputs_print_three_json_lines_in_order(
        config: Path, samples: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    names = ["coffee.jpg", "chelsea.jpg", "rocket.jpg"]
    assert main(["run", "palette", *(str(samples[n]) for n in names), "--json",
                 "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    objs = [json.loads(line) for line in lines]
    assert [o["status"] for o in objs] == ["succeeded"] * 3
    assert [o["outputs"] for o in objs] == [
        ["coffee-palette.png"], ["chelsea-palette.png"], ["rocket-palette.png"]]
    for o in objs:
        assert (tmp_path / o["outputs"][0]).is_file()
    assert len({o["job_id"] for o in objs}) == 3


def test_folders_and_globs_expand_and_a_missing_input_keeps_its_place(
        config: Path, samples: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = samples["coffee.jpg"].parent
    (folder / "notes.txt").write_text("not an image")
    assert expand_inputs("palette", [str(folder)]) == sorted(
        str(p) for p in samples.values())
    assert expand_inputs("palette", [str(folder / "*.png")]) == [str(samples["chelsea-small.png"])]
    assert expand_inputs("design", ["a *star* prompt"]) == ["a *star* prompt"]
    code = main(["run", "palette", str(folder / "*.png"), "nope.png", str(samples["rocket.jpg"]),
                 "--json", "-o", "out/", "--config", str(config)])
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 2  # one input was the user's mistake; the others still ran
    assert [o["status"] for o in objs] == ["succeeded", "failed", "succeeded"]
    assert objs[1]["error"]["type"] == "InvalidInput"
    assert objs[0]["outputs"] == ["out/chelsea-small-palette.png"]
    assert objs[2]["outputs"] == ["out/rocket-palette.png"]


def test_several_inputs_need_a_folder_for_out(config: Path, samples: dict[str, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "palette", str(samples["coffee.jpg"]), str(samples["rocket.jpg"]),
                 "-o", "one.png", "--json", "--config", str(config)])
    assert code == 2
    assert "must be a folder" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_design_outputs_get_a_slug_of_the_prompt(config: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert slug("Summer sale: 50% OFF!") == "summer-sale-50-off"
    assert slug("a" * 60) == "a" * 40
    assert slug("!!!") == "design"
    assert main(["run", "design", "Summer sale: 50% OFF!", "--json", "--config",
                 str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == ["summer-sale-50-off-design.png"]


def test_no_config_keeps_data_in_the_user_folder_not_here(
        tmp_path: Path, samples: dict[str, Path]) -> None:
    home, here = tmp_path / "home", tmp_path / "empty"
    here.mkdir()
    proc = subprocess.run([*STUDIO, "run", "palette", str(samples["coffee.jpg"]), "--json"],
                          cwd=here, env=_env(home), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in here.iterdir()) == ["coffee-palette.png"]
    data = home / ".local" / "share" / "luneo-studio" / "data"
    assert (data / "studio.db").is_file()
    doctor = subprocess.run([*STUDIO, "doctor"], cwd=here, env=_env(home), capture_output=True,
                            text=True, timeout=60, check=False)
    assert doctor.returncode == 0, doctor.stderr
    assert f"database (wallets, jobs, history): {data / 'studio.db'}" in doctor.stdout
    assert f"results and result cache:          {data / 'results'}" in doctor.stdout
    assert f"models:                            {home / 'models'}" in doctor.stdout
    assert sorted(p.name for p in here.iterdir()) == ["coffee-palette.png"]


def test_stats_says_what_is_held_now_not_ever(config: Path, samples: dict[str, Path],
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "crop", str(samples["rocket.jpg"]), "--ratio", "1:1",
                 "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["stats", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert "1 spent on finished jobs" in text
    assert "0 held right now by running jobs" in text
    led = {"issued": 9, "spent": 4, "refunded": 2, "held_now": 3}
    line = format_stats({"tools": [], "failures": [], "providers": [], "circuits": {},
                         "ledger": led}).splitlines()[-1]
    assert line == ("credits: 9 given out (starting, daily, grants, top-ups); 4 spent on "
                    "finished jobs; 2 refunded (failed, refused or cancelled jobs: not charged); 3 held right now "
                    "by running jobs")
