"""Local upscaling with the real Real-ESRGAN ncnn models, and its fallback.

The held-out photos here (scikit-learn's china, matplotlib's grace_hopper) are not
in the set the fidelity step was tuned on (benchmarks/upscale.py's tuning set)."""

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
from skimage.metrics import structural_similarity

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


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(_luma(a), _luma(b), data_range=255.0))


def _detail(ref: np.ndarray, out: np.ndarray) -> float:
    """benchmarks/upscale.py's detail: mean luma gradient magnitude, result / original."""
    def grad(y: np.ndarray) -> float:
        kx = np.array([[1, 0, -1]] * 3, np.float64) / 3.0
        gx, gy = cv2.filter2D(y, -1, kx), cv2.filter2D(y, -1, kx.T)
        return float(np.sqrt(gx * gx + gy * gy).mean())

    return grad(_luma(out)) / grad(_luma(ref))


def _resize(img: np.ndarray, size: tuple[int, int], interp: int) -> np.ndarray:
    return cv2.resize(img, size, interpolation=interp)


def _held_out(name: str) -> np.ndarray:
    if name == "china":
        from sklearn.datasets import load_sample_image

        return np.ascontiguousarray(load_sample_image("china.jpg")[100:356, 200:456])
    import matplotlib.cbook

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"))[60:316, 120:376])


@pytest.mark.parametrize(("name", "scale"), [("china", 2), ("grace_hopper", 4)])
def test_held_out_photo_beats_bicubic_ssim_and_lanczos_detail(
    settings: Settings, name: str, scale: int
) -> None:
    """The issue's fidelity bar on a photo not used in tuning: luma SSIM >= bicubic's
    (the old 75 % blend scored below it at ×2) and detail >= Lanczos's + 0.05."""
    original = _held_out(name)  # 256x256
    small = _down(original, scale)
    result = upscale.run(_request(Image.fromarray(small), scale), settings)
    out = _decode(result)
    assert out.shape == original.shape
    assert result.data["method"] == upscale.FAST[scale]
    size = (original.shape[1], original.shape[0])
    bicubic = _resize(small, size, cv2.INTER_CUBIC)
    lanczos = _resize(small, size, cv2.INTER_LANCZOS4)
    assert _ssim(out, original) >= _ssim(bicubic, original) + 0.01
    assert _detail(original, out) >= _detail(original, lanczos) + 0.05


def test_network_output_is_used_not_a_resampler_passed_through(settings: Settings) -> None:
    """No pass-through: the result is not a resize, and not the fidelity step on a
    resize either; the network's restored detail is in it."""
    original = _held_out("china")
    small = _down(original, 2)
    out = _decode(upscale.run(_request(Image.fromarray(small), 2), settings)).astype(np.float64)
    size = (original.shape[1], original.shape[0])
    lanczos = _resize(small, size, cv2.INTER_LANCZOS4)
    control = upscale.restore_fidelity(small, lanczos, 2)
    assert np.abs(out - lanczos).mean() > 2.0
    assert np.abs(out - control).mean() > 2.0
    assert _ssim(out.astype(np.uint8), original) > _ssim(control, original)


def test_fidelity_step_keeps_the_result_consistent_with_the_input(settings: Settings) -> None:
    """Back-projection: the result's box downscale is (almost) the input again, far
    closer than the raw network's, while the raw network's detail stays."""
    original = _held_out("grace_hopper")
    small = _down(original, 4)
    net = get_store(settings).ncnn_net(upscale.FAST[4])
    raw = upscale.super_resolve(net, upscale.NETWORKS[upscale.FAST[4]], small, 4, faithful=False)
    ours = upscale.restore_fidelity(small, raw, 4)

    def drift(img: np.ndarray) -> float:
        down = _resize(img, (small.shape[1], small.shape[0]), cv2.INTER_AREA)
        return float(np.abs(down.astype(np.float64) - small).mean())

    assert drift(ours) < 2.0
    assert drift(ours) < 0.5 * drift(raw)
    assert _detail(original, ours) >= _detail(original, raw)
    with pytest.raises(ValueError, match="is not 4x"):
        upscale.restore_fidelity(small, raw[:-4], 4)


def test_x4_of_256_and_257_take_the_same_network(settings: Settings) -> None:
    """The issue's speed cliff: 256² ×4 switched to x4plus (64 s, 1.5 GB) while 257²
    took the compact network (3.8 s). Both now run the same compact network."""
    photo = np.tile(skdata.astronaut(), (2, 2, 1))
    methods = set()
    for n in (256, 257):
        result = upscale.run(_request(Image.fromarray(np.ascontiguousarray(photo[:n, :n])), 4),
                             settings)
        assert _decode(result).shape == (4 * n, 4 * n, 3)
        methods.add(result.data["method"])
    assert methods == {"realesr-animevideov3-x4"}


def test_odd_sizes_come_out_exact_and_alpha_is_kept(settings: Settings) -> None:
    rgb = np.ascontiguousarray(skdata.chelsea()[100:123, 200:237])  # 37x23
    alpha = np.tile(np.linspace(0, 255, 37, dtype=np.float32), (23, 1)).astype(np.uint8)
    result = upscale.run(_request(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), 2), settings)
    out = _decode(result)
    assert out.shape == (46, 74, 4)
    expected = cv2.resize(alpha.astype(np.float32), (74, 46), interpolation=cv2.INTER_LANCZOS4)
    assert np.abs(out[..., 3].astype(np.float32) - np.clip(expected, 0, 255)).max() <= 1


def test_tiles_leave_no_seams(settings: Settings) -> None:
    """Tiles carry the compact network's whole receptive radius (18 px) as context, so
    the tiled result is the whole-image one (to rounding)."""
    net = get_store(settings).ncnn_net("realesr-animevideov3-x4")
    spec = upscale.NETWORKS["realesr-animevideov3-x4"]
    assert spec.pad >= 18
    img = np.ascontiguousarray(skdata.coffee()[100:190, 200:300])  # 90x100
    whole = upscale.upscale_tiled(net, replace(spec, tile=512), img)
    ticks: list[float] = []
    tiled = upscale.upscale_tiled(net, replace(spec, tile=40), img, ticks.append)
    assert tiled.shape == whole.shape == (360, 400, 3)
    assert len(ticks) == 9
    assert ticks[-1] == 1.0
    assert np.abs(tiled.astype(np.int16) - whole).max() <= 1
    assert _psnr(tiled, whole) > 50


def test_network_choice() -> None:
    fast = Settings()
    best = Settings.model_validate({"models": {"upscale_quality": "best"}})
    assert upscale.preferred_networks(2, 512, 512, fast)[0] == "realesr-animevideov3-x2"
    assert upscale.preferred_networks(4, 512, 512, fast)[0] == "realesr-animevideov3-x4"
    assert upscale.preferred_networks(2, 512, 512, best)[0] == "realesrgan-x4plus"
    # by a time budget per output MP (core/budget.py): the same network at every size
    assert upscale.preferred_networks(4, 64, 64, fast)[0] == "realesr-animevideov3-x4"
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


def test_tiled_upscale_stays_within_its_budgeted_memory_and_gives_it_back(
    settings: Settings,
) -> None:
    """A ×2 of 1100² has tiles of several padded shapes. ncnn's pools keep every block
    they hand out, so shared pools grew by a full set of activations per shape (1.4 GB
    here) and kept it after the job. The peak over the loaded model must stay within
    core/budget.py's figure for the network, and the memory must come back."""
    import subprocess
    import sys

    from core.budget import NETWORK_COSTS

    name = upscale.FAST[2]
    code = (
        "import resource, numpy as np\n"
        "from core.config import Settings\n"
        "from core.models import get_store\n"
        "from core.providers.local import upscale\n"
        f"net = get_store(Settings()).ncnn_net({name!r}); spec = upscale.NETWORKS[{name!r}]\n"
        "img = np.random.default_rng(0).integers(0, 255, (1100, 1100, 3), dtype=np.uint8)\n"
        "upscale.run_network(net, img[:16, :16])\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 // 2**20\n"
        "loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
        "out = upscale.upscale_tiled(net, spec, img)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 - loaded\n"
        "del out\n"
        "print(peak, rss() - loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    peak, kept = (int(v) for v in done.stdout.split())
    assert peak <= NETWORK_COSTS[name].peak_mb, peak
    assert kept < 150, kept  # the pools are emptied at the end of the job
