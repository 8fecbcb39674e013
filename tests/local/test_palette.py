"""The local palette: known colours come back, shares add up, neutrals and alpha behave."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab

from core.providers.base import ProviderRequest
from core.providers.local import palette, representatives
from core.providers.local.palette import Swatch, analyse_palette, extract_palette
from core.tools.base import PaletteParams

BLOCKS = [((200, 30, 40), 0.5), ((20, 120, 200), 0.3), ((240, 200, 30), 0.2)]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg(arr: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _blocks(width: int = 400, height: int = 200) -> np.ndarray:
    arr = np.zeros((height, width, 3), np.uint8)
    x = 0
    for rgb, share in BLOCKS:
        w = round(width * share)
        arr[:, x : x + w] = rgb
        x += w
    return arr


def _de(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = (rgb2lab(np.array([[c]], float) / 255)[0, 0] for c in (a, b))
    return float(deltaE_ciede2000(la, lb))


def _match(swatches: list[Swatch], rgb: tuple[int, int, int]) -> Swatch:
    return min(swatches, key=lambda s: _de(s.rgb, rgb))


@pytest.mark.parametrize("encode", ["png", "jpeg"])
def test_recovers_known_colours_and_shares(encode: str) -> None:
    arr = _blocks()
    source = _png(Image.fromarray(arr)) if encode == "png" else _jpeg(arr)
    swatches = extract_palette(source, 6, include_neutral=True)
    assert len(swatches) == 3  # three flat colours: no invented or duplicate swatches
    for rgb, share in BLOCKS:
        s = _match(swatches, rgb)
        assert _de(s.rgb, rgb) < 3
        assert abs(s.percent - share * 100) < 2
    assert [s.percent for s in swatches] == sorted((s.percent for s in swatches), reverse=True)


@pytest.mark.parametrize("n", [1, 5, 12])
def test_shares_sum_to_100_on_a_photo(n: int) -> None:
    swatches = extract_palette(Image.fromarray(data.coffee()), n, include_neutral=True)
    assert 1 <= len(swatches) <= n
    assert sum(s.percent for s in swatches) == pytest.approx(100.0, abs=0.05)
    assert all(round(s.percent, 1) == s.percent for s in swatches)


def test_deterministic() -> None:
    source = _jpeg(data.astronaut())
    first = extract_palette(source, 6)
    assert all(extract_palette(source, 6) == first for _ in range(2))


def test_neutrals_left_out_unless_asked() -> None:
    arr = np.full((200, 300, 3), 128, np.uint8)  # 60 % mid grey
    arr[:, :60] = (230, 80, 20)
    arr[:, 60:120] = (30, 90, 220)
    img = Image.fromarray(arr)
    without = analyse_palette(img, 6, include_neutral=False)
    assert not without.mostly_neutral
    assert without.neutral_share == pytest.approx(0.6, abs=0.01)
    assert all(max(s.rgb) - min(s.rgb) > 40 for s in without.swatches)
    assert sum(s.percent for s in without.swatches) == pytest.approx(100, abs=0.05)
    grey = _match(extract_palette(img, 6, include_neutral=True), (128, 128, 128))
    assert _de(grey.rgb, (128, 128, 128)) < 2
    assert grey.percent == pytest.approx(60, abs=1)


def test_mostly_neutral_image_keeps_neutrals_and_says_so() -> None:
    arr = np.full((200, 200, 3), 90, np.uint8)
    arr[:8, :8] = (255, 0, 0)
    analysis = analyse_palette(Image.fromarray(arr), 4, include_neutral=False)
    assert analysis.mostly_neutral
    assert _de(analysis.swatches[0].rgb, (90, 90, 90)) < 2
    assert "mostly neutral" in (palette._note(analysis, False) or "")


def test_transparent_pixels_are_ignored() -> None:
    arr = np.zeros((100, 200, 4), np.uint8)
    arr[:, :100] = (0, 200, 0, 0)  # invisible green
    arr[:, 100:] = (200, 0, 100, 255)
    swatches = extract_palette(Image.fromarray(arr, "RGBA"), 4)
    assert len(swatches) == 1
    assert _de(swatches[0].rgb, (200, 0, 100)) < 2
    assert swatches[0].percent == 100.0


def test_swatch_fields() -> None:
    s = Swatch((255, 0, 0), 12.5, "red")
    assert s.as_dict() == {
        "hex": "#ff0000",
        "rgb": [255, 0, 0],
        "hsl": [0, 100, 50],
        "percent": 12.5,
        "name": "red",
    }
    names = palette.names_of(np.array([[255, 0, 0], [0, 0, 128], [250, 250, 250]]))
    assert names[:2] == ["red", "navy"]


def test_largest_remainder_sums_exactly() -> None:
    parts = palette.largest_remainder(np.array([1.0, 1.0, 1.0]), 1000)
    assert sum(parts) == 1000
    assert sorted(parts) == [333, 333, 334]


def test_run_returns_swatch_image_and_colours(make_settings) -> None:  # type: ignore[no-untyped-def]
    source = _jpeg(data.chelsea())
    req = ProviderRequest(
        job_id="j1",
        tool="palette",
        params=PaletteParams(colors=5),
        image=Image.open(io.BytesIO(source)).convert("RGB"),
        image_bytes=source,
        idempotency_key="k",
        deadline=time.monotonic() + 60,
    )
    result = palette.run(req, make_settings())
    colours = result.data["colors"]
    assert 1 <= len(colours) <= 5
    assert set(colours[0]) == {"hex", "rgb", "hsl", "percent", "name"}
    assert sum(c["percent"] for c in colours) == pytest.approx(100, abs=0.05)
    out = Image.open(io.BytesIO(result.files[0].data))
    assert result.files[0].name == "palette.png"
    assert out.format == "PNG"
    assert out.width == 1200
    # the first card is painted in the first colour
    assert out.convert("RGB").getpixel((5, 5)) == tuple(colours[0]["rgb"])


def _hue_wheel() -> np.ndarray:
    """The benchmark's hue wheel: a full-saturation hue disc on white, 400x400."""
    from benchmarks.palette import hue_wheel

    return hue_wheel()


def _coverage(arr: np.ndarray, rgb: tuple[int, int, int]) -> float:
    """Share of the image's pixels within ΔE2000 5 of `rgb`."""
    lab = rgb2lab(arr[..., :3] / 255.0).reshape(-1, 3)
    ref = rgb2lab(np.array([[rgb]], float) / 255.0)[0, 0]
    return float((deltaE_ciede2000(lab, np.broadcast_to(ref, lab.shape)) <= 5).mean())


def _occurs(arr: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    return bool((arr[..., :3].reshape(-1, 3) == rgb).all(axis=1).any())


@pytest.mark.parametrize("include_neutral", [False, True])
def test_one_colour_is_the_dominant_colour_of_a_hue_wheel(include_neutral: bool) -> None:
    """`--colors 1` on a hue wheel: a colour that is there and covers ≥ 5 %, not the mean."""
    arr = _hue_wheel()
    (swatch,) = extract_palette(Image.fromarray(arr), 1, include_neutral)
    assert _occurs(arr, swatch.rgb)
    assert _coverage(arr, swatch.rgb) >= 0.05
    if include_neutral:
        assert swatch.rgb == (255, 255, 255)  # the white around the disc: 23 % of the image


def test_one_colour_on_skimage_colour_wheel_is_the_black_corners() -> None:
    arr = data.colorwheel()  # 21 % pure black around the wheel
    (swatch,) = extract_palette(Image.fromarray(arr), 1, include_neutral=True)
    assert swatch.rgb == (0, 0, 0)
    assert _coverage(arr, swatch.rgb) >= 0.2


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "colorwheel"])
@pytest.mark.parametrize("n", [1, 6, 12])
def test_every_swatch_occurs_and_names_are_unique(name: str, n: int) -> None:
    arr = getattr(data, name)()
    for include_neutral in (False, True):
        swatches = extract_palette(Image.fromarray(arr), n, include_neutral)
        assert all(_occurs(arr, s.rgb) for s in swatches), swatches
        names = [s.name for s in swatches]
        assert len(set(names)) == len(names), names


def test_swatch_is_the_clusters_most_common_colour_not_its_mean() -> None:
    arr = np.zeros((100, 100, 3), np.uint8)
    arr[:, :70] = (200, 40, 40)
    arr[:, 70:] = (210, 50, 50)  # one cluster, two reds: the mean (203, 43, 43) is nowhere
    (swatch,) = extract_palette(Image.fromarray(arr), 1)
    assert swatch.rgb == (200, 40, 40)


def test_alpha_weighting_picks_the_opaque_colour() -> None:
    arr = np.zeros((100, 100, 4), np.uint8)
    arr[:, :60] = (30, 80, 200, 40)  # more pixels, but faint
    arr[:, 60:] = (30, 90, 220, 255)
    (swatch,) = extract_palette(Image.fromarray(arr, "RGBA"), 1)
    assert swatch.rgb == (30, 90, 220)


def test_shared_names_get_lightness_modifiers() -> None:
    rgbs = np.array([[0, 0, 120], [0, 0, 140], [0, 0, 100]])
    assert representatives.unique_names(rgbs, ["navy", "navy", "navy"]) == [
        "navy",
        "light navy",
        "dark navy",
    ]
    two = representatives.unique_names(
        np.array([[20, 20, 20], [5, 5, 5], [255, 0, 0]]), ["black"] * 2 + ["red"]
    )
    assert two == ["light black", "dark black", "red"]
    many = representatives.unique_names(np.array([[i * 10, 0, 0] for i in range(6)]), ["black"] * 6)
    assert len(set(many)) == 6
