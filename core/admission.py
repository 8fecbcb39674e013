"""Admission: every check a job passes before any credit moves, in one place.

`Admission.admit(req, load)` runs them in order and returns what the engine
needs to hold and queue the job (`Admitted`): tool enabled, channel allowed,
parameters valid, prompt allowed, the input decoded safely (from the upload or
from the result store), the local work within its time and memory budget,
rate limits (token buckets per member and per server), the member's
running/queued limits, the input stored, the cache looked up, the cost. Each
refusal is a UserError whose text tells the member what to do; refusals carry
data (e.g. `NotAllowed.channel_ids`) so each front end renders them its own way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core import budget
from core.config import Settings
from core.errors import (
    ContentRejected,
    InvalidInput,
    NotAllowed,
    QueueFull,
    RateLimited,
    ToolDisabled,
    UserError,
)
from core.guild_config import GuildConfig, GuildSettings
from core.imaging import DecodedImage, decode_image, mime_of
from core.jobs import JobRequest
from core.metrics import Metrics
from core.providers.base import Provider
from core.ratelimit import TokenBuckets
from core.storage.db import Database
from core.storage.results import BlobStore
from core.tools.base import DRAFT_PIXELS, TOOLS, DesignParams, Params, parse_params


@dataclass(frozen=True)
class MemberLoad:
    """A member's jobs in this process right now: counts, and how long (s) each running one has run."""

    running: int
    queued: int
    running_ages_s: list[float]  # how long each running job has run


@dataclass(frozen=True)
class CachedResult:
    """A result the cache already holds for these inputs: files are result-store keys."""

    files: list[dict[str, str]]
    data: dict[str, Any]
    note: str | None


@dataclass(frozen=True)
class Admitted:
    """A job that passed every check: what the engine holds, records and queues."""

    params: Params
    decoded: DecodedImage | None
    input_bytes: bytes | None
    input_key: str | None  # the input in the result store
    cache_key: str
    cached: CachedResult | None
    cost: int  # credits to hold
    lane: str  # "light" or "heavy" (core/dispatch.py)


class Admission:
    """The checks, with their state (token buckets). `rate_limits=False` for the
    operator's own command line."""

    def __init__(self, settings: Settings, guild_config: GuildConfig, store: BlobStore,
                 db: Database, metrics: Metrics, providers: Mapping[str, Provider], *,
                 rate_limits: bool = True) -> None:
        self.settings = settings
        self.guild_config = guild_config
        self.store = store
        self.db = db
        self.metrics = metrics
        self.providers = providers
        self.rate_limits = rate_limits
        self._buckets = TokenBuckets()

    async def admit(self, req: JobRequest, load: Callable[[str, str], MemberLoad]) -> Admitted:
        """Every check, in order; raises the first refusal (a UserError) before anything
        is charged. `load(guild, member)` tells the member's jobs in flight."""
        if req.tool not in TOOLS:
            raise InvalidInput(f"Unknown tool {req.tool!r}.", field="tool")
        g = self.guild_config.effective_now(req.guild_id)
        self._check_allowed(req, g)
        params = parse_params(req.tool, req.params)
        self._check_prompt(params)
        data, decoded = await self._input(req) if TOOLS[req.tool].takes_image else (None, None)
        local_cost = None
        if decoded:  # time/memory/output limits of local work (core/budget.py)
            local_cost = budget.admit(req.tool, params, decoded.image, self.settings,
                                    self.providers)
        self._check_rate(req, g)
        self._check_queue(req, g, load(req.guild_id, req.member_id))
        input_key = req.input_key
        if data is not None and input_key is None:
            input_key = (await self.store.put_many([(data, mime_of(data))]))[0]
        cache_key = _cache_key(req.tool, params, input_key)
        cached = await self._cache_lookup(cache_key)
        cost = (g.cache_hit_cost if cached
                else TOOLS[req.tool].cost_for(g.tools[req.tool].cost, params))
        return Admitted(params, decoded, data, input_key, cache_key, cached, cost,
                        self._lane(req.tool, params, decoded, local_cost))

    def take_rate(self, req: JobRequest) -> None:
        """Spend the rate tokens once the job is accepted (refusals cost no token)."""
        g = self.guild_config.effective_now(req.guild_id)
        for key, per_minute, _scope in self._rate_keys(req, g):
            self._buckets.take(key, per_minute)

    # -- the checks -------------------------------------------------------------------
    def _check_allowed(self, req: JobRequest, g: GuildSettings) -> None:
        if not g.tools[req.tool].enabled:
            raise ToolDisabled(req.tool)
        if (req.channel_id is not None and g.allowed_channels
                and req.channel_id not in g.allowed_channels):
            n = len(g.allowed_channels)
            raise NotAllowed(
                f"Studio tools can only be used in this server's allowed channel"
                f"{'s' if n != 1 else ''} ({n}).", channel_ids=g.allowed_channels)

    def _check_prompt(self, params: Params) -> None:
        if not isinstance(params, DesignParams):
            return
        text = f"{params.prompt} {params.avoid or ''}".lower()
        for word in self.settings.security.prompt_blocklist:
            if word.lower() in text:
                raise ContentRejected(
                    "Your prompt contains a term this bot does not allow; you were not charged."
                )

    async def _input(self, req: JobRequest) -> tuple[bytes, DecodedImage]:
        """The input's bytes (uploaded, or read from the store by key) and its decoding."""
        if req.input_key is not None:
            try:
                data = await self.store.get_async(req.input_key)
            except FileNotFoundError:
                raise InvalidInput("That result is no longer available; run the tool again.",
                                   field="image") from None
        elif req.image is not None:
            data = req.image
        else:
            raise InvalidInput("Invalid `image`: attach an image to run this tool.", field="image")
        sec = self.settings.security
        decoded = await asyncio.to_thread(
            decode_image, data, max_bytes=sec.max_input_bytes, max_pixels=sec.max_pixels,
            draft_pixels=DRAFT_PIXELS.get(req.tool))
        return data, decoded

    def _rate_keys(self, req: JobRequest, g: GuildSettings) -> list[tuple[str, int, str]]:
        if not self.rate_limits:
            return []
        return [
            (f"m:{req.guild_id}:{req.member_id}", g.per_member_per_minute, "member"),
            (f"g:{req.guild_id}", self.settings.limits.per_server_per_minute, "server"),
        ]

    def _check_rate(self, req: JobRequest, g: GuildSettings) -> None:
        for key, per_minute, scope in self._rate_keys(req, g):
            wait = self._buckets.wait_time(key, per_minute)
            if wait > 0:
                raise RateLimited(wait, scope)

    def _check_queue(self, req: JobRequest, g: GuildSettings, load: MemberLoad) -> None:
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

    async def _cache_lookup(self, key: str) -> CachedResult | None:
        row = await self.db.fetchone("SELECT files, data, note FROM cache WHERE key = ?", (key,))
        if row is None:
            return None
        files = json.loads(row[0])
        for f in files:
            if not await self.store.exists_async(f["key"]):
                return None
        return CachedResult(files, json.loads(row[1]), row[2])

    def _lane(self, tool: str, params: Params, decoded: DecodedImage | None,
              cost: budget.Budget | None) -> str:
        """"light" when the local work is estimated at most `limits.light_seconds` and
        small in memory (crops, palettes, designs), else "heavy". `cost`: the estimate
        admission already made, if any (none when a remote provider will do the work)."""
        if cost is None:
            w, h = (decoded.width, decoded.height) if decoded else (0, 0)
            try:
                cost = budget.estimate(tool, params, w, h, self.settings)
            except UserError:
                return "heavy"
        return "light" if cost.seconds <= self.settings.limits.light_seconds and not cost.heavy else "heavy"


def _cache_key(tool: str, params: Params, input_key: str | None) -> str:
    raw = f"{tool}\n{params.normalised()}\n{input_key or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()
