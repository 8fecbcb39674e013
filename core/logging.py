"""Logging, configured once at startup: JSON lines or plain text, secrets scrubbed.

Job-related lines carry `job_id` (and server, member, tool, provider, attempt,
latency, outcome when known) passed through `extra=`. Every formatter here, JSON
or plain, replaces the value of every secret in `core.config.SECRET_ENV_VARS`
with `***` as a last line of defence; `formatter()` is the only way to get one.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from core.config import Settings
from core.storage.db import url_secrets

JOB_FIELDS = ("job_id", "guild_id", "member_id", "tool", "provider", "attempt", "latency_ms",
              "outcome", "error_type", "event")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BRIEF_FORMAT = "%(levelname)s %(name)s: %(message)s"  # the command line's warnings
MIN_SECRET_LEN = 6  # shorter values would blank out ordinary words


class _Scrubber:
    def __init__(self, secrets: list[str]) -> None:
        # longest first, so a secret containing another is replaced whole
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len,
                              reverse=True)

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text


class PlainFormatter(logging.Formatter):
    """`logging.Formatter` text with secrets scrubbed (message, arguments, traceback)."""

    def __init__(self, secrets: list[str], fmt: str = PLAIN_FORMAT) -> None:
        super().__init__(fmt)
        self._scrubber = _Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The record as plain text, with every secret value replaced by ***."""
        return self._scrubber.scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; every text value scrubbed before it is encoded."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._scrubber = _Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (ts, level, logger, msg, extras), secrets replaced by ***."""
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in JOB_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        scrub = self._scrubber.scrub
        # scrubbed before encoding: json.dumps escapes quotes and backslashes in a value
        return json.dumps(_scrubbed(out, scrub), default=lambda o: scrub(str(o)))


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, scrub) for v in value]
    return value


def formatter(settings: Settings, *, json_lines: bool | None = None,
              fmt: str = PLAIN_FORMAT) -> logging.Formatter:
    """The configured formatter (JSON lines unless `[logging] json_lines = false`),
    scrubbing this process's secrets."""
    secrets = settings.secrets.revealed() + url_secrets(str(settings.storage.database))
    use_json = settings.logging.json_lines if json_lines is None else json_lines
    return JsonFormatter(secrets) if use_json else PlainFormatter(secrets, fmt)


def stderr_handler(settings: Settings, *, json_lines: bool | None = None,
                   fmt: str = PLAIN_FORMAT, stream: Any = None) -> logging.Handler:
    """A handler writing scrubbed lines to `stream` (default stderr); `setup_logging`
    replaces it (a command that configures logging again must not print twice)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings, json_lines=json_lines, fmt=fmt))
    handler._luneo = True  # type: ignore[attr-defined]
    return handler


def setup_logging(settings: Settings, stream: Any = None) -> None:
    """Configure the root logger once: JSON lines (or plain text) to stderr."""
    handler = stderr_handler(settings, stream=stream)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_luneo", False):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(settings.logging.level)
    for noisy in ("httpx", "httpcore", "discord.gateway", "discord.http", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
