"""Transparency and colour survive every local tool (issue 8, cases 1-4 and their kind)."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image

from core.config import Settings
from core.imaging import decode_image
from core.models import get_store
from core.providers.base import ProviderRequest, ProviderResult
from core.providers.local import crop, palette, remove_bg, upscale
from core.tools.base import CropParams, PaletteParams, Params, RemoveBgParams, UpscaleParams
from tests import fidelity_inputs as fi

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 10_000_000}
CELL = 8  # block size of the random images in the property test


@pytest.fixture(scope="module")
def studio() -> Settings:
    s = Settings()
    store = get_store(s)
    missing = [n for n in (*upscale.FAST.values(), upscale.BEST, "isnet") if store.path(n) is None]
    if missing:
        pytest.fail(f"models {missing} missing in {store.root}: run `studio models fetch` first")
    return s


def _request(tool: str, params: Params, data: bytes) -> ProviderRequest:
    return ProviderRequest(
        job_id="test",
        tool=tool,
        params=params,
        image=decode_image(data, **LIMITS).image,
        image_bytes=data,
        idempotency_key="k",
        deadline=time.monotonic() + 120,
    )


def _png(result: ProviderResult) -> Image.Image:
    img = Image.open(io.BytesIO(result.files[0].data))
    img.load()
    return img


def _rgba(result: ProviderResult) -> np.ndarray:
    return np.asarray(_png(result).convert("RGBA")).astype(int)


def _upscale(data: bytes, scale: int, s: Settings) -> ProviderResult:
    return upscale.run(_request("upscale", UpscaleParams(scale=scale), data), s)  # type: ignore[arg-type]


def _palette(data: bytes) -> list[palette.Swatch]:
    req = _request("palette", PaletteParams(colors=6, include_neutral=True), data)
    result = palette.run(req, Settings())
    return [palette.Swatch(tuple(c["rgb"]), c["percent"], c["name"]) for c in result.data["colors"]]


def _near(pixel: np.ndarray, want: tuple[int, ...], tol: int) -> bool:
    return bool(np.abs(pixel[: len(want)] - np.array(want)).max() <= tol)


# --------------------------------------------------------------------------- case 1: tRNS key


def test_colour_key_upscale_is_transparent(studio: Settings) -> None:
    result = _upscale(fi.colour_key_png(), 2, studio)
    out = _png(result)
    assert out.mode == "RGBA"
    assert out.size == (128, 128)
    a = _rgba(result)
    assert a[0, 0, 3] == a[127, 127, 3] == a[0, 127, 3] == a[127, 0, 3] == 0
    assert _near(a[64, 64], (255, 0, 0, 255), 4)


def test_colour_key_palette_ignores_the_invisible_green() -> None:
    swatches = _palette(fi.colour_key_png())
    assert [s.hex for s in swatches] == ["#ff0000"]
    assert swatches[0].percent == 100.0


def test_colour_key_crop_keeps_alpha() -> None:
    req = _request("crop", CropParams(ratio="16:9"), fi.colour_key_png())
    out = crop.run(req, Settings())
    img = _png(out)
    assert img.mode == "RGBA"
    assert out.files[0].mime == "image/png"
    assert np.asarray(img)[0, 0, 3] == 0


# --------------------------------------------------------------------------- case 2: remove-bg


def test_remove_bg_keeps_original_colours_under_existing_alpha(studio: Settings) -> None:
    data = fi.red_band_png()
    src = np.asarray(decode_image(data, **LIMITS).image).astype(int)
    a = _rgba(remove_bg.run(_request("remove-bg", RemoveBgParams(), data), studio))
    visible = a[..., 3] > 0
    assert visible.sum() > 1000
    assert (a[..., :3][visible] == src[..., :3][visible]).all()  # only alpha may change
    assert (a[..., 3] <= src[..., 3]).all()  # the existing alpha is combined, never raised
    band = a[64, 107]  # 43 px from the centre: in the 6 px band at alpha 128
    assert tuple(band[:3]) == (220, 20, 20)
    assert 0 < band[3] <= 128


# --------------------------------------------------------------------------- case 3: fringes


def _luminance(rgb: np.ndarray) -> np.ndarray:
    result: np.ndarray = rgb @ np.array([0.299, 0.587, 0.114])
    return result


def test_sticker_upscale_has_no_dark_outline(studio: Settings) -> None:
    a = _rgba(_upscale(fi.sticker_png(), 4, studio)).astype(np.float64)
    assert a.shape == (256, 256, 4)
    alpha = a[..., 3:] / 255.0
    on_white = a[..., :3] * alpha + 255.0 * (1.0 - alpha)
    lum = _luminance(on_white)
    assert (lum < 200).sum() <= 5  # the disc itself is luminance 205
    assert (a[..., 3] == 0).sum() > 20000
    assert (a[..., 3] == 255).sum() > 20000


# --------------------------------------------------------------------------- case 4: P3


def test_p3_input_comes_out_in_srgb_from_every_tool(studio: Settings) -> None:
    data = fi.p3_png()
    up = _rgba(_upscale(data, 2, studio))
    assert _near(up[64, 20], fi.P3_GREEN_IN_SRGB, 10)  # the network adds a little contrast
    assert up[64, 20, 0] <= 10  # the raw P3 numbers had red 44
    cut = _rgba(remove_bg.run(_request("remove-bg", RemoveBgParams(), data), studio))
    assert _near(cut[32, 10], fi.P3_GREEN_IN_SRGB, 0)
    framed = _rgba(crop.run(_request("crop", CropParams(ratio="1:1"), data), Settings()))
    assert _near(framed[32, 10], fi.P3_GREEN_IN_SRGB, 0)
    (green,) = [s for s in _palette(data) if s.rgb != (255, 255, 255)]
    assert _near(np.array(green.rgb), fi.P3_GREEN_IN_SRGB, 2)


def test_adobe_rgb_jpeg_palette_is_srgb() -> None:
    data = fi.save(
        Image.new("RGB", (64, 64), fi.P3_GREEN),
        "JPEG",
        quality=100,
        icc_profile=fi.rgb_profile("Adobe RGB (1998)"),
    )
    want = np.asarray(decode_image(data, **LIMITS).image)[32, 32].astype(int)
    (swatch,) = _palette(data)  # palette re-reads JPEG bytes at reduced scale
    assert _near(np.array(swatch.rgb), tuple(int(v) for v in want), 2)
    assert swatch.rgb[0] < 10  # not the stored (44, 187, 67)


# --------------------------------------------------------------------------- palette weights


def test_palette_weights_pixels_by_alpha() -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :20] = (220, 20, 20, 255)
    rgba[:, 20:] = (20, 20, 220, 85)  # a third of an opaque pixel each
    rgba[:4, :4] = (0, 255, 0, 0)  # invisible green counts nothing
    swatches = _palette(fi.save(Image.fromarray(rgba, "RGBA")))
    shares = {s.hex: s.percent for s in swatches}
    red, blue = 255 * (800 - 16), 85 * 800  # alpha-weighted pixel counts
    assert shares == {
        "#dc1414": round(1000 * red / (red + blue)) / 10,
        "#1414dc": round(1000 * blue / (red + blue)) / 10,
    }


def test_translucent_everywhere_still_has_a_palette() -> None:
    swatches = _palette(fi.save(Image.new("RGBA", (30, 30), (240, 120, 10, 60))))
    assert [(s.rgb, s.percent) for s in swatches] == [((240, 120, 10), 100.0)]


def test_palette_downscale_is_premultiplied() -> None:
    # big enough to be reduced: hidden magenta under alpha 0 must not tint the blue
    rgba = np.zeros((800, 800, 4), np.uint8)
    rgba[...] = (255, 0, 255, 0)
    rgba[::2, ::2] = (0, 0, 255, 255)
    swatches = _palette(fi.save(Image.fromarray(rgba, "RGBA")))
    assert [s.hex for s in swatches] == ["#0000ff"]


# --------------------------------------------------------------------------- crop


def test_crop_of_rgba_keeps_every_alpha_value() -> None:
    rgba = np.zeros((60, 120, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.tile(np.arange(120, dtype=np.uint8) * 2, (60, 1))
    data = fi.save(Image.fromarray(rgba, "RGBA"))
    result = crop.run(_request("crop", CropParams(ratio="1:1", focus="center"), data), Settings())
    box = result.data["box"]
    out = np.asarray(_png(result))
    want = rgba[box["y"] : box["y"] + box["height"], box["x"] : box["x"] + box["width"]]
    assert out.shape == want.shape
    assert (out == want).all()


# --------------------------------------------------------------------------- property


def _random_rgba(seed: int, w: int, h: int, hidden: int) -> np.ndarray:
    """A random sticker-like image: CELL x CELL blocks of random colour, each transparent,
    translucent or opaque; the colour under alpha 0 comes from `hidden`."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (-(-h // CELL), -(-w // CELL), 4), dtype=np.uint8)
    kind = rng.integers(0, 3, cells.shape[:2])  # transparent / translucent / opaque
    cells[..., 3] = np.where(kind == 0, 0, np.where(kind == 2, 255, cells[..., 3]))
    rgba = np.repeat(np.repeat(cells, CELL, axis=0), CELL, axis=1)[:h, :w].copy()
    hide = np.random.default_rng(hidden).integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgba[..., :3] = np.where((rgba[..., 3] == 0)[..., None], hide, rgba[..., :3])
    return rgba


def _premultiplied_lanczos(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    down = img.convert("RGBa").resize(size, Image.Resampling.LANCZOS)
    return np.asarray(down).astype(np.float64)


@hsettings(
    max_examples=10, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    w=st.integers(8, 40),
    h=st.integers(8, 40),
    scale=st.sampled_from([2, 4]),
)
def test_upscale_round_trip_property(
    studio: Settings, seed: int, w: int, h: int, scale: int
) -> None:
    rgba = _random_rgba(seed, w, h, hidden=seed + 1)
    data = fi.save(Image.fromarray(rgba, "RGBA"))
    result = _upscale(data, scale, studio)
    out = _png(result)
    assert out.mode == ("RGBA" if (rgba[..., 3] < 255).any() else "RGB")
    assert out.size == (w * scale, h * scale)
    back = _premultiplied_lanczos(out.convert("RGBA"), (w, h))
    src = Image.fromarray(rgba, "RGBA")
    want = np.asarray(src.convert("RGBa")).astype(np.float64)
    error = np.abs(back - want).mean(axis=(0, 1))
    # the yardstick: a plain premultiplied Lanczos up-and-down round trip of the same
    # image, which already blurs the hard block edges (by 4-15 on small images); the
    # network may add detail on top, but not much more error
    up = src.convert("RGBa").resize((w * scale, h * scale), Image.Resampling.LANCZOS)
    ref = np.abs(_premultiplied_lanczos(up.convert("RGBA"), (w, h)) - want).mean(axis=(0, 1))
    assert error[3] <= ref[3] + 6, (error, ref)
    assert error[:3].max() <= ref[:3].max() + 8, (error, ref)
    # the colour hidden under alpha 0 reaches nothing: other hidden colours, same bytes
    again = _random_rgba(seed, w, h, hidden=seed + 2)
    assert (again != rgba).any() or not (rgba[..., 3] == 0).any()
    other = _upscale(fi.save(Image.fromarray(again, "RGBA")), scale, studio)
    assert (np.asarray(_png(other)) == np.asarray(out)).all()
