"""Safe decode: tricky-but-valid inputs are handled; broken ones name the problem."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidInput
from core.imaging import decode_image, encode_to_fit

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 10_000_000}


def _save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "lime", "blue")]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    d = decode_image(data, **LIMITS)
    assert d.image.mode == "RGB"
    assert d.image.size == (40, 30)
    assert d.image.getpixel((5, 5))[0] > 200  # red: the first frame
    assert any("first of its 3 frames" in n for n in d.notes)


def test_cmyk_jpeg_is_converted() -> None:
    data = _save(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)
    d = decode_image(data, **LIMITS)
    r, g, b = d.image.getpixel((16, 16))
    assert d.image.mode == "RGB"
    assert r > 200
    assert g < 60
    assert b < 60
    assert "CMYK" in " ".join(d.notes)


def test_16bit_png_is_scaled_not_clipped() -> None:
    arr = np.full((20, 20), 32768, dtype=np.uint16)
    data = _save(Image.fromarray(arr), "PNG")
    d = decode_image(data, **LIMITS)
    assert d.image.mode == "RGB"
    assert 120 <= d.image.getpixel((3, 3))[0] <= 135  # half of full scale, not 255
    assert "16-bit" in " ".join(d.notes)


def test_palette_with_transparency_keeps_alpha() -> None:
    img = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (4, 4, 12, 12))
    data = _save(img.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0)
    d = decode_image(data, **LIMITS)
    assert d.image.mode == "RGBA"
    alphas = {d.image.getpixel((0, 0))[3], d.image.getpixel((8, 8))[3]}
    assert alphas == {0, 255}


def test_exif_orientation_applied() -> None:
    img = Image.new("RGB", (60, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    data = _save(img, "JPEG", exif=exif.tobytes())
    assert decode_image(data, **LIMITS).image.size == (20, 60)


def test_byte_cap_names_sizes() -> None:
    with pytest.raises(InvalidInput, match="the limit is"):
        decode_image(b"x" * 2000, max_bytes=1024, max_pixels=100)


def test_unsupported_format_is_named() -> None:
    data = _save(Image.new("RGB", (8, 8)), "ICO")
    with pytest.raises(InvalidInput, match=r"not supported|not a supported"):
        decode_image(data, **LIMITS)


def test_encode_to_fit_fits_and_says_so() -> None:
    rng = np.random.default_rng(1)
    noisy = Image.fromarray((rng.random((600, 600, 3)) * 255).astype(np.uint8))
    png = _save(noisy, "PNG")
    out, mime, note = encode_to_fit(png, 200_000)
    assert len(out) <= 200_000
    assert mime == "image/webp"
    assert note
    assert "WebP" in note
    _small, mime2, note2 = encode_to_fit(_save(Image.new("RGB", (8, 8)), "PNG"), 200_000)
    assert note2 is None
    assert mime2 == "image/png"
    rgba = Image.fromarray((rng.random((400, 400, 4)) * 255).astype(np.uint8), "RGBA")
    out3, _, _ = encode_to_fit(_save(rgba, "PNG"), 100_000)
    assert Image.open(io.BytesIO(out3)).mode == "RGBA"
