"""Local background removal with the real ISNet / selfie models, and its fallback."""

from __future__ import annotations

import io
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from core.config import Settings
from core.models import get_store
from core.providers.base import ProviderRequest, ProviderResult
from core.providers.local import remove_bg
from core.tools.base import RemoveBgParams

FALLBACK_NOTE = "model not installed: classical GrabCut fallback (run `studio models fetch`)"


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings()
    store = get_store(s)
    missing = [n for n in ("isnet", "selfie") if store.path(n) is None]
    if missing:
        pytest.fail(f"models {missing} missing in {store.root}: run `studio models fetch` first")
    return s


@pytest.fixture(scope="session")
def planted() -> tuple[np.ndarray, np.ndarray]:
    """A real photo object (the retina fundus disc, cut out on its black surround by
    thresholding) pasted on a plain light background; returns image and truth mask."""
    retina = cv2.resize(skdata.retina(), (240, 240), interpolation=cv2.INTER_AREA)
    disc = (retina.astype(np.float32).mean(-1) > 25).astype(np.uint8)
    disc = cv2.morphologyEx(disc, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    image = np.full((384, 448, 3), (236, 238, 242), np.uint8)
    truth = np.zeros((384, 448), np.uint8)
    y0, x0 = 60, 150
    region = image[y0 : y0 + 240, x0 : x0 + 240]
    region[disc == 1] = retina[disc == 1]
    truth[y0 : y0 + 240, x0 : x0 + 240] = disc
    return image, truth


def _request(image: Image.Image, mode: str, progress: list[float] | None = None) -> ProviderRequest:
    return ProviderRequest(
        job_id="test",
        tool="remove-bg",
        params=RemoveBgParams(mode=mode),  # type: ignore[arg-type]
        image=image,
        image_bytes=None,
        idempotency_key="k",
        deadline=time.monotonic() + 120,
        progress=(lambda f, _m: progress.append(f))
        if progress is not None
        else (lambda _f, _m: None),
    )


def _decode(result: ProviderResult) -> np.ndarray:
    (out,) = result.files
    assert out.name == "removed-bg.png"
    assert out.mime == "image/png"
    img = Image.open(io.BytesIO(out.data))
    assert img.format == "PNG"
    assert img.mode == "RGBA"
    return np.asarray(img)


def _erode(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(mask, np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def test_isnet_makes_background_transparent_and_object_opaque(
    settings: Settings, planted: tuple[np.ndarray, np.ndarray]
) -> None:
    image, truth = planted
    progress: list[float] = []
    result = remove_bg.run(_request(Image.fromarray(image), "auto", progress), settings)
    rgba = _decode(result)
    alpha = rgba[..., 3].astype(np.float32)
    assert rgba.shape == (384, 448, 4)
    assert result.data == {"width": 448, "height": 384, "mode": "auto", "method": "isnet"}
    assert result.model == "isnet"
    assert result.note is None
    background = _erode(1 - truth, 12)
    inside = _erode(truth, 12)
    assert alpha[background].mean() < 3
    assert np.percentile(alpha[background], 99) < 20
    assert alpha[inside].mean() > 250
    assert np.percentile(alpha[inside], 1) > 230
    iou = ((alpha > 127) & (truth == 1)).sum() / ((alpha > 127) | (truth == 1)).sum()
    assert iou > 0.95
    assert np.array_equal(rgba[..., :3], image)  # original colours, only alpha is new
    assert progress == sorted(progress)
    assert len(progress) >= 3
    assert progress[-1] < 1.0


def test_person_mode_keeps_the_person_and_drops_other_objects(settings: Settings) -> None:
    photo = np.repeat(skdata.camera()[..., None], 3, -1)  # the cameraman and his tripod
    result = remove_bg.run(_request(Image.fromarray(photo), "person"), settings)
    alpha = _decode(result)[..., 3].astype(np.float32)
    assert result.data["method"] == "isnet+selfie"
    assert result.model == "isnet+selfie"
    assert alpha[250:350, 100:180].mean() > 245  # his coat
    assert alpha[130:190, 190:235].mean() > 245  # his face
    assert alpha[20:80, 20:120].mean() < 5  # the sky
    tripod = photo[330:500, 230:400, 0] < 80  # dark legs of the tripod (ISNet alone keeps them)
    assert alpha[330:500, 230:400][tripod].mean() < 80


def test_refinement_snaps_a_blurry_mask_to_the_image_edge() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, 80:] = (200, 180, 40)
    step = np.zeros((120, 160), np.float32)
    step[:, 80:] = 1.0
    blurry = cv2.GaussianBlur(step, (0, 0), 6)
    refined = remove_bg.refine_mask(image, blurry, remove_bg.MODES["product"])
    assert refined[:, 74].max() < 0.05
    assert refined[:, 86].min() > 0.95
    assert blurry[:, 74].max() > 0.1  # the input really was blurry there


def test_fallback_grabcut_when_model_missing(
    tmp_path: Path, planted: tuple[np.ndarray, np.ndarray]
) -> None:
    image, truth = planted
    empty = Settings.model_validate({"models": {"dir": str(tmp_path)}})
    result = remove_bg.run(_request(Image.fromarray(image), "product"), empty)
    alpha = _decode(result)[..., 3].astype(np.float32)
    assert result.note == FALLBACK_NOTE
    assert result.data["method"] == "grabcut"
    assert result.model is None
    assert alpha[_erode(1 - truth, 12)].mean() < 10
    assert alpha[_erode(truth, 12)].mean() > 240


def test_existing_transparency_is_kept(
    tmp_path: Path, planted: tuple[np.ndarray, np.ndarray]
) -> None:
    image, _ = planted
    alpha_in = np.full(image.shape[:2], 255, np.uint8)
    alpha_in[:, :224] = 0  # the left half was already transparent
    rgba = Image.fromarray(np.dstack([image, alpha_in]), "RGBA")
    empty = Settings.model_validate({"models": {"dir": str(tmp_path)}})
    out = _decode(remove_bg.run(_request(rgba, "auto"), empty))
    assert out[:, :224, 3].max() == 0
    assert out[150:250, 260:340, 3].mean() > 240  # the object's right half is still there
