"""The openai adapter, through the real `openai` SDK, against the fake OpenAI API."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from core.errors import ContentRejected, PermanentProviderError, TransientProviderError
from core.providers.base import Attempt
from core.providers.openai import OpenAIProvider
from tests.providers.fake_base import Fault
from tests.providers.fake_openai import FLAG_WORD, FakeOpenAI, api_error, non_image, policy_block
from tests.providers.support import (
    OPENAI_KEY,
    assert_logs_clean,
    assert_no_secrets,
    make_request,
    provider_settings,
)


def provider(tmp_path: Path, server: FakeOpenAI, **overrides: object) -> OpenAIProvider:
    return OpenAIProvider(provider_settings(tmp_path, openai=server, overrides=dict(overrides)))


@pytest.mark.parametrize(
    ("aspect", "requested", "size"),
    [
        ("1:1", "1024x1024", (1024, 1024)),
        ("16:9", "1536x1024", (1536, 864)),
        ("4:3", "1536x1024", (1364, 1023)),
        ("9:16", "1024x1536", (864, 1536)),
    ],
)
async def test_design_happy_path(
    tmp_path: Path,
    openai_server: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    aspect: str,
    requested: str,
    size: tuple[int, int],
) -> None:
    p = provider(tmp_path, openai_server)
    attempt = Attempt()
    params = {
        "prompt": "a lighthouse at dawn",
        "style": "vintage",
        "aspect": aspect,
        "colors": "#112233, navy",
        "avoid": "text",
    }
    result = await p.run(make_request("design", params), attempt)
    await p.aclose()

    img = Image.open(io.BytesIO(result.files[0].data))
    assert result.files[0].name == "design.png"
    assert img.format == "PNG"
    assert img.size == size
    rw, rh = (int(x) for x in aspect.split(":"))
    assert img.width * rh == img.height * rw  # exact aspect
    assert result.data == {
        "prompt_used": result.data["prompt_used"],
        "width": size[0],
        "height": size[1],
    }
    # style, colours and avoid are folded into the prompt that was sent
    sent = openai_server.generated[-1]
    assert sent["prompt"] == result.data["prompt_used"]
    for part in ("a lighthouse at dawn", "vintage", "#112233", "#000080", "Avoid: text"):
        assert part in sent["prompt"]
    assert sent["size"] == requested
    assert sent["model"] == "gpt-image-1.5"
    assert sent["n"] == 1
    assert sent["quality"] == "medium"
    # usage, model, request id, idempotency key
    assert attempt.model == "gpt-image-1.5"
    assert attempt.request_id == "req_img_1"
    assert attempt.cost_usd == pytest.approx(0.034 if aspect == "1:1" else 0.05)
    images = openai_server.requests_to("images")
    assert len(images) == 1
    assert images[0].headers["Idempotency-Key"] == "idem-test-0001"
    assert images[0].headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    # moderation ran first, on the same text
    assert [r.route for r in openai_server.requests] == ["moderations", "images"]
    assert "x-stainless-retry-count" in {k.lower() for k in images[0].headers}
    # raw prompts never reach a log line
    assert not any("lighthouse" in r.getMessage() for r in caplog.records)
    assert_logs_clean(caplog)


async def test_gpt_image_2_asks_for_the_exact_size(
    tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    p = provider(tmp_path, openai_server, **{"providers.openai.model": "gpt-image-2"})
    result = await p.run(make_request("design", {"prompt": "x", "aspect": "4:3"}), Attempt())
    await p.aclose()
    assert openai_server.generated[-1]["size"] == "1280x960"
    assert (result.data["width"], result.data["height"]) == (1280, 960)


async def test_flagged_prompt_is_refused_with_one_request(
    tmp_path: Path, openai_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    p = provider(tmp_path, openai_server)
    with pytest.raises(ContentRejected) as info:
        await p.run(make_request("design", {"prompt": f"a {FLAG_WORD} scene"}), Attempt())
    await p.aclose()
    assert len(openai_server.requests) == 1
    assert openai_server.requests[0].route == "moderations"
    assert str(info.value) == (
        "Your prompt was refused by the content filter (violence, violence/graphic); "
        "you were not charged."
    )
    assert info.value.provider == "openai"
    assert_logs_clean(caplog)


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
async def test_policy_400_is_content_rejected(
    tmp_path: Path, openai_server: FakeOpenAI, code: str
) -> None:
    p = provider(tmp_path, openai_server, **{"providers.openai.moderation": False})
    openai_server.script("images", policy_block(code))
    with pytest.raises(ContentRejected):
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()
    assert len(openai_server.requests) == 1  # no retry inside the adapter


@pytest.mark.parametrize(
    ("fault", "exc_type", "status", "retry_after"),
    [
        (
            api_error(429, retry_after=2, code="rate_limit_exceeded"),
            TransientProviderError,
            429,
            2.0,
        ),
        (api_error(500), TransientProviderError, 500, None),
        (api_error(503, retry_after=7), TransientProviderError, 503, 7.0),
        (api_error(408), TransientProviderError, 408, None),
        (api_error(400, code="invalid_size"), PermanentProviderError, 400, None),
        (api_error(404), PermanentProviderError, 404, None),
        (api_error(403), PermanentProviderError, 403, None),
    ],
)
async def test_status_faults(
    tmp_path: Path,
    openai_server: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    exc_type: type[Exception],
    status: int,
    retry_after: float | None,
) -> None:
    p = provider(tmp_path, openai_server, **{"providers.openai.moderation": False})
    openai_server.script("images", fault)
    with pytest.raises(exc_type) as info:
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()
    err = info.value
    assert type(err) is exc_type
    assert err.status == status
    assert err.retry_after == retry_after
    assert err.request_id == f"req_err_{status}"  # type: ignore[attr-defined]
    assert err.provider == "openai"  # type: ignore[attr-defined]
    assert len(openai_server.requests) == 1  # SDK retries are off
    assert_logs_clean(caplog)


async def test_retry_after_ms_is_preferred(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    p = provider(tmp_path, openai_server, **{"providers.openai.moderation": False})
    fault = api_error(429, retry_after=2)
    fault.headers["retry-after-ms"] = "1500"
    openai_server.script("images", fault)
    with pytest.raises(TransientProviderError) as info:
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()
    assert info.value.retry_after == pytest.approx(1.5)


async def test_timeout_is_transient(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    p = provider(
        tmp_path,
        openai_server,
        **{"providers.openai.moderation": False, "providers.openai.timeout_s": 0.3},
    )
    openai_server.script("images", Fault.hanging(5))
    with pytest.raises(TransientProviderError, match="timeout"):
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()
    assert len(openai_server.requests) == 1


async def test_deadline_bounds_the_timeout(tmp_path: Path, openai_server: FakeOpenAI) -> None:
    import time

    p = provider(
        tmp_path,
        openai_server,
        **{"providers.openai.moderation": False, "providers.openai.timeout_s": 30.0},
    )
    openai_server.script("images", Fault.hanging(5))
    started = time.monotonic()
    with pytest.raises(TransientProviderError):
        await p.run(make_request("design", {"prompt": "a cat"}, deadline_s=0.4), Attempt())
    await p.aclose()
    assert time.monotonic() - started < 1.5


async def test_connection_refused_is_transient(tmp_path: Path) -> None:
    settings = provider_settings(
        tmp_path,
        keys={"OPENAI_API_KEY": OPENAI_KEY},
        overrides={"providers.openai.base_url": "http://127.0.0.1:9/v1"},
    )
    p = OpenAIProvider(settings)
    with pytest.raises(TransientProviderError, match="connection error"):
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Fault.malformed(), "malformed"),
        (non_image(), "not a usable image"),
        (Fault(status=200, json_body={"created": 1, "data": []}), "no image"),
    ],
)
async def test_bad_bodies_are_permanent(
    tmp_path: Path, openai_server: FakeOpenAI, fault: Fault, match: str
) -> None:
    p = provider(tmp_path, openai_server, **{"providers.openai.moderation": False})
    openai_server.script("images", fault)
    with pytest.raises(PermanentProviderError, match=match):
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()


async def test_wrong_key_never_leaks(
    tmp_path: Path, openai_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sk-test-WRONG-KEY-0123456789"
    settings = provider_settings(tmp_path, openai=openai_server, keys={"OPENAI_API_KEY": wrong})
    p = OpenAIProvider(settings)
    with pytest.raises(PermanentProviderError) as info:
        await p.run(make_request("design", {"prompt": "a cat"}), Attempt())
    await p.aclose()
    assert info.value.status == 401
    assert "authentication failed" in str(info.value)
    # the API's 401 text echoes the key's tail; none of it may surface
    for text in (str(info.value), repr(info.value), info.value.reason):
        assert wrong not in text
        assert wrong[-4:] not in text
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    for record in caplog.records:
        assert wrong not in record.getMessage()
    assert_no_secrets(info.value)


def test_available_only_with_key(tmp_path: Path) -> None:
    assert OpenAIProvider(provider_settings(tmp_path)).available() == (
        False,
        "OPENAI_API_KEY is not set",
    )
    ok = OpenAIProvider(provider_settings(tmp_path, keys={"OPENAI_API_KEY": OPENAI_KEY}))
    assert ok.available() == (True, "")
    assert OPENAI_KEY not in repr(vars(ok))


async def test_a_retry_of_the_same_job_is_not_moderated_again(
    tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    p = provider(tmp_path, openai_server)
    openai_server.script("images", api_error(500))
    params = {"prompt": "a cat"}
    with pytest.raises(TransientProviderError):
        await p.run(make_request("design", params, key="job-1"), Attempt())
    await p.run(make_request("design", params, key="job-1"), Attempt())  # the engine's retry
    await p.run(make_request("design", params, key="job-2"), Attempt())  # another job
    await p.aclose()
    routes = [r.route for r in openai_server.requests]
    assert routes == ["moderations", "images", "images", "moderations", "images"]
