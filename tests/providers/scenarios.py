"""Fault scenarios run through the real engine with the real adapters against
the fake provider APIs. Each returns an `Observation` (requests seen by the
servers, delays between retries, outcome, credits); `test_fallback.py`
asserts on them and `benchmarks/provider_faults.py` writes them as a table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

from core.engine import Engine, JobRequest
from core.jobs import JobResult
from core.providers.openai import OpenAIProvider
from core.providers.removebg import RemoveBgProvider
from core.providers.replicate import ReplicateProvider
from tests.providers.fake_base import FakeServer, Fault, png_bytes, sample_image
from tests.providers.fake_openai import FLAG_WORD, FakeOpenAI, api_error, non_image, policy_block
from tests.providers.fake_removebg import FakeRemoveBg, error
from tests.providers.fake_replicate import FakeReplicate, Plan
from tests.providers.support import (
    OPENAI_KEY,
    REMOVEBG_KEY,
    REPLICATE_TOKEN,
    pinned_versions,
    provider_settings,
    server_tls,
    trusting,
)

# Small numbers so the whole set runs in seconds; the behaviour is the same.
ENGINE_OVERRIDES: dict[str, Any] = {
    "retry.max_attempts": 3,
    "retry.base_delay_s": 0.1,
    "retry.max_delay_s": 0.4,
    "retry.retry_after_cap_s": 0.6,
    "breaker.failure_threshold": 5,
    "breaker.cooldown_s": 0.5,
    "credits.starting": 100,
    "limits.per_member_per_minute": 1000,
    "limits.per_server_per_minute": 1000,
    "jobs.deadline_s": 10.0,
    "providers.openai.timeout_s": 0.3,
    "tools.design.providers": ["openai", "replicate"],
    "tools.remove-bg.providers": ["removebg", "replicate"],
    "tools.upscale.providers": ["replicate"],
}

# what counts as "a request to the provider" (the CDN download is not an API call)
API_ROUTES = {
    "openai": ("images", "moderations"),
    "replicate": ("create_model", "create_version", "get", "cancel", "files_create"),
    "removebg": ("removebg",),
}


@dataclass
class Observation:
    scenario: str
    expected: str
    requests: dict[str, int]
    delays: list[float]
    outcome: str
    charged: int
    refunds: int
    attempts: list[tuple[str, str]] = field(default_factory=list)
    result: JobResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)  # requests the fakes did not know


class Harness:
    """Three fake APIs + settings + a started engine on real SQLite in `folder`."""

    def __init__(self, folder: Path, **overrides: Any) -> None:
        self.folder = folder
        self.overrides = {**ENGINE_OVERRIDES, **overrides}
        self.ca = trustme.CA()
        self.openai = FakeOpenAI(OPENAI_KEY)
        self.replicate = FakeReplicate(REPLICATE_TOKEN, pinned_versions())
        self.removebg = FakeRemoveBg(REMOVEBG_KEY)
        self._trust = trusting(self.ca, folder)

    async def __aenter__(self) -> Harness:
        self._trust.__enter__()
        await self.openai.start()
        await self.replicate.start(tls=server_tls(self.ca))
        await self.removebg.start()
        self.settings = provider_settings(
            self.folder,
            openai=self.openai,
            replicate=self.replicate,
            removebg=self.removebg,
            overrides=self.overrides,
        )
        s = self.settings
        self.engine = await Engine.create(
            s,
            providers={
                "openai": OpenAIProvider(s),
                "replicate": ReplicateProvider(s),
                "removebg": RemoveBgProvider(s),
            },
        )
        await self.engine.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.engine.close(grace_s=1)
        for server in self.servers().values():
            await server.stop()
        self._trust.__exit__(et, ev, tb)

    def servers(self) -> dict[str, FakeServer]:
        return {"openai": self.openai, "replicate": self.replicate, "removebg": self.removebg}

    def unexpected(self) -> list[str]:
        return [u for s in self.servers().values() for u in s.unexpected]

    def request_counts(self) -> dict[str, int]:
        return {
            name: sum(len(server.requests_to(r)) for r in API_ROUTES[name])
            for name, server in self.servers().items()
        }

    async def run(self, tool: str, params: dict[str, Any], member: str = "m") -> JobResult:
        image = png_bytes(sample_image(96, 64)) if tool != "design" else None
        return await self.engine.run(
            JobRequest(
                "g",
                member,
                tool,
                params,
                image=image,
                channel_id="c",
            )
        )

    async def ledger(self, job_id: str) -> list[tuple[str, int]]:
        rows = await self.engine.db.fetchall(
            "SELECT kind, delta FROM ledger WHERE job_id = ? ORDER BY id", (job_id,)
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def attempts(self, job_id: str) -> list[tuple[str, str]]:
        rows = await self.engine.db.fetchall(
            "SELECT provider, outcome FROM provider_attempts WHERE job_id = ? ORDER BY id",
            (job_id,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def observe(
        self,
        scenario: str,
        expected: str,
        result: JobResult,
        delays: list[float],
        **extra: Any,
    ) -> Observation:
        ledger = await self.ledger(result.job_id)
        held = -sum(d for k, d in ledger if k == "hold")
        refunds = sum(1 for k, _ in ledger if k == "refund")
        outcome = f"succeeded via {result.provider}" if result.ok else result.status
        if result.error is not None:
            outcome += f": {type(result.error).__name__}"
        return Observation(
            scenario,
            expected,
            self.request_counts(),
            [round(d, 2) for d in delays],
            outcome,
            held - sum(d for k, d in ledger if k == "refund"),
            refunds,
            await self.attempts(result.job_id),
            result,
            extra,
            self.unexpected(),
        )


def _first(server: FakeServer, route: str) -> float:
    return server.requests_to(route)[0].at


Scenario = Callable[[Path], Awaitable[Observation]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


DESIGN = {"prompt": "a lighthouse at dawn", "aspect": "16:9"}


@scenario
async def openai_429_retry_after(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", api_error(429, retry_after=0.4))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "OpenAI 429, Retry-After 0.4 s",
            "retry after 0.4 s, succeed",
            r,
            h.openai.gaps("images"),
        )


@scenario
async def openai_429_retry_after_over_cap(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", api_error(429, retry_after=5))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "OpenAI 429, Retry-After 5 s (cap 0.6 s)",
            "no early retry: fall back to Replicate at once",
            r,
            h.openai.gaps("images"),
            fallback_after=round(
                _first(h.replicate, "create_model") - _first(h.openai, "images"), 2
            ),
        )


@scenario
async def openai_429_retry_after_past_deadline(folder: Path) -> Observation:
    async with Harness(folder, **{"retry.retry_after_cap_s": 30.0, "jobs.deadline_s": 3.0}) as h:
        h.openai.script("images", api_error(429, retry_after=20))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "OpenAI 429, Retry-After 20 s > the job's 3 s deadline",
            "no wait, fall back to Replicate at once",
            r,
            [],
            fallback_after=round(
                _first(h.replicate, "create_model") - _first(h.openai, "images"), 2
            ),
        )


@scenario
async def openai_500_x3_fallback(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", *[api_error(500)] * 3)
        r = await h.run("design", DESIGN)
        return await h.observe(
            "OpenAI 500 ×3",
            "3 attempts with backoff, fall back to Replicate",
            r,
            h.openai.gaps("images"),
        )


@scenario
async def openai_timeout_x3_fallback(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", *[Fault.hanging(3)] * 3)
        r = await h.run("design", DESIGN)
        return await h.observe(
            "OpenAI hangs past its 0.3 s timeout ×3",
            "3 attempts, fall back to Replicate",
            r,
            h.openai.gaps("images"),
        )


@scenario
async def openai_moderation_flagged(folder: Path) -> Observation:
    async with Harness(folder) as h:
        r = await h.run("design", {"prompt": f"a {FLAG_WORD} poster"})
        return await h.observe(
            "prompt flagged by OpenAI moderation", "1 request, no retry, no fallback, refund", r, []
        )


@scenario
async def openai_moderation_blocked(folder: Path) -> Observation:
    async with Harness(folder, **{"providers.openai.moderation": False}) as h:
        h.openai.script("images", policy_block())
        r = await h.run("design", DESIGN)
        return await h.observe(
            "Images API 400 moderation_blocked", "1 request, no retry, no fallback, refund", r, []
        )


@scenario
async def openai_400_permanent(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", api_error(400, code="invalid_value"))
        r = await h.run("design", DESIGN)
        return await h.observe("OpenAI 400 invalid_value", "no retry, fall back", r, [])


@scenario
async def openai_malformed_json(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", Fault.malformed())
        r = await h.run("design", DESIGN)
        return await h.observe("OpenAI 200 with malformed JSON", "no retry, fall back", r, [])


@scenario
async def openai_non_image(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.openai.script("images", non_image())
        r = await h.run("design", DESIGN)
        return await h.observe("OpenAI 200, b64_json is not an image", "no retry, fall back", r, [])


@scenario
async def replicate_failed_nsfw(folder: Path) -> Observation:
    async with Harness(folder, **{"tools.design.providers": ["replicate", "openai"]}) as h:
        h.replicate.plans.append(Plan(final="failed", error="NSFW content detected."))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "Replicate prediction failed: NSFW", "no retry, no fallback, refund", r, []
        )


@scenario
async def replicate_failed(folder: Path) -> Observation:
    async with Harness(folder, **{"tools.design.providers": ["replicate", "openai"]}) as h:
        h.replicate.plans.append(Plan(final="failed", error="CUDA out of memory"))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "Replicate prediction failed (model error)", "no retry, fall back to OpenAI", r, []
        )


@scenario
async def replicate_canceled(folder: Path) -> Observation:
    async with Harness(folder, **{"tools.design.providers": ["replicate", "openai"]}) as h:
        h.replicate.plans.append(Plan(final="canceled"))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "Replicate prediction canceled upstream", "no retry, fall back to OpenAI", r, []
        )


@scenario
async def replicate_aborted(folder: Path) -> Observation:
    async with Harness(folder, **{"tools.design.providers": ["replicate", "openai"]}) as h:
        h.replicate.plans.append(Plan(final="aborted"))
        r = await h.run("design", DESIGN)
        return await h.observe(
            "Replicate prediction aborted (1.0.7 cannot parse it)",
            "transient: a new prediction, succeed",
            r,
            h.replicate.gaps("create_model"),
        )


@scenario
async def replicate_create_429(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.replicate.script(
            "create_version",
            Fault.error(429, {"title": "throttled", "status": 429}, retry_after=0.3),
        )
        r = await h.run("upscale", {"scale": 2})
        return await h.observe(
            "Replicate create 429, Retry-After 0.3 s",
            "retry after 0.3 s, succeed",
            r,
            h.replicate.gaps("create_version"),
        )


@scenario
async def replicate_deadline(folder: Path) -> Observation:
    async with Harness(folder, **{"jobs.deadline_s": 0.8}) as h:
        h.replicate.plans.append(Plan(never_finish=True))
        started = time.monotonic()
        r = await h.run("upscale", {"scale": 2})
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)  # the cancel is sent as the attempt unwinds
        canceled = len(h.replicate.requests_to("cancel"))
        return await h.observe(
            "Replicate prediction never finishes (job deadline 0.8 s)",
            "cancel upstream, fail, refund",
            r,
            [],
            cancels=canceled,
            elapsed=round(elapsed, 2),
        )


@scenario
async def removebg_402_fallback(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.removebg.script("removebg", error(402, "insufficient_credits"))
        r = await h.run("remove-bg", {"mode": "person"})
        return await h.observe(
            "remove.bg 402 out of credits", "no retry, fall back to Replicate", r, []
        )


@scenario
async def removebg_429(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.removebg.script("removebg", error(429, "rate_limit_exceeded", retry_after=0.3))
        r = await h.run("remove-bg", {"mode": "auto"})
        return await h.observe(
            "remove.bg 429, Retry-After 0.3 s",
            "retry after 0.3 s, succeed",
            r,
            h.removebg.gaps("removebg"),
        )


@scenario
async def removebg_500_all_fail(folder: Path) -> Observation:
    async with Harness(folder, **{"tools.remove-bg.providers": ["removebg"]}) as h:
        h.removebg.script("removebg", *[error(500)] * 3)
        r = await h.run("remove-bg", {"mode": "auto"})
        return await h.observe(
            "remove.bg 500 ×3, no other provider",
            "3 attempts, every provider failed, refund",
            r,
            h.removebg.gaps("removebg"),
        )


@scenario
async def breaker_opens_and_half_opens(folder: Path) -> Observation:
    overrides = {
        "breaker.failure_threshold": 2,
        "breaker.cooldown_s": 0.5,
        "retry.max_attempts": 1,
        "tools.design.providers": ["openai"],
    }
    async with Harness(folder, **overrides) as h:
        h.openai.script("images", api_error(500), api_error(500))
        per_job: list[int] = []
        states: list[str] = []
        results: list[JobResult] = []
        for i in range(4):
            if i == 3:
                await asyncio.sleep(0.55)  # past the cooldown: one probe goes through
            before = len(h.openai.requests_to("images"))
            results.append(await h.run("design", {"prompt": f"poster {i}"}))
            per_job.append(len(h.openai.requests_to("images")) - before)
            states.append(h.engine.breakers.get("openai", "design").state)
        obs = await h.observe(
            "OpenAI 500 ×2 (threshold 2, cooldown 0.5 s), 4 jobs",
            "open after 2, skip job 3, half-open probe job 4 succeeds",
            results[-1],
            [],
            per_job=per_job,
            states=states,
            outcomes=[r.status for r in results],
            reasons=[str(r.error) if r.error else "" for r in results],
        )
        # four jobs: account for all of them
        obs.charged = sum(r.credits_charged for r in results)
        ledgers = [await h.ledger(r.job_id) for r in results]
        obs.refunds = sum(1 for rows in ledgers for kind, _ in rows if kind == "refund")
        obs.attempts = [a for r in results for a in await h.attempts(r.job_id)]
        return obs


@scenario
async def cancel_during_replicate(folder: Path) -> Observation:
    async with Harness(folder) as h:
        h.replicate.plans.append(Plan(never_finish=True))
        handle = await h.engine.submit(
            JobRequest(
                "g",
                "m",
                "upscale",
                {"scale": 2},
                image=png_bytes(sample_image(96, 64)),
                channel_id="c",
            )
        )
        for _ in range(100):
            if h.replicate.requests_to("get"):
                break
            await asyncio.sleep(0.02)
        await h.engine.cancel(handle.job_id, actor_id="m")
        r = await h.engine.wait(handle.job_id)
        await asyncio.sleep(0.1)
        return await h.observe(
            "member cancels while the prediction runs",
            "cancel upstream, refund once",
            r,
            [],
            cancels=len(h.replicate.requests_to("cancel")),
        )
