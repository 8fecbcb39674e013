"""The `studio` command through its real entry point, on the real local tools."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from core.cli import main
from core.config import Settings, load_settings
from core.demo import write_samples


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LUNEO_CONFIG", raising=False)
    (tmp_path / "config.toml").write_text(
        "[storage]\ndatabase = 'db/studio.db'\nresults_dir = 'results'\n"
        "[credits]\nstarting = 0\noperator_topup = 50\n")
    write_samples(tmp_path / "in")
    return tmp_path


def test_run_palette_json(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "palette", "in/coffee.jpg", "--colors", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "succeeded"
    assert out["provider"] == "local"
    assert out["error"] is None
    assert len(out["data"]["colors"]) == 4
    assert abs(sum(c["percent"] for c in out["data"]["colors"]) - 100) <= 1
    assert {"hex", "rgb", "hsl", "percent", "name"} <= set(out["data"]["colors"][0])
    assert Path(out["outputs"][0]).is_file()
    assert Image.open(out["outputs"][0]).format == "PNG"


def test_run_crop_writes_exact_ratio_and_charges(workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "crop", "in/rocket.jpg", "--ratio", "4:3", "-o", "out/", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    w, h = Image.open(out["outputs"][0]).size
    assert w * 3 == h * 4
    assert out["outputs"][0].startswith("out/")
    assert out["credits_charged"] == 1
    assert out["balance"] == 49


def test_user_errors_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.png").write_text("not an image")
    assert main(["run", "crop", "bad.png", "--ratio", "1:1", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed"
    assert out["error"]["type"] == "InvalidInput"
    assert "not a supported image" in out["error"]["message"]
    assert main(["run", "crop", "in/coffee.jpg", "--ratio", "7:5"]) == 2
    assert "`ratio`" in capsys.readouterr().err
    assert main(["run", "crop", "missing.png", "--ratio", "1:1"]) == 2


def test_bad_config_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("config.toml").write_text("[limits]\nper_minute = 3\n")
    assert main(["stats"]) == 1
    assert capsys.readouterr().err.strip() == "config: unknown key `limits.per_minute`"


def test_credits_db_and_stats(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert "version 3" in capsys.readouterr().out
    assert main(["credits", "grant", "alice", "7", "--guild", "g1", "--reason", "prize"]) == 0
    assert "balance 7" in capsys.readouterr().out
    assert main(["credits", "balance", "alice", "--guild", "g1"]) == 0
    assert "7 credits" in capsys.readouterr().out
    assert main(["run", "palette", "in/coffee.jpg"]) == 0
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["tools"][0]["tool"] == "palette"
    assert stats["tools"][0]["successes"] == 1
    assert main(["providers"]) == 0
    text = capsys.readouterr().out
    assert "OPENAI_API_KEY" in text
    assert "local" in text


def test_json_logs_carry_job_id_and_no_secrets(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-DO-NOT-LOG-1234567890"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    try:
        assert main(["-v", "run", "palette", "in/coffee.jpg", "--json"]) == 0
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers
                                        if not getattr(h, "_luneo", False)]
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    job_id = json.loads(captured.out)["job_id"]
    job_lines = [ln for ln in lines if ln.get("job_id") == job_id]
    assert {"job queued", "job succeeded"} <= {ln["msg"] for ln in job_lines}
    assert secret not in captured.err
    assert secret not in captured.out


async def test_prometheus_endpoint(tmp_path: Path) -> None:
    import aiohttp

    from core.metrics import Metrics
    from core.metrics_server import start_metrics_server

    m = Metrics()
    m.record("crop", "local", ok=True, latency_ms=12, credits=1)
    m.record("crop", "local", ok=False, latency_ms=3, failure="AllProvidersFailed")
    runner = await start_metrics_server(m, 0)
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    await runner.cleanup()
    assert 'luneo_runs_total{tool="crop",provider="local"} 2' in text
    assert 'type="AllProvidersFailed"} 1' in text
    assert load_settings(overrides={}, env={}).metrics.prometheus_port == 0


def test_a_command_that_configures_logging_again_prints_each_line_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`studio worker` sets up the configured logging after the CLI's brief one: each line
    must come out once, not once per handler (plain and JSON)."""
    import io

    from core.cli import _setup_cli_logging
    from core.logging import setup_logging

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []  # as in a fresh process, where basicConfig installs its handler
    stream = io.StringIO()
    try:
        _setup_cli_logging(Settings(), verbose=False)
        setup_logging(Settings(), stream=stream)
        logging.getLogger("luneo.test").warning("worker started once")
    finally:
        root.handlers, root.level = saved, level
    assert stream.getvalue().count("worker started once") == 1
    assert "worker started once" not in capsys.readouterr().err


def test_config_path_may_be_dev_null_and_a_folder_is_named(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--config /dev/null` means "no settings": built-in defaults, data in the per-user
    folder (not in /dev); a folder is refused in one line that says so, not as "file not
    found"."""
    monkeypatch.setenv("XDG_DATA_HOME", str(workdir / "xdg"))
    assert main(["--config", "/dev/null", "doctor"]) == 0
    out = capsys.readouterr().out
    assert "data in the per-user data folder (no config file)" in out
    assert (workdir / "xdg" / "luneo-studio" / "data" / "studio.db").is_file()
    assert 'jobs run: in the process that accepts them ([queue] backend = "inprocess")' in out
    assert main(["--config", str(workdir), "providers"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"config: {workdir} is a folder; give the path of a config.toml file")


@pytest.mark.parametrize(("argv", "opening"), [
    (["worker"], "Run queued jobs"),
    (["db", "copy"], "Copy a stopped install's SQLite database"),
    (["models", "fetch"], "Fetch models from public package registries"),
])
def test_every_subcommand_help_opens_with_what_it_does(
    argv: list[str], opening: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    usage, _, rest = capsys.readouterr().out.partition("\n\n")
    assert usage.startswith("usage: studio")
    assert rest.startswith(opening)


def test_run_works_through_its_inputs_on_one_heavy_worker(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`studio run` takes its inputs one at a time: one heavy worker process, so every
    input after the first finds the models loaded (with two, the second paid a load)."""
    import core.cli_run

    seen: list[int] = []
    real = core.cli_run.open_engine

    async def spy(settings: Settings) -> object:
        seen.append(settings.limits.local_threads)
        return await real(settings)

    monkeypatch.setattr(core.cli_run, "open_engine", spy)
    assert load_settings("config.toml").limits.local_threads == 2  # the default
    assert main(["run", "palette", "in/coffee.jpg", "in/chelsea.jpg", "--colors", "3"]) == 0
    assert seen == [1]


def test_out_path_without_extension_gets_the_result_type(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o cropped` writes `cropped.jpg` for a JPEG crop (a file with no extension opens
    nowhere); a failure's line reads as one sentence ("...; you were not charged")."""
    assert main(["run", "crop", "in/coffee.jpg", "--ratio", "1:1", "-o", "cropped"]) == 0
    assert Image.open(workdir / "cropped.jpg").format == "JPEG"
    assert not (workdir / "cropped").exists()
    Image.new("RGB", (16, 16)).save(workdir / "tiny.png")
    assert main(["run", "remove-bg", "tiny.png"]) == 2
    err = capsys.readouterr().err
    assert "needs at least 32×32; you were not charged (balance" in err
