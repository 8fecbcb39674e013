"""The removebg adapter (httpx) against the fake remove.bg API."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import PermanentProviderError, TransientProviderError
from core.providers.base import Attempt
from core.providers.removebg import RemoveBgProvider
from tests.providers.fake_base import Fault, png_bytes, sample_image
from tests.providers.fake_removebg import FakeRemoveBg, error
from tests.providers.support import (
    REMOVEBG_KEY,
    assert_logs_clean,
    assert_no_secrets,
    make_request,
    provider_settings,
)


def provider(tmp_path: Path, server: FakeRemoveBg, **overrides: object) -> RemoveBgProvider:
    return RemoveBgProvider(provider_settings(tmp_path, removebg=server, overrides=dict(overrides)))


@pytest.mark.parametrize(
    ("mode", "sent_type"),
    [("auto", "auto"), ("person", "person"), ("product", "product"), ("animal", "auto")],
)
async def test_cutout_happy_path(
    tmp_path: Path,
    removebg_server: FakeRemoveBg,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    sent_type: str,
) -> None:
    p = provider(tmp_path, removebg_server)
    attempt = Attempt()
    result = await p.run(
        make_request("remove-bg", {"mode": mode}, image=sample_image(120, 80)), attempt
    )
    await p.aclose()

    img = Image.open(io.BytesIO(result.files[0].data))
    assert result.files[0].name == "remove-bg.png"
    assert img.format == "PNG"
    assert img.mode == "RGBA"
    assert img.size == (120, 80)
    alpha = np.asarray(img.getchannel("A"))
    assert alpha[0, 0] == 0
    assert alpha[40, 60] == 255
    assert result.data == {"width": 120, "height": 80}
    assert removebg_server.forms[-1] == {"size": "auto", "type": sent_type, "format": "png"}
    [req] = removebg_server.requests
    assert req.headers["X-Api-Key"] == REMOVEBG_KEY
    assert req.headers["Idempotency-Key"] == "idem-test-0001"
    assert attempt.upstream_credits == 1.0
    assert attempt.cost_usd == pytest.approx(0.2)
    assert attempt.request_id == "rbg-1"
    assert attempt.model == "remove.bg/auto"
    assert_logs_clean(caplog)


async def test_preview_size_and_fractional_credits(
    tmp_path: Path, removebg_server: FakeRemoveBg
) -> None:
    p = provider(tmp_path, removebg_server, **{"providers.removebg.size": "preview"})
    attempt = Attempt()
    result = await p.run(make_request("remove-bg", image=sample_image(1000, 1000)), attempt)
    await p.aclose()
    assert removebg_server.forms[-1]["size"] == "preview"
    assert attempt.upstream_credits == 0.25
    assert result.data["width"] * result.data["height"] <= 250_000


@pytest.mark.parametrize(
    ("fault", "exc_type", "status", "retry_after", "match"),
    [
        (error(400, "unknown_foreground"), PermanentProviderError, 400, None, "no foreground"),
        (error(400, "weird_new_code"), PermanentProviderError, 400, None, "weird_new_code"),
        (error(402, "insufficient_credits"), PermanentProviderError, 402, None, "out of credits"),
        (error(403, "auth_failed"), PermanentProviderError, 403, None, "authentication failed"),
        (
            error(429, "rate_limit_exceeded", retry_after=4),
            TransientProviderError,
            429,
            4.0,
            "HTTP 429",
        ),
        (error(500), TransientProviderError, 500, None, "HTTP 500"),
        (
            error(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
            TransientProviderError,
            503,
            0.0,
            "503",
        ),
    ],
)
async def test_error_statuses(
    tmp_path: Path,
    removebg_server: FakeRemoveBg,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    exc_type: type[Exception],
    status: int,
    retry_after: float | None,
    match: str,
) -> None:
    removebg_server.script("removebg", fault)
    p = provider(tmp_path, removebg_server)
    attempt = Attempt()
    with pytest.raises(exc_type, match=match) as info:
        await p.run(make_request("remove-bg", image=sample_image(40, 40)), attempt)
    await p.aclose()
    err = info.value
    assert type(err) is exc_type
    assert err.status == status
    assert err.retry_after == retry_after
    assert attempt.upstream_credits == 0  # refused requests are not charged
    assert len(removebg_server.requests) == 1
    assert_no_secrets(err)
    assert_logs_clean(caplog)


async def test_timeout_is_transient(tmp_path: Path, removebg_server: FakeRemoveBg) -> None:
    removebg_server.script("removebg", Fault.hanging(10))
    p = provider(tmp_path, removebg_server, **{"providers.removebg.timeout_s": 0.3})
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match="timeout"):
        await p.run(make_request("remove-bg", image=sample_image(40, 40)), Attempt())
    await p.aclose()
    assert time.monotonic() - started < 1.0


async def test_deadline_bounds_the_request(tmp_path: Path, removebg_server: FakeRemoveBg) -> None:
    removebg_server.script("removebg", Fault.hanging(10))
    p = provider(tmp_path, removebg_server, **{"providers.removebg.timeout_s": 30.0})
    started = time.monotonic()
    with pytest.raises(TransientProviderError):
        await p.run(
            make_request("remove-bg", image=sample_image(40, 40), deadline_s=0.3), Attempt()
        )
    await p.aclose()
    assert time.monotonic() - started < 1.0


async def test_connection_refused_is_transient(tmp_path: Path) -> None:
    settings = provider_settings(
        tmp_path,
        keys={"REMOVEBG_API_KEY": REMOVEBG_KEY},
        overrides={"providers.removebg.base_url": "http://127.0.0.1:9"},
    )
    p = RemoveBgProvider(settings)
    with pytest.raises(TransientProviderError, match="connection"):
        await p.run(make_request("remove-bg", image=sample_image(40, 40)), Attempt())
    await p.aclose()


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Fault.raw(b"<html>hello</html>", "text/html"), "not a PNG"),
        (Fault.raw(png_bytes(sample_image(20, 20)), "image/png"), "no alpha"),
        (Fault.raw(b"\x89PNG\r\n\x1a\ntruncated", "image/png"), "not a usable image"),
        (Fault.malformed(), "not a PNG"),
    ],
)
async def test_bad_bodies_are_permanent(
    tmp_path: Path, removebg_server: FakeRemoveBg, fault: Fault, match: str
) -> None:
    removebg_server.script("removebg", fault)
    p = provider(tmp_path, removebg_server)
    with pytest.raises(PermanentProviderError, match=match):
        await p.run(make_request("remove-bg", image=sample_image(40, 40)), Attempt())
    await p.aclose()


async def test_wrong_key_never_leaks(
    tmp_path: Path, removebg_server: FakeRemoveBg, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "rbg-WRONG-KEY-0123456789"
    p = RemoveBgProvider(
        provider_settings(tmp_path, removebg=removebg_server, keys={"REMOVEBG_API_KEY": wrong})
    )
    with pytest.raises(PermanentProviderError, match="authentication failed") as info:
        await p.run(make_request("remove-bg", image=sample_image(40, 40)), Attempt())
    await p.aclose()
    assert info.value.status == 403
    assert wrong not in repr(info.value)
    assert all(
        wrong not in r.getMessage() for r in caplog.records
    )


def test_available_only_with_key(tmp_path: Path) -> None:
    assert RemoveBgProvider(provider_settings(tmp_path)).available()[0] is False
    ok = RemoveBgProvider(provider_settings(tmp_path, keys={"REMOVEBG_API_KEY": REMOVEBG_KEY}))
    assert ok.available() == (True, "")
