"""`python -m bot` as a real process against the fake Discord, and its exit statuses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from bot.__main__ import main
from bot.runner import serve
from core.config import load_settings
from tests.bot.conftest import World, write_config

ROOT = Path(__file__).resolve().parents[2]


async def test_python_m_bot_serves_and_stops_cleanly_on_sigterm(
    world: World, tmp_path: Path
) -> None:
    cfg = write_config(world, tmp_path, "[logging]\njson_lines = true", dev_guild=False)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LUNEO_CONFIG", "OPENAI_API_KEY", "REPLICATE_API_TOKEN", "REMOVEBG_API_KEY")
    }
    env.update(DISCORD_TOKEN=world.fake.token, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(cfg),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    logged: list[str] = []

    async def until_logged(text: str) -> None:
        while not any(text in line for line in logged):
            line = await proc.stderr.readline()
            assert line, "the bot exited: " + "".join(logged)[-2000:]
            logged.append(line.decode())

    try:
        await asyncio.wait_for(until_logged('"msg": "ready as Luneo'), 30)
        assert world.fake.global_commands  # synced globally (no dev_guild_id)
        ix = await world.slash("credits balance")
        assert "Your balance: **10 credits**" in (await world.fake.reply_to(ix)).content
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 30)
    err = "".join(logged) + rest.decode()
    assert proc.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    assert any(m.startswith("ready as Luneo") for m in messages)
    assert "bot closed" in messages
    assert world.fake.token not in err  # the token never reaches the logs


async def test_exit_statuses_for_configuration_errors(world: World, tmp_path: Path, capsys) -> None:
    cfg = write_config(world, tmp_path)
    assert await serve(load_settings(cfg, env={})) == 2  # no DISCORD_TOKEN
    bad = tmp_path / "bad.toml"
    bad.write_text("[discord]\nprogress_interval_s = 0.5\n", encoding="utf-8")
    assert main(["--config", str(bad)]) == 2
    assert "discord.progress_interval_s" in capsys.readouterr().err
