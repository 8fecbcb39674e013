"""Safe image decoding and size-bounded encoding.

Uploads are untrusted: bytes are capped before decoding, dimensions are
checked from the header before pixels are allocated (decompression-bomb
guard), decoding errors become InvalidInput naming the problem, and the
result is normalised to 8-bit RGB or RGBA with EXIF orientation applied:
what a browser shows for the file's first frame, in untagged sRGB.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from core.errors import InvalidInput

ImageFile.LOAD_TRUNCATED_IMAGES = False
# decode_image checks width × height against its own cap before any pixel is
# decoded, so Pillow's global guard (which refuses with a vaguer message) is off.
Image.MAX_IMAGE_PIXELS = None
SUPPORTED_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "TIFF"}
_FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"


@dataclass
class DecodedImage:
    """A safely decoded upload: the image, its source format, its size (px) and what was done to it."""

    image: Image.Image  # RGB or RGBA (straight alpha), 8-bit, upright, untagged sRGB
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


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, field: str = "image",
                 draft_pixels: int | None = None) -> DecodedImage:
    """Decode untrusted bytes into what a browser shows for the first frame.

    Returns a DecodedImage whose `image` is 8-bit RGB, or RGBA when the file
    has any transparency (tRNS colour keys, palette alpha, LA/PA, straight
    alpha, the transparent canvas of an animation), upright, in untagged sRGB
    (an embedded ICC profile is converted with littleCMS). `notes` say what
    was converted. Raises InvalidInput naming the problem for anything else:
    empty, over `max_bytes`, over `max_pixels` (width × height), not an image,
    an unsupported format, truncated or corrupt.

    With `draft_pixels`, for a tool that reads colours rather than detail, a JPEG is
    decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (DCT scaling: at 1/8 each output
    pixel is its 8×8 block's mean, and the inverse transforms skipped are most of the
    decode), the strongest reduction that keeps at least that many pixels;
    `width`/`height` are then the decoded size. Limits are checked on the file's
    full size either way.
    """
    if not data:
        raise InvalidInput(f"Invalid `{field}`: the file is empty (0 bytes).", field=field)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"Invalid `{field}`: the file is {_mb(len(data))}; the limit is {_mb(max_bytes)}.",
            field=field,
        )
    fmt = _format_from_magic(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or fmt
            _check_header(img, fmt, max_pixels, field)
            notes: list[str] = []
            img = _first_frame(img, notes)
            uncovered = _uncovered_canvas(img)
            if draft_pixels and fmt == "JPEG":
                _draft(img, draft_pixels)
            img.load()
            image = _normalise(img, data, notes)
            if uncovered is not None:
                image = _clear_outside(image, uncovered)
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
    except _CORRUPT:
        raise InvalidInput(
            f"Invalid `{field}`: the {fmt} image is truncated or corrupt.", field=field
        ) from None
    return DecodedImage(image, fmt, image.width, image.height, notes)


# What Pillow's decoders raise on damaged files (a text chunk over MAX_TEXT_CHUNK
# is a ValueError; struct/index errors come from short headers).
_CORRUPT = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
            ZeroDivisionError, ImageCms.PyCMSError)
_MAGIC = (
    (b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)


def _format_from_magic(data: bytes) -> str:
    """The format the first bytes claim (for messages before Pillow could tell)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _MAGIC if data.startswith(magic)), "image")


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


def _draft(img: ImageFile.ImageFile, pixels: int) -> None:
    """Ask the JPEG decoder for the smallest 1/2^k scale (k <= 3) with >= `pixels` pixels."""
    w, h = img.size
    scale = next((s for s in (8, 4, 2) if (w // s) * (h // s) >= pixels), 1)
    if scale > 1:
        img.draft(img.mode, (w // scale, h // scale))


def _first_frame(img: ImageFile.ImageFile, notes: list[str]) -> ImageFile.ImageFile:
    """Position `img` on the first frame a browser shows, composed on its canvas."""
    frames = getattr(img, "n_frames", 1)
    if img.format == "PNG" and frames > 1 and img.info.get("default_image"):
        # the IDAT image is only for viewers without APNG support; browsers play
        # the animation, whose first frame starts on a transparent canvas (Pillow
        # would compose it over the fallback image unless told to clear it first)
        img.dispose_op = PngImagePlugin.Disposal.OP_BACKGROUND  # type: ignore[attr-defined]
        img.dispose_extent = (0, 0, *img.size)  # type: ignore[attr-defined]
        img.seek(1)
        frames -= 1
    else:
        img.seek(0)
    if img.format == "WEBP" and frames > 1 and img.mode == "RGB":
        # libwebp composes every frame on a transparent canvas, but Pillow reads it
        # as RGB when the file's has-alpha flag is clear (opaque sub-frames), which
        # would turn the uncovered canvas black. Read the canvas's real alpha.
        img.rawmode = "RGBA"  # type: ignore[attr-defined]
        img._mode = "RGBA"
    if frames > 1:
        notes.append(f"animated image: used the first of its {frames} frames")
    return img


def _uncovered_canvas(img: ImageFile.ImageFile) -> tuple[int, int, int, int] | None:
    """A GIF's first frame when it is smaller than the canvas: its box (x0, y0, x1, y1),
    else None. Read before `load()`, which clears the tile list."""
    if img.format != "GIF" or not img.tile or img.tile[0][1] is None:
        return None
    x0, y0, x1, y1 = img.tile[0][1]
    return None if (x0, y0, x1, y1) == (0, 0, *img.size) else (x0, y0, x1, y1)


def _clear_outside(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """RGBA `img` transparent outside `box`: browsers show the canvas a GIF's first
    frame does not cover as transparent (the background colour is ignored), where
    Pillow paints it with a palette colour."""
    rgba = img.convert("RGBA")
    alpha = Image.new("L", rgba.size, 0)
    alpha.paste(rgba.getchannel("A").crop(box), box[:2])
    rgba.putalpha(alpha)
    return rgba


def _normalise(img: Image.Image, data: bytes, notes: list[str]) -> Image.Image:
    """8-bit RGB/RGBA in untagged sRGB, upright, with every kind of transparency kept."""
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block must not reject an otherwise fine image
        notes.append("ignored unreadable EXIF orientation")
    colour, alpha = _split_alpha(img, data, notes)
    rgb = to_srgb(colour, img.info.get("icc_profile"), notes)
    out = rgb if alpha is None else Image.merge("RGBA", (*rgb.split(), alpha))
    out.info = {}  # sRGB now: no stale ICC profile, tRNS key or EXIF travels on
    return out


def _split_alpha(
    img: Image.Image, data: bytes, notes: list[str]
) -> tuple[Image.Image, Image.Image | None]:
    """(colour as 8-bit L, RGB or CMYK; alpha as L, or None when the file has none)."""
    mode = img.mode
    key = img.info.get("transparency")
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np  # only 16-bit and float images need it: the CLI starts without it

        arr = np.asarray(img)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr.astype(np.float64) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append("16-bit image converted to 8-bit")
        alpha = None
        if isinstance(key, int):  # tRNS on 16-bit grey: the exact 16-bit sample is the key
            alpha = Image.fromarray(np.where(arr == key, 0, 255).astype(np.uint8), "L")
        return Image.fromarray(grey, "L"), alpha
    if mode == "CMYK":
        return img, None
    if mode == "RGB" and key is not None and _is_16bit_png(data):
        return img, _alpha_from_16bit_key(data, img.size)
    low_key = _low_bit_grey_key(data, key)
    if low_key is not None:  # Pillow scales 1/2/4-bit samples to 0..255 but not the key
        lum = img.convert("L")
        return lum, lum.point([0 if v == low_key else 255 for v in range(256)])
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or key is not None
    if mode in ("1", "L", "LA", "La") and has_alpha:
        la = img.convert("LA")
        return la.getchannel("L"), la.getchannel("A")
    if has_alpha:
        rgba = img.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    if mode in ("1", "L"):
        return img.convert("L"), None
    return img.convert("RGB"), None


def _is_16bit_png(data: bytes) -> bool:
    """True for a PNG whose IHDR says 16 bits per sample (byte 24 is the bit depth)."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[24] == 16


def _low_bit_grey_key(data: bytes, key: object) -> int | None:
    """The tRNS key of a 1-, 2- or 4-bit grey PNG on the 0..255 scale Pillow reads its
    samples on (key × 255 / (2^depth − 1)); None for any other image. The key is read
    from the file's own tRNS chunk: Pillow rescales it for 1-bit files only."""
    if key is None or data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26:
        return None
    depth, colour_type = data[24], data[25]
    if colour_type != 0 or depth not in (1, 2, 4):
        return None
    at = 8
    while at + 12 <= len(data):  # chunks: length, type, data, CRC; tRNS comes before IDAT
        size, kind = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8]
        if kind == b"tRNS" and size >= 2:
            stored = int.from_bytes(data[at + 8 : at + 10], "big") & ((1 << depth) - 1)
            return stored * 255 // ((1 << depth) - 1)
        if kind == b"IDAT":
            break
        at += 12 + size
    return None


def _alpha_from_16bit_key(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The alpha a tRNS colour key makes on a 16-bit RGB PNG.

    Pillow keeps only 8 bits per channel, so the key (which must match all 16)
    is applied by libpng through OpenCV, which reads the samples at full depth.
    """
    import cv2
    import numpy as np

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3 or arr.shape[2] != 4 or arr.shape[1::-1] != size:
        raise ValueError("16-bit PNG could not be read with its transparency")
    return Image.fromarray(np.where(arr[..., 3] > 0, 255, 0).astype(np.uint8), "L")


_PROFILE_SPACE = {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK"}


def to_srgb(img: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """8-bit L, RGB or CMYK `img` -> RGB in sRGB, through its ICC profile when it has one.

    The conversion is littleCMS's (Pillow's ImageCms, perceptual intent, which is
    colorimetric for matrix profiles). A profile named sRGB is taken as sRGB as
    it is; an unreadable profile, or one made for another colour model, is
    ignored like browsers do. Appends a note for each conversion; never raises
    for a bad profile.
    """
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = src.profile.xcolor_space.strip()
            name = (ImageCms.getProfileDescription(src) or "").strip() or "its colour profile"
        except (OSError, ValueError, ImageCms.PyCMSError):
            notes.append("ignored an unreadable colour profile")
        else:
            if space != _PROFILE_SPACE.get(img.mode):
                notes.append(f"ignored a colour profile made for {space} images")
            elif "srgb" in name.lower():
                return img.convert("RGB")
            else:
                out = ImageCms.profileToProfile(img, src, _srgb(), outputMode="RGB")
                if out is None:  # only when asked to convert in place
                    raise RuntimeError("ImageCms.profileToProfile returned no image")
                notes.append(f"converted from {name} to sRGB")
                return out
    if img.mode == "CMYK":
        notes.append("CMYK image converted to RGB")
    return img.convert("RGB")


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def encode_png(img: Image.Image) -> bytes:
    """`img` as PNG bytes (zlib level 6, no optimisation pass)."""
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
    """The MIME type of encoded image bytes from their magic number, e.g. "image/png"."""
    return _mime_of(data)
