"""The replicate adapter, through the real `replicate` SDK, against the fake Replicate API."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import ContentRejected, PermanentProviderError, TransientProviderError
from core.providers.base import Attempt
from core.providers.replicate import ReplicateProvider
from tests.providers.fake_base import Fault, png_bytes, sample_image
from tests.providers.fake_replicate import FakeReplicate, Plan
from tests.providers.support import (
    REPLICATE_TOKEN,
    assert_logs_clean,
    assert_no_secrets,
    make_request,
    provider_settings,
)


def provider(tmp_path: Path, server: FakeReplicate, **overrides: object) -> ReplicateProvider:
    return ReplicateProvider(
        provider_settings(tmp_path, replicate=server, overrides=dict(overrides))
    )


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def noisy(width: int, height: int) -> Image.Image:
    """Incompressible: its PNG is > 1 MB at 800x800, so it is uploaded as a file."""
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize(
    ("aspect", "size"),
    [("1:1", (1024, 1024)), ("16:9", (1344, 756)), ("9:16", (756, 1344)), ("4:3", (1152, 864))],
)
async def test_design_by_model_name(
    tmp_path: Path,
    replicate_server: FakeReplicate,
    caplog: pytest.LogCaptureFixture,
    aspect: str,
    size: tuple[int, int],
) -> None:
    p = provider(tmp_path, replicate_server)
    attempt = Attempt()
    req = make_request("design", {"prompt": "a fox in snow", "aspect": aspect, "seed": 7})
    result = await p.run(req, attempt)
    await p.aclose()

    img = decode(result.files[0].data)
    assert result.files[0].name == "design.png"
    assert img.size == size
    assert result.data == {
        "prompt_used": result.data["prompt_used"],
        "width": size[0],
        "height": size[1],
    }
    assert "a fox in snow" in result.data["prompt_used"]
    [create] = replicate_server.requests_to("create_model")
    assert create.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert create.headers["Idempotency-Key"] == "idem-test-0001"
    assert create.headers["Authorization"] == f"Bearer {REPLICATE_TOKEN}"
    pred = replicate_server.predictions[attempt.request_id or ""]
    assert pred["input"]["aspect_ratio"] == aspect
    assert pred["input"]["seed"] == 7
    assert pred["input"]["prompt"] == result.data["prompt_used"]
    # the output was fetched over HTTPS (FileOutput) without any credentials
    [download] = replicate_server.requests_to("delivery")
    assert "Authorization" not in download.headers
    assert attempt.model == "black-forest-labs/flux-schnell"
    assert attempt.cost_usd == pytest.approx(0.003)
    # polled at the configured interval, one GET per poll
    assert len(replicate_server.requests_to("get")) == 2
    assert all(g >= 0.045 for g in replicate_server.gaps("get"))
    assert not any("fox" in r.getMessage() for r in caplog.records)
    assert_logs_clean(caplog)


@pytest.mark.parametrize("scale", [2, 4])
async def test_upscale_by_pinned_version(
    tmp_path: Path, replicate_server: FakeReplicate, scale: int
) -> None:
    p = provider(tmp_path, replicate_server)
    attempt = Attempt()
    src = sample_image(96, 64)
    result = await p.run(make_request("upscale", {"scale": scale}, image=src), attempt)
    await p.aclose()
    img = decode(result.files[0].data)
    assert img.size == (96 * scale, 64 * scale)
    assert result.data == {"width": 96 * scale, "height": 64 * scale}
    [create] = replicate_server.requests_to("create_version")
    pred = replicate_server.predictions[attempt.request_id or ""]
    assert pred["version"] == "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
    assert pred["input"]["scale"] == scale
    assert pred["input"]["image"].startswith("data:image/png;base64,")  # small: data URL
    assert not replicate_server.requests_to("files_create")
    assert attempt.cost_usd == pytest.approx(2.0 * 0.000225)
    assert create.headers["Idempotency-Key"] == "idem-test-0001"


async def test_upscale_size_is_made_exact_and_alpha_kept(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    replicate_server.plans.append(Plan(output_size=(190, 130)))  # model returned 2x "almost"
    p = provider(tmp_path, replicate_server)
    src = sample_image(96, 64, mode="RGBA")
    result = await p.run(make_request("upscale", {"scale": 2}, image=src), Attempt())
    await p.aclose()
    img = decode(result.files[0].data)
    assert img.size == (192, 128)
    assert img.mode == "RGBA"
    alpha = np.asarray(img.getchannel("A"))
    assert alpha[0, 0] == 0
    assert alpha[64, 96] == 255


async def test_remove_bg_large_input_is_uploaded(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    p = provider(tmp_path, replicate_server)
    attempt = Attempt()
    src = noisy(800, 800)
    assert len(png_bytes(src)) > 1024 * 1024
    result = await p.run(make_request("remove-bg", {"mode": "person"}, image=src), attempt)
    await p.aclose()
    img = decode(result.files[0].data)
    assert img.format == "PNG"
    assert img.mode == "RGBA"
    assert img.size == (800, 800)
    alpha = np.asarray(img.getchannel("A"))
    assert alpha.min() == 0
    assert alpha.max() == 255
    assert len(replicate_server.requests_to("files_create")) == 1
    pred = replicate_server.predictions[attempt.request_id or ""]
    assert pred["input"]["image"].startswith(replicate_server.base_url + "/v1/files/")
    assert pred["input"]["background_type"] == "rgba"
    # the uploaded file is deleted afterwards
    assert len(replicate_server.requests_to("files_delete")) == 1
    assert not replicate_server.files


async def test_output_as_data_url(tmp_path: Path, replicate_server: FakeReplicate) -> None:
    replicate_server.plans.append(Plan(output_shape="data"))
    p = provider(tmp_path, replicate_server)
    result = await p.run(make_request("remove-bg", image=sample_image(64, 48)), Attempt())
    await p.aclose()
    assert decode(result.files[0].data).size == (64, 48)
    assert not replicate_server.requests_to("delivery")


@pytest.mark.parametrize(
    ("plan", "exc_type", "match"),
    [
        (
            Plan(final="failed", error="NSFW content detected. Try running it again."),
            ContentRejected,
            "content filter",
        ),
        (
            Plan(final="failed", error="The input or output was flagged as sensitive. (E005)"),
            ContentRejected,
            "content filter",
        ),
        (
            Plan(final="failed", error="CUDA out of memory"),
            PermanentProviderError,
            "CUDA out of memory",
        ),
        (Plan(final="canceled"), PermanentProviderError, "canceled"),
        (Plan(final="aborted"), TransientProviderError, "aborted"),
        (
            Plan(output_body=b"<html>not an image</html>"),
            PermanentProviderError,
            "not a usable image",
        ),
        (Plan(output_shape="http"), PermanentProviderError, "no image URL"),
        (Plan(output_shape="none"), PermanentProviderError, "no image URL"),
    ],
)
async def test_terminal_outcomes(
    tmp_path: Path,
    replicate_server: FakeReplicate,
    caplog: pytest.LogCaptureFixture,
    plan: Plan,
    exc_type: type[Exception],
    match: str,
) -> None:
    replicate_server.plans.append(plan)
    p = provider(tmp_path, replicate_server)
    attempt = Attempt()
    with pytest.raises(exc_type, match=match) as info:
        await p.run(make_request("design", {"prompt": "x"}), attempt)
    await p.aclose()
    assert type(info.value) is exc_type
    assert attempt.request_id in replicate_server.predictions
    assert len(replicate_server.requests_to("create_model")) == 1
    assert not replicate_server.requests_to("cancel")  # terminal: nothing to cancel
    assert_logs_clean(caplog)


async def test_remove_bg_without_alpha_is_permanent(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    replicate_server.plans.append(Plan(output_alpha=False))
    p = provider(tmp_path, replicate_server)
    with pytest.raises(PermanentProviderError, match="alpha"):
        await p.run(make_request("remove-bg", image=sample_image(32, 32)), Attempt())
    await p.aclose()


@pytest.mark.parametrize(
    ("response", "exc_type", "status", "retry_after"),
    [
        (
            Fault.error(429, {"title": "Too many requests", "status": 429}, retry_after=3),
            TransientProviderError,
            429,
            3.0,
        ),
        (
            Fault.error(500, {"title": "Internal server error", "status": 500}),
            TransientProviderError,
            500,
            None,
        ),
        (
            Fault.error(503, {"title": "Unavailable", "status": 503}, retry_after=1),
            TransientProviderError,
            503,
            1.0,
        ),
        (
            Fault.error(422, {"title": "Input validation failed", "status": 422}),
            PermanentProviderError,
            422,
            None,
        ),
        (
            Fault.error(402, {"title": "Payment required", "status": 402}),
            PermanentProviderError,
            402,
            None,
        ),
        (
            Fault.error(401, {"title": "Unauthenticated", "status": 401}),
            PermanentProviderError,
            401,
            None,
        ),
    ],
)
async def test_create_faults(
    tmp_path: Path,
    replicate_server: FakeReplicate,
    caplog: pytest.LogCaptureFixture,
    response: Fault,
    exc_type: type[Exception],
    status: int,
    retry_after: float | None,
) -> None:
    replicate_server.script("create_model", response)
    p = provider(tmp_path, replicate_server)
    with pytest.raises(exc_type) as info:
        await p.run(make_request("design", {"prompt": "x"}), Attempt())
    await p.aclose()
    err = info.value
    assert type(err) is exc_type
    assert err.status == status
    assert err.retry_after == retry_after
    assert len(replicate_server.requests) == 1  # no retry inside the SDK or the adapter
    assert_no_secrets(err, err.__cause__, err.__context__)
    assert_logs_clean(caplog)


async def test_unknown_version_is_permanent(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    p = provider(tmp_path, replicate_server, **{"providers.replicate.upscale_model": "a/b:0000"})
    with pytest.raises(PermanentProviderError) as info:
        await p.run(make_request("upscale", image=sample_image(16, 16)), Attempt())
    await p.aclose()
    assert info.value.status == 422


async def test_malformed_create_body_is_permanent(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    replicate_server.script("create_model", Fault.malformed())
    p = provider(tmp_path, replicate_server)
    with pytest.raises(PermanentProviderError, match="malformed"):
        await p.run(make_request("design", {"prompt": "x"}), Attempt())
    await p.aclose()


async def test_a_failed_poll_is_tolerated_once_without_sdk_retries(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    replicate_server.plans.append(Plan(polls=2))
    replicate_server.script("get", Fault.error(429, {"title": "slow down"}, retry_after=0.3))
    p = provider(tmp_path, replicate_server)
    result = await p.run(make_request("design", {"prompt": "x"}), Attempt())
    await p.aclose()
    assert result.files
    gets = replicate_server.requests_to("get")
    # 1 throttled GET + 3 real polls; the SDK's transport did not re-send the 429
    assert len(gets) == 4
    assert replicate_server.gaps("get")[0] >= 0.29  # the next poll honoured Retry-After


async def test_repeated_poll_failures_cancel_and_are_transient(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    # 503 is one of the statuses the SDK's own transport would silently re-send
    replicate_server.script(
        "get", *[Fault.error(503, {"title": "unavailable"}, retry_after=0.05)] * 3
    )
    p = provider(tmp_path, replicate_server)
    attempt = Attempt()
    with pytest.raises(TransientProviderError) as info:
        await p.run(make_request("design", {"prompt": "x"}), attempt)
    await p.aclose()
    assert info.value.status == 503
    assert len(replicate_server.requests_to("get")) == 3  # one GET per poll, no hidden re-sends
    [cancel] = replicate_server.requests_to("cancel")
    assert cancel.path == f"/v1/predictions/{attempt.request_id}/cancel"


async def test_deadline_cancels_the_prediction(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    replicate_server.plans.append(Plan(never_finish=True))
    p = provider(tmp_path, replicate_server)
    attempt = Attempt()
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match="timeout"):
        await p.run(make_request("design", {"prompt": "x"}, deadline_s=0.5), attempt)
    elapsed = time.monotonic() - started
    await p.aclose()
    assert 0.45 <= elapsed < 1.5
    assert len(replicate_server.requests_to("cancel")) == 1
    assert replicate_server.predictions[attempt.request_id or ""]["status"] == "canceled"


async def test_provider_timeout_setting_bounds_the_attempt(
    tmp_path: Path, replicate_server: FakeReplicate
) -> None:
    replicate_server.script("create_model", Fault.hanging(10))
    p = provider(tmp_path, replicate_server, **{"providers.replicate.timeout_s": 0.4})
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match="timeout"):
        await p.run(make_request("design", {"prompt": "x"}, deadline_s=30), Attempt())
    await p.aclose()
    assert time.monotonic() - started < 1.5
    assert not replicate_server.requests_to("cancel")  # no prediction id to cancel


async def test_delivery_failures(tmp_path: Path, replicate_server: FakeReplicate) -> None:
    p = provider(tmp_path, replicate_server)
    replicate_server.script("delivery", Fault.error(503, {}))
    with pytest.raises(TransientProviderError) as info:
        await p.run(make_request("design", {"prompt": "x"}), Attempt())
    assert info.value.status == 503
    replicate_server.script("delivery", Fault.error(404, {}))
    with pytest.raises(PermanentProviderError):
        await p.run(make_request("design", {"prompt": "x"}), Attempt())
    await p.aclose()


async def test_wrong_token_never_leaks(
    tmp_path: Path, replicate_server: FakeReplicate, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "r8_WRONG-TOKEN-0123456789"
    settings = provider_settings(
        tmp_path, replicate=replicate_server, keys={"REPLICATE_API_TOKEN": wrong}
    )
    p = ReplicateProvider(settings)
    with pytest.raises(PermanentProviderError, match="authentication failed") as info:
        await p.run(make_request("design", {"prompt": "x"}), Attempt())
    await p.aclose()
    assert info.value.status == 401
    for text in (str(info.value), repr(info.value)):
        assert wrong not in text
    assert all(wrong not in r.getMessage() for r in caplog.records)


def test_available_only_with_token(tmp_path: Path) -> None:
    assert ReplicateProvider(provider_settings(tmp_path)).available()[0] is False
    ok = ReplicateProvider(
        provider_settings(tmp_path, keys={"REPLICATE_API_TOKEN": REPLICATE_TOKEN})
    )
    assert ok.available() == (True, "")
