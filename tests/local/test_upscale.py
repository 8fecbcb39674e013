"""Local upscaling with the real Real-ESRGAN ncnn models, and its fallback."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from core.config import Settings
from core.models import get_store
from core.providers.base import ProviderRequest, ProviderResult
from core.providers.local import upscale
from core.tools.base import UpscaleParams


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings()
    store = get_store(s)
    missing = [n for n in (*upscale.FAST.values(), upscale.BEST) if store.path(n) is None]
    if missing:
        pytest.fail(f"models {missing} missing in {store.root}: run `studio models fetch` first")
    return s


def _request(image: Image.Image, scale: int) -> ProviderRequest:
    return ProviderRequest(
        job_id="test",
        tool="upscale",
        params=UpscaleParams(scale=scale),  # type: ignore[arg-type]
        image=image,
        image_bytes=None,
        idempotency_key="k",
        deadline=time.monotonic() + 120,
    )


def _decode(result: ProviderResult) -> np.ndarray:
    (out,) = result.files
    assert out.mime == "image/png"
    return np.asarray(Image.open(io.BytesIO(out.data)))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def _down(img: np.ndarray, s: int) -> np.ndarray:
    h, w = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((w // s, h // s), Image.Resampling.BICUBIC))


def _nearest(img: np.ndarray, s: int) -> np.ndarray:
    return cv2.resize(img, (img.shape[1] * s, img.shape[0] * s), interpolation=cv2.INTER_NEAREST)


def test_x2_fast_network_exact_size_and_beats_nearest(settings: Settings) -> None:
    original = np.ascontiguousarray(skdata.rocket()[:424])  # 424x640 -> input 212x320
    small = _down(original, 2)
    assert upscale.preferred_networks(2, small.shape[1], small.shape[0], settings)[0] == (
        "realesr-animevideov3-x2")
    result = upscale.run(_request(Image.fromarray(small), 2), settings)
    out = _decode(result)
    assert out.shape == original.shape
    assert result.data == {
        "width": 640,
        "height": 424,
        "scale": 2,
        "method": "realesr-animevideov3-x2",
    }
    assert result.model == "realesr-animevideov3-x2"
    assert result.note is None
    assert _psnr(out, original) > _psnr(_nearest(small, 2), original) + 0.25


def test_x4_small_input_uses_x4plus(settings: Settings) -> None:
    original = np.ascontiguousarray(skdata.astronaut()[40:168, 180:308])  # her face, 128x128
    small = _down(original, 4)
    result = upscale.run(_request(Image.fromarray(small), 4), settings)
    out = _decode(result)
    assert out.shape == original.shape
    assert result.data["method"] == "realesrgan-x4plus"
    assert result.model == "realesrgan-x4plus"
    assert _psnr(out, original) > _psnr(_nearest(small, 4), original) + 1.0


def test_odd_sizes_come_out_exact_and_alpha_is_kept(settings: Settings) -> None:
    rgb = np.ascontiguousarray(skdata.chelsea()[100:123, 200:237])  # 37x23
    alpha = np.tile(np.linspace(0, 255, 37, dtype=np.float32), (23, 1)).astype(np.uint8)
    result = upscale.run(_request(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), 2), settings)
    out = _decode(result)
    assert out.shape == (46, 74, 4)
    expected = cv2.resize(alpha.astype(np.float32), (74, 46), interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(out[..., 3].astype(np.float32) - np.clip(expected, 0, 255)).max() <= 1


def test_tiles_leave_no_seams(settings: Settings) -> None:
    net = get_store(settings).ncnn_net("realesr-animevideov3-x4")
    spec = upscale.NETWORKS["realesr-animevideov3-x4"]
    img = np.ascontiguousarray(skdata.coffee()[100:190, 200:300])  # 90x100
    whole = upscale.upscale_tiled(net, replace(spec, tile=512), img)
    ticks: list[float] = []
    tiled = upscale.upscale_tiled(net, replace(spec, tile=40), img, ticks.append)
    assert tiled.shape == whole.shape == (360, 400, 3)
    assert len(ticks) == 9
    assert ticks[-1] == 1.0
    assert _psnr(tiled, whole) > 40


def test_network_choice() -> None:
    fast = Settings()
    best = Settings.model_validate({"models": {"upscale_quality": "best"}})
    assert upscale.preferred_networks(2, 512, 512, fast)[0] == "realesr-animevideov3-x2"
    assert upscale.preferred_networks(4, 512, 512, fast)[0] == "realesr-animevideov3-x4"
    assert upscale.preferred_networks(2, 512, 512, best)[0] == "realesrgan-x4plus"
    # by estimated work (core/budget.py): x4plus while it fits limits.upscale_detail_s
    assert upscale.preferred_networks(4, 64, 64, fast)[0] == "realesrgan-x4plus"
    assert upscale.preferred_networks(4, 200, 200, fast)[0] == "realesr-animevideov3-x4"
    assert upscale.preferred_networks(2, 200, 200, fast)[0] == "realesr-animevideov3-x2"


def test_fallback_when_no_model(tmp_path: Path) -> None:
    original = np.ascontiguousarray(skdata.astronaut()[40:168, 180:308])
    small = _down(original, 2)
    empty = Settings.model_validate({"models": {"dir": str(tmp_path)}})
    result = upscale.run(_request(Image.fromarray(small), 2), empty)
    out = _decode(result)
    assert out.shape == original.shape
    assert result.data["method"] == "lanczos+unsharp"
    assert result.model is None
    assert result.note is not None
    assert "model not installed" in result.note
    assert "studio models fetch" in result.note
    assert _psnr(out, original) > _psnr(_nearest(small, 2), original)


def test_deadline_stops_work(settings: Settings) -> None:
    req = replace(_request(Image.fromarray(skdata.astronaut()), 2), deadline=time.monotonic() - 1)
    with pytest.raises(Exception, match="deadline"):
        upscale.run(req, settings)
