"""Safe image decoding and size-bounded encoding.

Uploads are untrusted: bytes are capped before decoding, dimensions are
checked from the header before pixels are allocated (decompression-bomb
guard), decoding errors become InvalidInput naming the problem, and the
result is normalised to 8-bit RGB or RGBA with EXIF orientation applied.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from core.errors import InvalidInput

ImageFile.LOAD_TRUNCATED_IMAGES = False
# decode_image checks width × height against its own cap before any pixel is
# decoded, so Pillow's global guard (which refuses with a vaguer message) is off.
Image.MAX_IMAGE_PIXELS = None
SUPPORTED_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "TIFF"}
_FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"


@dataclass
class DecodedImage:
    image: Image.Image  # RGB or RGBA, 8-bit, upright
    format: str
    width: int
    height: int
    notes: list[str] = field(default_factory=list)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _sniff(data: bytes) -> str:
    head = data[:64]
    try:
        head.decode("utf-8")
        return "it looks like a text file"
    except UnicodeDecodeError:
        return "its contents are not a known image format"


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, field: str = "image") -> DecodedImage:
    """Decode untrusted bytes; raise InvalidInput naming the problem."""
    if not data:
        raise InvalidInput(f"Invalid `{field}`: the file is empty (0 bytes).", field=field)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"Invalid `{field}`: the file is {_mb(len(data))}; the limit is {_mb(max_bytes)}.",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "?"
            _check_header(img, fmt, max_pixels, field)
            notes: list[str] = []
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                img.seek(0)
                notes.append(f"animated image: used the first of its {frames} frames")
            img.load()
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput(
            f"Invalid `{field}`: the image has too many pixels to decode safely.", field=field
        ) from None
    except UnidentifiedImageError:
        raise InvalidInput(
            f"Invalid `{field}`: the file is not a supported image ({_FORMAT_NAMES}); "
            f"{_sniff(data)}.",
            field=field,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise InvalidInput(
            f"Invalid `{field}`: the {fmt} image is truncated or corrupt.", field=field
        ) from None
    image = _normalise(img, notes)
    return DecodedImage(image, fmt, image.width, image.height, notes)


def _check_header(img: Image.Image, fmt: str, max_pixels: int, field: str) -> None:
    if fmt not in SUPPORTED_FORMATS:
        raise InvalidInput(
            f"Invalid `{field}`: {fmt} images are not supported; use {_FORMAT_NAMES}.",
            field=field,
        )
    w, h = img.size
    if w < 1 or h < 1:
        raise InvalidInput(f"Invalid `{field}`: the image has no pixels.", field=field)
    if w * h > max_pixels:
        raise InvalidInput(
            f"Invalid `{field}`: the image is {w}×{h} pixels ({w * h / 1e6:.0f} MP); "
            f"the limit is {max_pixels / 1e6:.0f} MP.",
            field=field,
        )


def _normalise(img: Image.Image, notes: list[str]) -> Image.Image:
    """8-bit RGB/RGBA, upright; CMYK, 16-bit, palette and grey inputs converted."""
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block must not reject an otherwise fine image
        notes.append("ignored unreadable EXIF orientation")
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append("16-bit image converted to 8-bit")
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
        return img.convert("RGB")
    if mode in ("P", "PA"):
        has_alpha = "transparency" in img.info or mode == "PA"
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "RGBa"):
        return img.convert("RGBA")
    if mode == "RGBA":
        return img
    return img.convert("RGB")


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def encode_to_fit(data: bytes, max_bytes: int) -> tuple[bytes, str, str | None]:
    """Re-encode an image so it fits `max_bytes`: (bytes, mime, note or None if unchanged).

    Tries WebP (keeps alpha) at falling quality, then JPEG for opaque images,
    then halves the size until it fits.
    """
    if len(data) <= max_bytes:
        return data, _mime_of(data), None
    src = Image.open(io.BytesIO(data))
    src.load()
    has_alpha = src.mode in ("RGBA", "LA", "PA") or "transparency" in src.info
    img = src.convert("RGBA" if has_alpha else "RGB")
    scale = 1.0
    while True:
        cur = img if scale == 1.0 else img.resize(
            (max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.Resampling.LANCZOS
        )
        for quality in (90, 80, 65, 50):
            buf = io.BytesIO()
            cur.save(buf, "WEBP", quality=quality, method=4)
            if buf.tell() <= max_bytes:
                size_note = "" if scale == 1.0 else f", resized to {cur.width}×{cur.height}"
                note = (f"re-encoded as WebP (quality {quality}{size_note}) to fit the "
                        f"{_mb(max_bytes)} upload limit")
                return buf.getvalue(), "image/webp", note
        scale *= 0.7
        if cur.width < 16 or cur.height < 16:
            raise ValueError("cannot fit image into the byte budget")


def _mime_of(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def mime_of(data: bytes) -> str:
    return _mime_of(data)
