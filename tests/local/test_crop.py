"""The local smart crop: exact ratios, planted subjects and faces kept whole, centre mode."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data

from core.errors import InvalidInput
from core.providers.base import ProviderRequest
from core.providers.local import crop
from core.providers.local.crop import RATIOS, choose_crop, window_size
from core.tools.base import CropParams

# The astronaut's head (hair to chin) in skimage's 512×512 picture.
HEAD = (152, 14, 302, 200)


def _texture(w: int, h: int, seed: int = 0) -> Image.Image:
    """A busy but even background: blurred coloured noise around a muted tone."""
    rng = np.random.default_rng(seed)
    small = rng.normal(0, 1, (h // 20, w // 20, 3))
    noise = np.asarray(
        Image.fromarray(((small * 18) + 128).clip(0, 255).astype(np.uint8)).resize((w, h))
    )
    base = np.array([120, 130, 110], float)
    return Image.fromarray((base + (noise.astype(float) - 128)).clip(0, 255).astype(np.uint8))


def _inside(box: tuple[int, int, int, int], target: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return x <= target[0] and y <= target[1] and x + w >= target[2] and y + h >= target[3]


@pytest.mark.parametrize("ratio", list(RATIOS))
@pytest.mark.parametrize("size", [(500, 351), (333, 1001), (640, 640)])
def test_exact_ratio_and_largest_window(ratio: str, size: tuple[int, int]) -> None:
    img = _texture(*size)
    (x, y, w, h), reasons = choose_crop(img, ratio, "auto")
    a, b = RATIOS[ratio]
    assert w * b == h * a and w % a == 0
    assert 0 <= x <= size[0] - w and 0 <= y <= size[1] - h
    assert (w // a + 1) * a > size[0] or (h // b + 1) * b > size[1]  # no larger k fits
    assert reasons


def test_too_small_for_ratio() -> None:
    with pytest.raises(InvalidInput):
        window_size(10, 5, "16:9")


def test_centre_mode_is_centred() -> None:
    img = _texture(1200, 500)
    (x, y, w, h), reasons = choose_crop(img, "1:1", "center")
    assert (w, h) == (500, 500) and x == 350 and y == 0
    assert reasons == ["centre crop"]


@pytest.mark.parametrize("focus", ["auto", "product"])
@pytest.mark.parametrize("where", [0.08, 0.72])
def test_keeps_planted_subject_whole(focus: str, where: float) -> None:
    img = _texture(1600, 600, seed=3)
    x0, y0 = round(1600 * where), 210
    ImageDraw.Draw(img).ellipse(
        (x0, y0, x0 + 260, y0 + 220), fill=(240, 40, 30), outline=(20, 20, 20), width=8
    )
    box, reasons = choose_crop(img, "1:1", focus)
    assert _inside(box, (x0, y0, x0 + 260, y0 + 220))
    assert "subject saliency" in reasons


def test_keeps_planted_tall_subject_on_tall_image() -> None:
    img = _texture(500, 1500, seed=5)
    ImageDraw.Draw(img).rectangle((150, 1100, 330, 1380), fill=(30, 60, 230))
    box, _ = choose_crop(img, "4:3", "auto")
    assert _inside(box, (150, 1100, 330, 1380))


@pytest.mark.parametrize("focus", ["face", "auto"])
def test_keeps_planted_face_whole(focus: str) -> None:
    canvas = Image.new("RGB", (1800, 700), (214, 218, 222))
    canvas.paste(Image.fromarray(data.astronaut()).resize((400, 400)), (1330, 250))
    k = 400 / 512
    head = (1330 + HEAD[0] * k, 250 + HEAD[1] * k, 1330 + HEAD[2] * k, 250 + HEAD[3] * k)
    box, reasons = choose_crop(canvas, "9:16", focus)
    assert _inside(box, head)
    assert "1 face found" in reasons


def _request(img: Image.Image, raw: bytes, params: CropParams) -> ProviderRequest:
    return ProviderRequest("j", "crop", params, img, raw, "k", time.monotonic() + 60)


def test_run_jpeg_in_jpeg_out(make_settings) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.fromarray(data.coffee()).save(buf, "JPEG", quality=90)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    result = crop.run(_request(img, buf.getvalue(), CropParams(ratio="16:9")), make_settings())
    f = result.files[0]
    out = Image.open(io.BytesIO(f.data))
    assert f.name == "crop.jpg" and out.format == "JPEG"
    b = result.data["box"]
    assert out.size == (b["width"], b["height"]) == (result.data["width"], result.data["height"])
    assert b["width"] * 9 == b["height"] * 16
    assert result.data["reasons"]


def test_run_alpha_gives_png(make_settings) -> None:  # type: ignore[no-untyped-def]
    img = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((200, 50, 280, 150), fill=(255, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    result = crop.run(
        _request(img, buf.getvalue(), CropParams(ratio="1:1", focus="product")), make_settings()
    )
    out = Image.open(io.BytesIO(result.files[0].data))
    assert result.files[0].name == "crop.png" and out.mode == "RGBA" and out.size == (200, 200)
    assert result.data["box"]["x"] == 100  # the red disc is on the right


def test_face_detection_is_thread_safe() -> None:
    """Crops run on a thread pool: concurrent face detection must not crash or disagree."""
    from concurrent.futures import ThreadPoolExecutor

    import skimage.data

    from core.providers.local.crop import choose_crop

    face = Image.fromarray(skimage.data.astronaut())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _i: choose_crop(face, "16:9", "face"), range(8)))
    assert all(r == results[0] for r in results)
    assert any("face" in reason for reason in results[0][1])
