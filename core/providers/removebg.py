"""The `removebg` provider: remove-bg through the remove.bg HTTP API (httpx).

One `run` is one POST. remove.bg charges nothing for refused requests
(400/402/403/429) and reports what it charged in `X-Credits-Charged`, which
is recorded as the attempt's upstream credits. The answer must be a PNG with
an alpha channel; anything else is a PermanentProviderError.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar

import httpx

from core.config import Settings
from core.errors import PermanentProviderError, ProviderError, TransientProviderError
from core.providers._remote import (
    encode_input,
    encode_png,
    open_output_image,
    parse_retry_after,
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
from core.tools.base import RemoveBgParams

log = logging.getLogger(__name__)

NAME = "removebg"
ENDPOINT = "/v1.0/removebg"
# remove.bg knows auto|person|product|car; animals go to its automatic detection.
TYPES: dict[str, str] = {"auto": "auto", "person": "person", "product": "product", "animal": "auto"}
# Approximate USD per credit (subscription plans; pay-as-you-go costs more).
USD_PER_CREDIT = 0.20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# errors[].code values worth a clearer reason than the code itself
_REASONS: dict[str, str] = {
    "unknown_foreground": "no foreground subject found in the image",
    "file_too_large": "the image is too large for remove.bg",
    "resolution_too_high": "the image resolution is too high for remove.bg",
    "invalid_image_type": "remove.bg cannot read this image type",
}


class RemoveBgProvider(RemoteProvider):
    """Background removal through the remove.bg API."""

    name: ClassVar[str] = NAME
    key_env: ClassVar[str] = "REMOVEBG_API_KEY"
    tools: ClassVar[frozenset[str]] = frozenset({"remove-bg"})

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.secrets.removebg_api_key)
        self._cfg = settings.providers.removebg
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._cfg.base_url.rstrip("/"),
                headers={
                    "X-Api-Key": self.api_key(),
                    "Accept": "image/png, application/json",
                },
                timeout=httpx.Timeout(self._cfg.timeout_s, connect=min(5.0, self._cfg.timeout_s)),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client, if one was opened."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Send the image to remove.bg and return the cut-out PNG; PermanentProviderError for other
        tools."""
        if (
            req.tool != "remove-bg"
            or not isinstance(req.params, RemoveBgParams)
            or req.image is None
        ):
            raise PermanentProviderError(
                f"removebg does not run {req.tool} without an image", provider=NAME
            )
        attempt.model = f"remove.bg/{self._cfg.size}"
        data, mime = await asyncio.to_thread(encode_input, req.image)
        timeout = min(self._cfg.timeout_s, time_left(req.deadline))
        if timeout <= 0.05:
            raise TransientProviderError("timeout: the job deadline has passed", provider=NAME)
        req.progress(0.1, "removing the background with remove.bg")
        started = time.monotonic()
        try:
            resp = await self._http().post(
                ENDPOINT,
                files={"image_file": ("image." + mime.split("/")[1], data, mime)},
                data={"size": self._cfg.size, "type": TYPES[req.params.mode], "format": "png"},
                headers={"Idempotency-Key": req.idempotency_key},
                timeout=timeout,
            )
        except httpx.TimeoutException:
            raise TransientProviderError("timeout", provider=NAME) from None
        except httpx.TransportError:
            raise TransientProviderError("connection error", provider=NAME) from None
        attempt.request_id = resp.headers.get("x-request-id")
        log.debug(
            "removebg job=%s HTTP %s in %.2fs",
            req.job_id,
            resp.status_code,
            time.monotonic() - started,
        )
        if resp.status_code != 200:
            raise _error(resp, attempt.request_id)
        attempt.upstream_credits = _credits(resp.headers.get("x-credits-charged"))
        attempt.cost_usd = attempt.upstream_credits * USD_PER_CREDIT
        return await asyncio.to_thread(_finish, resp.content, attempt.request_id)


def _finish(body: bytes, request_id: str | None) -> ProviderResult:
    if not body.startswith(PNG_MAGIC):
        raise PermanentProviderError(
            "the response is not a PNG", provider=NAME, request_id=request_id
        )
    img = open_output_image(body, NAME, request_id=request_id)
    if img.mode != "RGBA":
        raise PermanentProviderError(
            "the cut-out has no alpha channel", provider=NAME, request_id=request_id
        )
    return ProviderResult(
        files=[OutputFile("remove-bg.png", encode_png(img))],
        data={"width": img.width, "height": img.height},
    )


def _credits(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _error(resp: httpx.Response, request_id: str | None) -> ProviderError:
    status = resp.status_code
    if status == 402:
        return PermanentProviderError(
            "remove.bg account out of credits", provider=NAME, status=402, request_id=request_id
        )
    if status in (401, 403):
        return PermanentProviderError(
            "authentication failed", provider=NAME, status=status, request_id=request_id
        )
    if status == 400:
        code = _error_code(resp)
        reason = _REASONS.get(
            code or "", f"remove.bg refused the request ({code or 'no error code'})"
        )
        return PermanentProviderError(reason, provider=NAME, status=400, request_id=request_id)
    retry_after = parse_retry_after(resp.headers.get("retry-after"))
    return status_error(
        NAME, status, "remove.bg request failed", retry_after=retry_after, request_id=request_id
    )


def _error_code(resp: httpx.Response) -> str | None:
    try:
        errors = resp.json().get("errors") or []
        code = errors[0].get("code") if errors else None
    except (ValueError, AttributeError, TypeError):
        return None
    return str(code) if isinstance(code, str) and code.replace("_", "").isalnum() else None
