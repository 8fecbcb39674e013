"""How a Replicate prediction's ending maps onto a result or the error tree.

Replicate reports a finished prediction as `succeeded`, `failed`, `canceled` or
`aborted` (which replicate 1.0.7 cannot parse: `status_from` reads it out of the
validation error); SDK and httpx failures are translated here too, with messages
that never include API text or the token. Also the upstream price estimate and
the exact-size rule for upscales.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image
from pydantic import v1 as pydantic_v1
from replicate.exceptions import ModelError, ReplicateError

from core.errors import (
    ContentRejected,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from core.providers._remote import status_error

log = logging.getLogger(__name__)

NAME = "replicate"

# Approximate upstream prices (check Replicate's pricing page): official models
# are billed per output image, community models per second of GPU time.
PRICE_PER_IMAGE: dict[str, float] = {"black-forest-labs/flux-schnell": 0.003}
PRICE_PER_SECOND_DEFAULT = 0.000225  # Nvidia T4

_POLICY = re.compile(
    r"nsfw|not safe for work|safety[ _-]?(checker|filter)|content[ _-]?(policy|moderation|filter)"
    r"|flagged as sensitive|sensitive content|\bE005\b",
    re.IGNORECASE,
)


@dataclass
class Outcome:
    """Where a prediction ended: its status and, if it succeeded, its output."""

    id: str
    status: str
    error: str | None = None
    output: Any = None
    metrics: dict[str, Any] | None = None


def check_outcome(outcome: Outcome, tool: str) -> None:
    """Nothing for a prediction that succeeded; else the error its ending means."""
    if outcome.status == "succeeded":
        return
    rid = outcome.id
    if outcome.status == "failed":
        error = " ".join(str(outcome.error or "no error message").split())[:200]
        if _POLICY.search(error):
            what = "prompt" if tool == "design" else "image"
            raise ContentRejected(
                f"Your {what} was refused by Replicate's content filter; you were not charged.",
                provider=NAME,
            )
        raise PermanentProviderError(f"prediction failed: {error}", provider=NAME, request_id=rid)
    if outcome.status == "aborted":
        raise TransientProviderError(
            "prediction was aborted before it ran", provider=NAME, request_id=rid
        )
    raise PermanentProviderError("prediction was canceled upstream", provider=NAME, request_id=rid)


def exact_upscale(src: Image.Image, out: Image.Image, scale: int) -> Image.Image:
    """Exactly scale × the input size; the input's alpha is carried over if the model dropped it."""
    size = (src.width * scale, src.height * scale)
    if out.size != size:
        log.debug("replicate upscale returned %sx%s, resizing to %sx%s", *out.size, *size)
        out = out.resize(size, Image.Resampling.LANCZOS)
    if src.mode == "RGBA" and out.mode != "RGBA":
        out = out.convert("RGB")
        out.putalpha(src.getchannel("A").resize(size, Image.Resampling.LANCZOS))
    return out


def estimate_cost(ref: str, metrics: dict[str, Any] | None) -> float:
    """Upstream dollars for one prediction (per image, or per GPU second)."""
    model = ref.partition(":")[0]
    if model in PRICE_PER_IMAGE:
        return PRICE_PER_IMAGE[model]
    seconds = (metrics or {}).get("predict_time")
    return float(seconds) * PRICE_PER_SECOND_DEFAULT if isinstance(seconds, int | float) else 0.0


def status_from(exc: pydantic_v1.ValidationError) -> str | None:
    """The status replicate 1.0.7's model refused (e.g. 'aborted'), if that was the only problem."""
    errors = exc.errors()
    if len(errors) == 1 and errors[0].get("loc") == ("status",):
        given = (errors[0].get("ctx") or {}).get("given")
        return str(given) if given is not None else None
    return None


def is_transient(exc: ReplicateError) -> bool:
    return exc.status is not None and (exc.status in (408, 409, 429) or exc.status >= 500)


def translate(exc: Exception, retry_after: float | None, request_id: str | None) -> ProviderError:
    """Map SDK/httpx failures onto the error tree (messages never include API text or the token)."""
    if isinstance(exc, ReplicateError):
        status = exc.status or 0
        if status in (401, 403):
            return PermanentProviderError(
                "authentication failed", provider=NAME, status=status, request_id=request_id
            )
        title = " ".join(str(exc.title or "").split())[:80]
        what = f"API error{f': {title}' if title else ''}"
        return status_error(NAME, status, what, retry_after=retry_after, request_id=request_id)
    if isinstance(exc, ModelError):
        return PermanentProviderError("prediction failed", provider=NAME, request_id=request_id)
    if isinstance(exc, httpx.TimeoutException):
        return TransientProviderError("timeout", provider=NAME, request_id=request_id)
    if isinstance(exc, httpx.TransportError):
        return TransientProviderError("connection error", provider=NAME, request_id=request_id)
    if isinstance(exc, httpx.HTTPStatusError):
        return status_error(NAME, exc.response.status_code, "HTTP error", request_id=request_id)
    return PermanentProviderError("malformed response", provider=NAME, request_id=request_id)
