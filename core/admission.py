"""Admission: the checks a job passes before any credit moves.

Tool enabled, channel allowed, prompt blocklist, per-member and per-server rate
limits (token buckets), per-member running/queued limits. Each refusal is a
UserError whose text tells the member what to do (and how long to wait).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import ContentRejected, NotAllowed, QueueFull, RateLimited, ToolDisabled
from core.guild_config import GuildSettings
from core.metrics import Metrics
from core.ratelimit import TokenBuckets
from core.tools.base import DesignParams, Params

if TYPE_CHECKING:
    from core.engine import JobRequest


@dataclass(frozen=True)
class MemberLoad:
    running: int
    queued: int
    running_ages_s: list[float]  # how long each running job has run


class Admission:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._buckets = TokenBuckets()

    def check_allowed(self, req: JobRequest, g: GuildSettings) -> None:
        if not g.tools[req.tool].enabled:
            raise ToolDisabled(req.tool)
        if (req.source == "discord" and g.allowed_channel_ids
                and req.channel_id not in g.allowed_channel_ids):
            where = ", ".join(f"<#{c}>" for c in g.allowed_channel_ids)
            raise NotAllowed(f"Studio tools can only be used in {where} on this server.")

    def check_prompt(self, params: Params) -> None:
        if not isinstance(params, DesignParams):
            return
        text = f"{params.prompt} {params.avoid or ''}".lower()
        for word in self.settings.security.prompt_blocklist:
            if word.lower() in text:
                raise ContentRejected(
                    "Your prompt contains a term this bot does not allow; you were not charged."
                )

    def _rate_keys(self, req: JobRequest, g: GuildSettings) -> list[tuple[str, int, str]]:
        if req.source == "cli":  # the operator's own machine: no rate limit
            return []
        return [
            (f"m:{req.guild_id}:{req.member_id}", g.per_member_per_minute, "member"),
            (f"g:{req.guild_id}", self.settings.limits.per_server_per_minute, "server"),
        ]

    def check_rate(self, req: JobRequest, g: GuildSettings) -> None:
        for key, per_minute, scope in self._rate_keys(req, g):
            wait = self._buckets.wait_time(key, per_minute)
            if wait > 0:
                raise RateLimited(wait, scope)

    def take_rate(self, req: JobRequest, g: GuildSettings) -> None:
        """Spend the tokens once the job is accepted (refusals cost no token)."""
        for key, per_minute, _scope in self._rate_keys(req, g):
            self._buckets.take(key, per_minute)

    def check_queue(self, req: JobRequest, g: GuildSettings, load: MemberLoad) -> None:
        if load.running < g.per_member_running or load.queued < g.per_member_queued:
            return
        # the wait: the soonest a running job of theirs should end, by the tool's average
        avg = self._avg_latency_s(req.tool)
        remaining = [max(1.0, avg - age) for age in load.running_ages_s]
        raise QueueFull(min(remaining, default=avg), load.running, load.queued)

    def _avg_latency_s(self, tool: str) -> float:
        rows = [s for s in self.metrics.snapshot() if s["tool"] == tool and s["runs"]]
        if not rows:
            return 10.0
        return max(1.0, sum(float(str(r["avg_latency_ms"])) for r in rows) / len(rows) / 1000)
