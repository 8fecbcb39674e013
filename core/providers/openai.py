"""The `openai` provider: `design` through the OpenAI Images API (official SDK).

One `run` is one attempt: the SDK's own retries are off (`max_retries=0`)
because the engine's retry layer is the only one (PRODUCT.md §5). When
moderation is on, the prompt first goes through `omni-moderation-latest`; a
flagged prompt is refused before any image is paid for. Every SDK failure is
translated into the error tree; messages never carry the API's own text
(a 401 body echoes part of the key).

GPT image models only return `b64_json` at three sizes (RESEARCH.md §C), so
the image is generated at the nearest size and centre-cropped to the exact
aspect ratio here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import OrderedDict
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

from core.config import Settings
from core.errors import (
    ContentRejected,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from core.providers._remote import (
    design_prompt,
    encode_png,
    fit_aspect,
    open_output_image,
    parse_retry_after,
    prompt_ref,
    status_error,
    time_left,
)
from core.providers.base import (
    Attempt,
    OutputFile,
    ProviderRequest,
    ProviderResult,
    RemoteProvider,
)
from core.tools.base import DesignParams

log = logging.getLogger(__name__)

NAME = "openai"
MODERATION_MODEL = "omni-moderation-latest"

# Requested size per aspect; the result is then cropped to the exact ratio.
SIZES: dict[str, str] = {
    "1:1": "1024x1024",
    "16:9": "1536x1024",
    "4:3": "1536x1024",
    "9:16": "1024x1536",
}
# gpt-image-2 takes any WxH divisible by 16 (ratio 1:3..3:1): ask for the exact ratio.
EXACT_SIZES: dict[str, str] = {
    "1:1": "1024x1024",
    "16:9": "1536x864",
    "4:3": "1280x960",
    "9:16": "864x1536",
}

# Approximate USD per image by model and quality: (square, landscape/portrait).
# From OpenAI's public pricing page; check it for current figures.
PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "gpt-image-1.5": {"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)},
    "gpt-image-1-mini": {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
    "gpt-image-2": {"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)},
}


def estimate_cost(model: str, quality: str, size: str) -> float:
    """The list price in USD of one image for this model, quality and size."""
    table = PRICES.get(model) or PRICES["gpt-image-1.5"]
    low, medium, high = table["low"], table["medium"], table["high"]
    row = {"low": low, "medium": medium, "high": high}.get(quality, medium)
    return row[0] if size == "1024x1024" else row[1]


class OpenAIProvider(RemoteProvider):
    """Design through the OpenAI Images API (`gpt-image-*`)."""

    name: ClassVar[str] = NAME
    key_env: ClassVar[str] = "OPENAI_API_KEY"
    tools: ClassVar[frozenset[str]] = frozenset({"design"})

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.secrets.openai_api_key)
        self._cfg = settings.providers.openai
        self._client: AsyncOpenAI | None = None
        # jobs whose prompt already passed moderation (retries do not ask again)
        self._passed: OrderedDict[str, None] = OrderedDict()

    def _sdk(self) -> AsyncOpenAI:
        if self._client is None:
            self._client = AsyncOpenAI(
                api_key=self.api_key(),
                base_url=self._cfg.base_url,
                max_retries=0,
                timeout=self._cfg.timeout_s,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client, if one was opened."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Generate the design; maps SDK errors onto the error tree (429/5xx transient, policy
        rejected)."""
        if req.tool != "design" or not isinstance(req.params, DesignParams):
            raise PermanentProviderError(f"openai does not run {req.tool}", provider=NAME)
        params = req.params
        model = self._cfg.model
        attempt.model = model
        prompt = design_prompt(params)
        log.debug("openai design job=%s prompt %s", req.job_id, prompt_ref(prompt))
        if self._cfg.moderation:
            await self._moderate(req, prompt)
        size = (EXACT_SIZES if model.startswith("gpt-image-2") else SIZES)[params.aspect]
        req.progress(0.1, "generating with OpenAI")
        png = await self._generate(req, attempt, model, prompt, size)
        attempt.cost_usd = estimate_cost(model, self._cfg.quality, size)
        img = await asyncio.to_thread(self._finish, png, params.aspect, attempt.request_id)
        return ProviderResult(
            files=[OutputFile("design.png", img[0])],
            data={"prompt_used": prompt, "width": img[1], "height": img[2]},
            model=model,
        )

    @staticmethod
    def _finish(data: bytes, aspect: str, request_id: str | None) -> tuple[bytes, int, int]:
        img = fit_aspect(open_output_image(data, NAME, request_id=request_id), aspect)
        return encode_png(img), img.width, img.height

    def _timeout(self, req: ProviderRequest) -> float:
        left = time_left(req.deadline)
        if left <= 0.05:
            raise TransientProviderError("timeout: the job deadline has passed", provider=NAME)
        return min(self._cfg.timeout_s, left)

    async def _moderate(self, req: ProviderRequest, prompt: str) -> None:
        passed_key = f"{req.idempotency_key}:{prompt_ref(prompt)}"
        if passed_key in self._passed:
            return
        try:
            resp = await self._sdk().moderations.create(
                model=MODERATION_MODEL, input=prompt, timeout=self._timeout(req)
            )
        except openai.OpenAIError as exc:
            raise translate(exc, "moderation") from None
        except ValueError:  # malformed JSON body
            raise PermanentProviderError("moderation: malformed response", provider=NAME) from None
        flagged = [r for r in resp.results if r.flagged]
        if not flagged:
            self._passed[passed_key] = None
            while len(self._passed) > 1000:
                self._passed.popitem(last=False)
            return
        cats = sorted(
            {k for r in flagged for k, v in r.categories.model_dump(by_alias=True).items() if v}
        )
        log.info("openai moderation flagged job=%s categories=%s", req.job_id, ",".join(cats))
        shown = ", ".join(cats) or "flagged"
        raise ContentRejected(
            f"Your prompt was refused by the content filter ({shown}); you were not charged.",
            provider=NAME,
        )

    async def _generate(
        self, req: ProviderRequest, attempt: Attempt, model: str, prompt: str, size: str
    ) -> bytes:
        started = time.monotonic()
        try:
            raw = await self._sdk().images.with_raw_response.generate(
                model=model,
                prompt=prompt,
                size=size,
                quality=self._cfg.quality,
                output_format="png",
                n=1,
                extra_headers={"Idempotency-Key": req.idempotency_key},
                timeout=self._timeout(req),
            )
            attempt.request_id = raw.request_id
            resp = raw.parse()
        except openai.OpenAIError as exc:
            raise translate(exc, "image generation") from None
        except ValueError:  # JSON that does not parse
            raise PermanentProviderError(
                "image generation: malformed response",
                provider=NAME,
                status=200,
                request_id=attempt.request_id,
            ) from None
        log.debug(
            "openai images.generate job=%s took %.2fs", req.job_id, time.monotonic() - started
        )
        return _b64_payload(resp.data, attempt.request_id)


def _b64_payload(data: list[Any] | None, request_id: str | None) -> bytes:
    b64 = data[0].b64_json if data else None
    if not b64:
        raise PermanentProviderError(
            "image generation: no image in the response", provider=NAME, request_id=request_id
        )
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise PermanentProviderError(
            "image generation: the image is not valid base64", provider=NAME, request_id=request_id
        ) from None


def _retry_after(headers: Any) -> float | None:
    """OpenAI sends `retry-after-ms` next to `retry-after`; prefer the finer one."""
    ms = parse_retry_after(headers.get("retry-after-ms"))
    return ms / 1000.0 if ms is not None else parse_retry_after(headers.get("retry-after"))


_POLICY_CODES = {"moderation_blocked", "content_policy_violation"}


def translate(exc: openai.OpenAIError, what: str) -> ProviderError | ContentRejected:
    """Map an SDK exception onto the error tree without copying its message (it may echo the key)."""
    if isinstance(exc, openai.APITimeoutError):
        return TransientProviderError(f"{what}: timeout", provider=NAME)
    if isinstance(exc, openai.APIConnectionError):
        return TransientProviderError(f"{what}: connection error", provider=NAME)
    if isinstance(exc, openai.APIStatusError):
        status, rid = exc.status_code, exc.request_id
        if status == 400 and exc.code in _POLICY_CODES:
            return ContentRejected(
                "Your prompt was refused by OpenAI's safety system; you were not charged.",
                provider=NAME,
            )
        if status in (401, 403):
            return PermanentProviderError(
                f"{what}: authentication failed", provider=NAME, status=status, request_id=rid
            )
        detail = f"{what} failed" + (
            f" [{exc.code}]" if exc.code and exc.code.isidentifier() else ""
        )
        retry_after = _retry_after(exc.response.headers)
        return status_error(NAME, status, detail, retry_after=retry_after, request_id=rid)
    if isinstance(exc, openai.APIResponseValidationError):
        return PermanentProviderError(f"{what}: unexpected response shape", provider=NAME)
    return PermanentProviderError(f"{what}: {type(exc).__name__}", provider=NAME)
