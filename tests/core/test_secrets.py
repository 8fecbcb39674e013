"""One secrets list, and no secret value in any log output (plain, JSON, the CLI's)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import SECRET_ENV_VARS, Secrets, load_settings
from core.logging import PLAIN_FORMAT, formatter, setup_logging
from core.providers.base import RemoteProvider
from core.providers.registry import REMOTE, provider_status

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {name: f"sk-{name.lower()}-DO-NOT-LOG-{i}x9Qz" for i, name in
           enumerate(SECRET_ENV_VARS)}


def test_the_secrets_list_is_the_settings_and_the_registrys() -> None:
    assert set(SECRET_ENV_VARS.values()) == set(Secrets.model_fields)
    secrets = Secrets.from_env(SECRETS)
    assert sorted(secrets.revealed()) == sorted(SECRETS.values())
    for name, value in SECRETS.items():
        got = secrets.by_env(name)
        assert got is not None
        assert got.get_secret_value() == value
    for provider, (module, cls, env) in REMOTE.items():
        provider_cls = getattr(__import__(module, fromlist=[cls]), cls)
        assert issubclass(provider_cls, RemoteProvider), provider
        assert provider_cls.key_env == env, provider
        assert env in SECRET_ENV_VARS
    rows = {r["provider"]: r["configured"] for r in provider_status(load_settings(env={}))}
    assert rows["openai"] == "no (set OPENAI_API_KEY to enable)"


def _log_through(json_lines: bool) -> str:
    settings = load_settings(env=SECRETS)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(settings, json_lines=json_lines))
    log = logging.getLogger("tests.secrets")
    log.addHandler(handler)
    log.propagate = False
    try:
        for value in SECRETS.values():
            log.warning("calling with %s", value, extra={"job_id": "j1", "event": value})
            try:
                raise RuntimeError(f'bad key "{value}"')
            except RuntimeError:
                log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    return stream.getvalue()


@pytest.mark.parametrize("json_lines", [False, True], ids=["plain", "json"])
def test_no_secret_in_formatter_output(json_lines: bool) -> None:
    out = _log_through(json_lines)
    assert out.count("***") >= 2 * len(SECRETS)  # the message and the traceback
    for value in SECRETS.values():
        assert value not in out
    if json_lines:
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert lines[0]["msg"] == "calling with ***"
        assert lines[0]["event"] == "***"
    else:
        assert "WARNING tests.secrets: calling with ***" in out


def test_setup_logging_scrubs_plain_text_too(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[logging]\njson_lines = false\n")
    settings = load_settings(cfg, env=SECRETS)
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    setup_logging(settings, stream=stream)
    try:
        logging.getLogger("tests.secrets").warning("token %s", SECRETS["DISCORD_TOKEN"])
    finally:
        root.handlers = [h for h in root.handlers if not getattr(h, "_luneo", False)]
        root.setLevel(level)
    assert "token ***" in stream.getvalue()
    assert SECRETS["DISCORD_TOKEN"] not in stream.getvalue()
    assert PLAIN_FORMAT.startswith("%(asctime)s")


@pytest.mark.parametrize("verbose", [False, True], ids=["warnings", "verbose"])
def test_no_secret_in_the_cli_stderr_log(tmp_path: Path, verbose: bool) -> None:
    """The `studio` command's own logging set-up, in a process of its own."""
    script = (
        "import logging, os, sys\n"
        "from core.cli import _setup_cli_logging\n"
        "from core.config import load_settings\n"
        f"_setup_cli_logging(load_settings(), {verbose})\n"
        "logging.getLogger('core.cli').warning('key %s', os.environ['OPENAI_API_KEY'])\n"
        "logging.getLogger('core.cli').error('token ' + os.environ['DISCORD_TOKEN'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LUNEO_CONFIG", *SECRET_ENV_VARS)}
    env.update(SECRETS, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert "key ***" in done.stderr, done.stderr
    assert "token ***" in done.stderr, done.stderr
    for value in SECRETS.values():
        assert value not in done.stderr
        assert value not in done.stdout
