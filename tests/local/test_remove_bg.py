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
from core.errors import InvalidInput
from core.jobs import JobRequest
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


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_tiny_image_is_refused_clearly(settings: Settings) -> None:
    tiny = Image.fromarray(skdata.astronaut()).resize((16, 16))
    with pytest.raises(InvalidInput, match=r"too small to cut out \(16×16 pixels\)"):
        remove_bg.run(_request(tiny, "auto"), settings)


@pytest.mark.parametrize("picture", ["white", "noise", "grass", "gravel"])
def test_no_subject_fails_as_a_user_error_never_an_empty_png(
    picture: str, settings: Settings
) -> None:
    img = {
        "white": lambda: Image.new("RGB", (400, 300), (255, 255, 255)),
        "noise": lambda: Image.fromarray(
            np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
        ),
        "grass": lambda: Image.fromarray(skdata.grass()).convert("RGB"),
        "gravel": lambda: Image.fromarray(skdata.gravel()).convert("RGB"),
    }[picture]()
    with pytest.raises(
        InvalidInput, match="couldn't find a subject to separate from the background"
    ):
        remove_bg.run(_request(img, "auto"), settings)


def test_a_ghosted_cut_out_fails(settings: Settings) -> None:
    logo = Image.fromarray(skdata.logo())  # ISNet keeps it only as a translucent ghost
    with pytest.raises(InvalidInput, match="no clear foreground"):
        remove_bg.run(_request(logo, "auto"), settings)


def test_degenerate_alphas() -> None:
    subject = np.zeros((100, 100), np.uint8)
    subject[20:80, 30:70] = 255
    remove_bg.check_cut_out(subject)  # a clear subject: no error
    cases = {
        "almost nothing": np.zeros((100, 100), np.uint8),
        "almost everything": np.full((100, 100), 255, np.uint8),
        "no clear foreground": np.where(subject > 0, 150, 0).astype(np.uint8),
    }
    for why, alpha in cases.items():
        with pytest.raises(InvalidInput, match=why) as err:
            remove_bg.check_cut_out(alpha)
        assert remove_bg.NO_SUBJECT in str(err.value)
        assert err.value.field == "image"


async def test_no_subject_through_the_engine_charges_nothing(engine_factory) -> None:  # type: ignore[no-untyped-def]
    """The tool runs in a worker process; its InvalidInput reaches the member as-is."""
    engine = await engine_factory()
    blank = _png(Image.new("RGB", (400, 300), (255, 255, 255)))
    result = await engine.run(JobRequest("g", "m", "remove-bg", {}, image=blank, channel_id="c"))
    assert result.status == "failed"
    assert isinstance(result.error, InvalidInput)
    assert "couldn't find a subject to separate from the background" in str(result.error)
    assert result.credits_charged == 0
    start = await engine.credits.balance("g", "m")
    assert result.balance == start == 10  # the starting grant, untouched
    ok = await engine.run(
        JobRequest(
            "g", "m", "remove-bg", {}, image=_png(Image.fromarray(skdata.coffee())), channel_id="c"
        )
    )
    assert ok.ok
    assert ok.credits_charged > 0
    assert ok.balance == start - ok.credits_charged  # the failure above charged nothing
