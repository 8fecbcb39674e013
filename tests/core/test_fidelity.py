"""Decoding yields what a browser shows for the first frame (issue 8), and damaged
files get the clear "corrupt" error (issue 14, finding 6)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from core.errors import InvalidInput
from core.imaging import DecodedImage, decode_image
from tests import fidelity_inputs as fi

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 10_000_000}


def _decode(data: bytes) -> tuple[DecodedImage, np.ndarray]:
    d = decode_image(data, **LIMITS)
    return d, np.asarray(d.image).astype(int)


def _close(pixel: np.ndarray, want: tuple[int, ...], tol: int) -> bool:
    return bool(np.abs(pixel[: len(want)] - np.array(want)).max() <= tol)


# --------------------------------------------------------------------------- transparency


def test_truecolour_trns_key_is_transparent() -> None:  # issue 8, case 1
    d, a = _decode(fi.colour_key_png())
    assert d.image.mode == "RGBA"
    assert d.image.size == (64, 64)
    assert a[0, 0, 3] == a[63, 63, 3] == a[0, 63, 3] == 0  # green corners: invisible
    assert tuple(a[32, 32]) == (255, 0, 0, 255)  # red disc: opaque
    assert not d.image.info  # no tRNS key or profile travels on


def test_grey_trns_key_is_transparent() -> None:
    grey = np.full((8, 8), 7, np.uint8)
    grey[0, 0] = 9
    d, a = _decode(fi.save(Image.fromarray(grey, "L"), transparency=7))
    assert d.image.mode == "RGBA"
    assert tuple(a[0, 0]) == (9, 9, 9, 255)
    assert a[4, 4, 3] == 0


def test_16bit_grey_trns_key_matches_all_16_bits() -> None:
    samples = np.full((6, 6), 5000, np.uint16)
    samples[0, 0] = 5001  # same high byte as the key: must stay visible
    d, a = _decode(fi.png_16bit(samples, 0, (5000,)))
    assert d.image.mode == "RGBA"
    assert a[0, 0, 3] == 255
    assert (a[..., 3] == 0).sum() == 35
    assert "16-bit image converted to 8-bit" in d.notes


@pytest.mark.parametrize("with_transparency", [False, True])
def test_gif_canvas_a_first_frame_does_not_cover_is_transparent(with_transparency: bool) -> None:
    """Browsers show the canvas outside a GIF's first frame as transparent; Pillow
    paints it with a palette colour when the GIF has no transparent index."""
    d, a = _decode(fi.gif_first_frame_inside_canvas(with_transparency=with_transparency))
    assert d.image.mode == "RGBA"
    assert d.image.size == (64, 48)
    inside = np.zeros((48, 64), bool)
    inside[12:36, 16:48] = True
    inside[12, 16] = not with_transparency  # the frame's own transparent pixel
    assert np.array_equal(a[..., 3] == 255, inside)
    assert (a[..., 3][~inside] == 0).all()
    assert (a[inside][:, :3] == (255, 0, 0)).all()


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_low_bit_grey_trns_key_is_in_sample_units(depth: int) -> None:
    """A 1/2/4-bit grey PNG's tRNS key names a sample value (0 .. 2^depth − 1); Pillow
    reads the samples scaled to 0..255 but leaves the key as it is. Every key value."""
    top = (1 << depth) - 1
    samples = np.add.outer(np.arange(4), np.arange(9)) % (top + 1)
    for key in range(top + 1):
        d, a = _decode(fi.png_low_bit_grey(samples, depth, key))
        assert d.image.mode == "RGBA"
        assert np.array_equal(a[..., 3], np.where(samples == key, 0, 255)), key
        assert np.array_equal(a[..., 0], samples * 255 // top), key


def test_16bit_rgb_trns_key_matches_all_16_bits() -> None:
    samples = np.zeros((6, 6, 3), np.uint16)
    samples[...] = (1000, 40000, 2)
    samples[0, 0] = (1000, 40000, 3)  # differs only in the low byte
    d, a = _decode(fi.png_16bit(samples, 2, (1000, 40000, 2)))
    assert d.image.mode == "RGBA"
    assert a[0, 0, 3] == 255
    assert (a[..., 3] == 0).sum() == 35


def test_grey_with_alpha_keeps_alpha() -> None:
    la = np.zeros((8, 8, 2), np.uint8)
    la[..., 0], la[..., 1] = 200, 100
    d, a = _decode(fi.save(Image.fromarray(la, "LA")))
    assert d.image.mode == "RGBA"
    assert tuple(a[3, 3]) == (200, 200, 200, 100)


def test_gif_transparent_index() -> None:
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 255, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 5, 10))
    d, a = _decode(fi.save(img, "GIF", transparency=0))
    assert d.image.mode == "RGBA"
    assert tuple(a[5, 2]) == (255, 0, 0, 255)
    assert a[5, 8, 3] == 0


# --------------------------------------------------------------------------- animation


def test_animated_webp_canvas_starts_transparent() -> None:
    # the first frame is an opaque sub-rectangle, so the file's has-alpha flag is clear
    first = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    first.paste((0, 0, 255, 255), (10, 10, 30, 30))
    second = Image.new("RGBA", (40, 40), (255, 0, 0, 255))
    data = fi.save(
        first, "WEBP", save_all=True, append_images=[second], duration=100, lossless=True
    )
    assert not data[20] & 0x10  # VP8X flags: no alpha
    d, a = _decode(data)
    assert d.image.mode == "RGBA"
    assert a[0, 0, 3] == 0
    assert tuple(a[20, 20]) == (0, 0, 255, 255)
    assert "animated image: used the first of its 2 frames" in d.notes


def test_apng_first_frame_on_transparent_canvas() -> None:
    # the IDAT image is a fallback for old viewers (not part of the animation):
    # a browser shows frame 1, composed over a transparent canvas
    fallback = Image.new("RGBA", (40, 40), (0, 255, 0, 255))
    frame = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    frame.paste((255, 0, 0, 255), (0, 0, 20, 40))
    later = Image.new("RGBA", (40, 40), (0, 0, 255, 255))
    data = fi.save(
        fallback,
        "PNG",
        save_all=True,
        append_images=[frame, later],
        default_image=True,
        duration=100,
        blend=1,
    )
    d, a = _decode(data)
    assert d.image.mode == "RGBA"
    assert tuple(a[20, 5]) == (255, 0, 0, 255)
    assert a[20, 30, 3] == 0
    assert "animated image: used the first of its 2 frames" in d.notes


def test_apng_translucent_first_frame() -> None:
    frames = [Image.new("RGBA", (16, 16), (255, 0, 0, 100)), Image.new("RGBA", (16, 16), "blue")]
    _, a = _decode(fi.save(frames[0], "PNG", save_all=True, append_images=frames[1:], blend=1))
    assert tuple(a[8, 8]) == (255, 0, 0, 100)


# --------------------------------------------------------------------------- colour profiles


def test_display_p3_png_is_converted_to_srgb() -> None:  # issue 8, case 4
    d, a = _decode(fi.p3_png())
    assert _close(a[32, 10], fi.P3_GREEN_IN_SRGB, 2)
    assert _close(a[32, 50], (255, 255, 255), 1)
    assert "converted from Display P3 to sRGB" in d.notes
    assert "icc_profile" not in d.image.info  # untagged sRGB out


@pytest.mark.parametrize("space", sorted(fi.RGB_SPACES))
def test_rgb_profiles_match_littlecms(space: str) -> None:
    profile = fi.rgb_profile(space)
    src = Image.new("RGB", (8, 8), fi.P3_GREEN)
    want = ImageCms.profileToProfile(
        src, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    )
    assert want is not None
    d, a = _decode(fi.save(src, "PNG", icc_profile=profile))
    assert _close(a[4, 4], want.getpixel((4, 4)), 1)  # type: ignore[arg-type]
    assert not _close(a[4, 4], fi.P3_GREEN, 8)  # the stored numbers were not passed on
    assert f"converted from {space} to sRGB" in d.notes


def test_adobe_rgb_jpeg() -> None:
    img = Image.new("RGB", (16, 16), (0, 255, 0))
    data = fi.save(img, "JPEG", quality=100, icc_profile=fi.rgb_profile("Adobe RGB (1998)"))
    d, a = _decode(data)
    # Adobe RGB's green is far outside sRGB: it clips to full green, red at 0
    assert a[8, 8, 0] <= 2
    assert a[8, 8, 1] >= 250
    assert "converted from Adobe RGB (1998) to sRGB" in d.notes


def test_cmyk_jpeg_uses_its_profile() -> None:
    img = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # cyan ink only
    d, a = _decode(fi.save(img, "JPEG", quality=100, icc_profile=fi.cmyk_profile()))
    assert _close(a[8, 8], fi.CMYK_INKS["c"], 10)  # not the naive (0, 255, 255)
    assert "converted from Test CMYK to sRGB" in d.notes


def test_srgb_profile_is_left_alone() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    d, a = _decode(fi.save(Image.new("RGB", (4, 4), (12, 34, 56)), icc_profile=srgb))
    assert tuple(a[1, 1]) == (12, 34, 56)
    assert d.notes == []


def test_unreadable_profile_is_ignored_with_a_note() -> None:
    d, a = _decode(fi.save(Image.new("RGB", (4, 4), (12, 34, 56)), icc_profile=b"junk" * 40))
    assert tuple(a[1, 1]) == (12, 34, 56)
    assert "ignored an unreadable colour profile" in d.notes


def test_translucent_p3_keeps_alpha() -> None:
    rgba = Image.new("RGBA", (8, 8), (*fi.P3_GREEN, 90))
    _, a = _decode(fi.save(rgba, icc_profile=fi.rgb_profile("Display P3")))
    assert _close(a[4, 4], (*fi.P3_GREEN_IN_SRGB, 90), 2)


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"BM" + b"\0" * 12 + b"\x99\0\0\0" + b"\0" * 60, "BMP"),  # unknown header size
        (fi.save(Image.new("RGB", (40, 40), "red"), "BMP")[:100], "BMP"),  # truncated
        (b"RIFF\x30\0\0\0WEBPVP8 \x20\0\0\0" + b"\0" * 40, "WEBP"),
        (fi.save(Image.new("RGB", (40, 40), "red"), "WEBP")[:40], "WEBP"),
        (fi.png_with_big_text(), "PNG"),  # 1.5 MB text chunk before IDAT
    ],
    ids=["bmp-header", "bmp-truncated", "webp-garbage", "webp-truncated", "png-big-text"],
)
def test_corrupt_files_get_the_corrupt_error(data: bytes, fmt: str) -> None:
    with pytest.raises(InvalidInput) as err:
        decode_image(data, **LIMITS)
    assert str(err.value) == f"Invalid `image`: the {fmt} image is truncated or corrupt."
