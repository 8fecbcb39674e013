"""The engine's retry layer, breakers and fallback with the real adapters.

Each scenario (tests/providers/scenarios.py) runs a job through
`Engine.create(settings, providers=...)` on real SQLite, with the adapters
pointed at the fake APIs; the assertions are on what the servers saw (request
counts, delays between attempts), the job's outcome, the ledger and the
provider_attempts rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import AllProvidersFailed, ContentRejected
from tests.providers.scenarios import SCENARIOS, Observation
from tests.providers.support import assert_logs_clean, assert_no_secrets

SLACK = 0.25  # scheduling noise allowed on measured delays


async def run(name: str, tmp_path: Path) -> Observation:
    obs = await SCENARIOS[name](tmp_path)
    assert obs.result is not None
    assert not obs.unexpected, f"unknown requests: {obs.unexpected}"
    if "per_job" not in obs.extra:  # one job: its hold is settled once or refunded once
        assert obs.refunds == (0 if obs.result.ok else 1)
        assert obs.charged == (obs.result.credits_charged if obs.result.ok else 0)
    return obs


def no_leaks(caplog: pytest.LogCaptureFixture, obs: Observation) -> None:
    assert_logs_clean(caplog)
    assert obs.result is not None
    assert_no_secrets(obs.result.error, obs.result.fallback_reason, obs.attempts)


async def test_429_waits_for_retry_after_then_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    obs = await run("openai_429_retry_after", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "openai"
    assert obs.requests["openai"] == 1 + 2  # one moderation, then an image per attempt
    assert obs.requests["replicate"] == 0
    [gap] = obs.delays
    assert 0.4 <= gap < 0.4 + SLACK
    assert obs.attempts == [("openai", "transient"), ("openai", "ok")]
    assert obs.charged == 5
    no_leaks(caplog, obs)


async def test_retry_after_is_capped(tmp_path: Path) -> None:
    obs = await run("openai_429_retry_after_over_cap", tmp_path)
    # asked to wait 5 s, more than the 0.6 s cap: no early retry that would only earn
    # another 429; the next provider runs at once
    assert obs.delays == []
    assert obs.attempts == [("openai", "transient"), ("replicate", "ok")]
    assert obs.extra["fallback_after"] < 0.5
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"


async def test_retry_after_past_the_deadline_falls_back_at_once(tmp_path: Path) -> None:
    obs = await run("openai_429_retry_after_past_deadline", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"
    assert obs.attempts == [("openai", "transient"), ("replicate", "ok")]
    assert obs.extra["fallback_after"] < 0.5


async def test_three_500s_fall_back_and_charge_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    obs = await run("openai_500_x3_fallback", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"
    assert obs.result.fallback_reason
    assert "openai" in obs.result.fallback_reason
    assert obs.attempts == [("openai", "transient")] * 3 + [("replicate", "ok")]
    # exponential backoff with jitter: [0.05, 0.1] then [0.1, 0.2] s
    assert len(obs.delays) == 2
    assert 0.05 <= obs.delays[0] < 0.1 + SLACK
    assert 0.1 <= obs.delays[1] < 0.2 + SLACK
    assert obs.charged == 5
    assert obs.refunds == 0
    assert obs.result.balance == 95
    no_leaks(caplog, obs)


async def test_timeouts_are_retried_then_fall_back(tmp_path: Path) -> None:
    obs = await run("openai_timeout_x3_fallback", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"
    assert [a for a in obs.attempts if a[0] == "openai"] == [("openai", "transient")] * 3
    assert all(d >= 0.3 for d in obs.delays)  # each attempt waited for its timeout


@pytest.mark.parametrize("name", ["openai_moderation_flagged", "openai_moderation_blocked"])
async def test_blocked_prompt_one_request_no_fallback_no_charge(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    obs = await run(name, tmp_path)
    assert obs.result
    assert obs.result.status == "failed"
    assert isinstance(obs.result.error, ContentRejected)
    assert "you were not charged" in str(obs.result.error)
    assert obs.requests == {"openai": 1, "replicate": 0, "removebg": 0}
    assert obs.attempts == [("openai", "rejected")]
    assert obs.charged == 0
    assert obs.refunds == 1
    no_leaks(caplog, obs)


@pytest.mark.parametrize(
    "name", ["openai_400_permanent", "openai_malformed_json", "openai_non_image"]
)
async def test_permanent_errors_are_not_retried(tmp_path: Path, name: str) -> None:
    obs = await run(name, tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"
    assert obs.attempts == [("openai", "permanent"), ("replicate", "ok")]
    assert obs.charged == 5


async def test_replicate_nsfw_is_not_passed_on(tmp_path: Path) -> None:
    obs = await run("replicate_failed_nsfw", tmp_path)
    assert obs.result
    assert isinstance(obs.result.error, ContentRejected)
    assert obs.requests["openai"] == 0  # next in the chain, never asked
    assert obs.attempts == [("replicate", "rejected")]


@pytest.mark.parametrize("name", ["replicate_failed", "replicate_canceled"])
async def test_replicate_terminal_failures_fall_back(tmp_path: Path, name: str) -> None:
    obs = await run(name, tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "openai"
    assert obs.attempts == [("replicate", "permanent"), ("openai", "ok")]


async def test_replicate_aborted_is_retried(tmp_path: Path) -> None:
    obs = await run("replicate_aborted", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"
    assert obs.attempts == [("replicate", "transient"), ("replicate", "ok")]
    assert obs.requests["openai"] == 0


async def test_replicate_create_429_honours_retry_after(tmp_path: Path) -> None:
    obs = await run("replicate_create_429", tmp_path)
    assert obs.result
    assert obs.result.ok
    [gap] = obs.delays
    assert 0.3 <= gap < 0.3 + SLACK


async def test_replicate_deadline_cancels_upstream_and_refunds(tmp_path: Path) -> None:
    obs = await run("replicate_deadline", tmp_path)
    assert obs.result
    assert obs.result.status == "failed"
    assert obs.extra["cancels"] == 1
    assert 0.8 <= obs.extra["elapsed"] < 0.8 + SLACK


async def test_removebg_402_falls_back_without_retry(tmp_path: Path) -> None:
    obs = await run("removebg_402_fallback", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "replicate"
    assert obs.requests["removebg"] == 1
    assert obs.charged == 1


async def test_removebg_429_honours_retry_after(tmp_path: Path) -> None:
    obs = await run("removebg_429", tmp_path)
    assert obs.result
    assert obs.result.ok
    assert obs.result.provider == "removebg"
    [gap] = obs.delays
    assert 0.3 <= gap < 0.3 + SLACK


async def test_every_provider_failing_refunds_once(tmp_path: Path) -> None:
    obs = await run("removebg_500_all_fail", tmp_path)
    assert obs.result
    assert isinstance(obs.result.error, AllProvidersFailed)
    assert obs.requests["removebg"] == 3
    assert obs.refunds == 1
    assert obs.result.balance == 100


async def test_breaker_opens_then_half_opens(tmp_path: Path) -> None:
    obs = await run("breaker_opens_and_half_opens", tmp_path)
    assert obs.extra["per_job"] == [1, 1, 0, 1]  # job 3 skipped while open; job 4 is the probe
    assert obs.extra["states"] == ["closed", "open", "open", "closed"]
    assert obs.extra["outcomes"] == ["failed", "failed", "failed", "succeeded"]
    assert "circuit open" in obs.extra["reasons"][2]
    assert obs.charged == 5
    assert obs.refunds == 3
    assert obs.attempts == [("openai", "transient"), ("openai", "transient"), ("openai", "ok")]


async def test_cancel_cancels_the_prediction_and_refunds_once(tmp_path: Path) -> None:
    obs = await run("cancel_during_replicate", tmp_path)
    assert obs.result
    assert obs.result.status == "canceled"
    assert obs.extra["cancels"] == 1
