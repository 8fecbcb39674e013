"""Structured JSON-lines logging, configured once at startup.

Job-related lines carry `job_id` (and server, member, tool, provider, attempt,
latency, outcome when known) passed through `extra=`. Secret values from the
environment are scrubbed from every line as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from core.config import Settings

JOB_FIELDS = ("job_id", "guild_id", "member_id", "tool", "provider", "attempt", "latency_ms",
              "outcome", "error_type", "event")


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 6]

    def format(self, record: logging.LogRecord) -> str:
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
        return self.scrub(json.dumps(out, default=str))

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text


def secret_values(settings: Settings) -> list[str]:
    sec = settings.secrets
    return [
        v.get_secret_value()
        for v in (sec.discord_token, sec.openai_api_key, sec.replicate_api_token,
                  sec.removebg_api_key)
        if v is not None
    ]


def setup_logging(settings: Settings, stream: Any = None) -> None:
    """Configure the root logger once: JSON lines (or plain text) to stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.logging.json_lines:
        handler.setFormatter(JsonFormatter(secret_values(settings)))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_luneo", False):
            root.removeHandler(h)
    handler._luneo = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.logging.level)
    for noisy in ("httpx", "httpcore", "discord.gateway", "discord.http", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
