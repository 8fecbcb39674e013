"""Helpers shared by the remote adapters (openai, replicate, removebg).

Everything here is about the edges of a remote call: how much time is left
before the job's deadline, what a Retry-After header means, how an HTTP status
maps onto the error tree, and whether the bytes that came back are really an
image (they are untrusted, like an upload).
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import time
import warnings

from PIL import Image, UnidentifiedImageError

from core.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    is_transient_status,
)
from core.tools.base import DesignParams, aspect_ratio, choices

# Provider outputs are untrusted: cap what we decode (a 4x upscale of a large
# input is the biggest legitimate result).
MAX_OUTPUT_PIXELS = 160_000_000
MAX_OUTPUT_BYTES = 256 * 1024 * 1024

# Exact aspect ratios (PRODUCT.md §1 `aspect`).
ASPECTS: dict[str, tuple[int, int]] = {a: aspect_ratio(a) for a in choices("design", "aspect")}


STYLE_HINTS: dict[str, str] = {
    "modern": "modern, clean contemporary graphic design",
    "vintage": "vintage, retro print look with muted tones and subtle paper texture",
    "minimal": "minimalist, generous negative space, few simple elements",
    "bold": "bold, high contrast, strong shapes and confident typography",
    "playful": "playful, bright and friendly, rounded shapes",
}


def design_prompt(p: DesignParams) -> str:
    """The prompt actually sent: style, colours and the negative prompt folded into the text
    (GPT image models take no `style` or negative prompt; neither does flux-schnell)."""
    parts = [p.prompt.rstrip(". ") + ".", f"Style: {STYLE_HINTS[p.style]}."]
    if p.colors:
        parts.append(f"Colour palette: {', '.join(p.colors)}.")
    if p.avoid:
        parts.append(f"Avoid: {p.avoid}.")
    return " ".join(parts)


def prompt_ref(prompt: str) -> str:
    """A log-safe reference to a prompt: its length and a short hash, never the text."""
    return f"len={len(prompt)} sha256={hashlib.sha256(prompt.encode()).hexdigest()[:12]}"


def time_left(deadline: float) -> float:
    """Seconds until a time.monotonic() deadline (never negative)."""
    return max(0.0, deadline - time.monotonic())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(
    provider: str,
    status: int,
    what: str,
    *,
    retry_after: float | None = None,
    request_id: str | None = None,
) -> ProviderError:
    """Transient for 408/409/429/5xx, Permanent otherwise; `what` must be secret-free."""
    cls = TransientProviderError if is_transient_status(status) else PermanentProviderError
    return cls(
        f"{what} (HTTP {status})",
        provider=provider,
        status=status,
        retry_after=retry_after if cls is TransientProviderError else None,
        request_id=request_id,
    )


def open_output_image(data: bytes, provider: str, *, request_id: str | None = None) -> Image.Image:
    """Decode bytes a provider returned; anything that is not an image is a PermanentProviderError."""

    def bad(why: str) -> PermanentProviderError:
        return PermanentProviderError(
            f"the response is not a usable image ({why})", provider=provider, request_id=request_id
        )

    if not data:
        raise bad("empty body")
    if len(data) > MAX_OUTPUT_BYTES:
        raise bad("too large")
    try:
        with warnings.catch_warnings():
            # the size is checked against our own cap before any pixel is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_OUTPUT_PIXELS:
                raise bad(f"{img.width}x{img.height} pixels")
            img.load()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise bad("not an image format Pillow can read") from None
    except (OSError, ValueError, SyntaxError):
        raise bad("truncated or corrupt") from None
    if img.mode not in ("RGB", "RGBA"):
        has_alpha = img.mode in ("LA", "PA") or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    return img


def fit_aspect(img: Image.Image, aspect: str) -> Image.Image:
    """Centre-crop to the exact ratio (the largest w×h with w:h == aspect)."""
    rw, rh = ASPECTS[aspect]
    k = min(img.width // rw, img.height // rh)
    w, h = rw * k, rh * k
    if (w, h) == img.size:
        return img
    left = (img.width - w) // 2
    top = (img.height - h) // 2
    return img.crop((left, top, left + w, top + h))


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def encode_input(img: Image.Image, *, max_png_bytes: int = 20 * 1024 * 1024) -> tuple[bytes, str]:
    """Encode an (already upright) input for upload: PNG, or JPEG if the PNG is huge and opaque."""
    png = encode_png(img)
    if len(png) <= max_png_bytes or img.mode == "RGBA":
        return png, "image/png"
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue(), "image/jpeg"
