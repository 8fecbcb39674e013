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
from core.providers.local import cutout_classic, decide, remove_bg
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
    solid = alpha == 255
    assert solid.sum() > 0.9 * truth.sum()
    assert np.array_equal(rgba[..., :3][solid], image[solid])  # solid pixels: original colours
    assert progress == sorted(progress)
    assert len(progress) >= 3
    assert progress[-1] < 1.0


def test_person_mode_keeps_the_person_and_the_camera_he_holds(settings: Settings) -> None:
    photo = np.repeat(skdata.camera()[..., None], 3, -1)  # the cameraman and his tripod
    result = remove_bg.run(_request(Image.fromarray(photo), "person"), settings)
    alpha = _decode(result)[..., 3].astype(np.float32)
    assert result.data["method"] == "isnet-tta+selfie"
    assert result.model == "isnet+selfie"
    assert result.note is None
    assert alpha[250:350, 100:180].mean() > 245  # his coat
    assert alpha[130:190, 190:235].mean() > 245  # his face
    assert alpha[145:178, 265:315].mean() > 230  # the camcorder he holds to his eye
    assert alpha[20:80, 20:120].mean() < 5  # the sky
    legs = photo[400:500, 230:400, 0] < 80  # the tripod's legs, far below his hands
    assert alpha[400:500, 230:400][legs].mean() < 40
    reference = _reference_mask("camera").astype(bool)  # person + camera + tripod, by hand
    for part in (np.s_[:, :230], np.s_[:240, :330]):  # his body; head, arms and camera
        kept = alpha[part] > 127
        assert (kept & reference[part]).sum() / reference[part].sum() > 0.95
        assert (kept & ~reference[part]).sum() < 0.12 * reference[part].sum()


def test_refinement_snaps_a_blurry_mask_to_the_image_edge() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, 80:] = (200, 180, 40)
    step = np.zeros((120, 160), np.float32)
    step[:, 80:] = 1.0
    blurry = cv2.GaussianBlur(step, (0, 0), 6)
    refined = cutout_classic.refine_mask(image, blurry, cutout_classic.MODES["product"])
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


@pytest.mark.parametrize("with_models", [False, True], ids=["fallback", "network"])
def test_existing_transparency_is_kept(
    with_models: bool, settings: Settings, tmp_path: Path,
    planted: tuple[np.ndarray, np.ndarray],
) -> None:
    """With the network and with the classical fallback alike."""
    image, _ = planted
    alpha_in = np.full(image.shape[:2], 255, np.uint8)
    alpha_in[:, :224] = 0  # the left half was already transparent
    alpha_in[:, 224:240] = 100  # and a band half transparent
    rgba = Image.fromarray(np.dstack([image, alpha_in]), "RGBA")
    used = settings if with_models else Settings.model_validate({"models": {"dir": str(tmp_path)}})
    out = _decode(remove_bg.run(_request(rgba, "auto"), used))
    assert out[:, :224, 3].max() == 0
    assert (out[..., 3] <= alpha_in).all()  # combined with the new mask, never raised
    assert out[150:250, 260:340, 3].mean() > 240  # the object's right half is still there
    visible = out[..., 3] > 0
    assert np.array_equal(out[..., :3][visible], image[visible])  # colours as they were


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


def _reference_mask(name: str) -> np.ndarray:
    """The hand-checked reference mask (0/1 uint8) of a scikit-image photo, tests/data/."""
    path = Path(__file__).resolve().parents[1] / "data" / f"{name}_mask.png"
    return (np.asarray(Image.open(path).convert("L")) > 127).astype(np.uint8)


def _two_astronauts() -> np.ndarray:
    one = skdata.astronaut()
    return np.ascontiguousarray(np.concatenate([one, one[:, ::-1]], axis=1))  # 1024x512


def _iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    kept = alpha > 127
    return float((kept & (truth == 1)).sum() / (kept | (truth == 1)).sum())


@pytest.mark.parametrize("mode", ["auto", "person"])
def test_two_astronauts_side_by_side_keep_both_helmets_and_suits(
    mode: str, settings: Settings
) -> None:
    """Issue 9: one helmet came back half transparent, a suit bitten, person mode
    answered "no clear person found". Truth: the single astronaut's reference mask
    (suit, head and the helmet she holds) next to its mirror image."""
    photo = _two_astronauts()
    result = remove_bg.run(_request(Image.fromarray(photo), mode), settings)
    alpha = _decode(result)[..., 3].astype(np.float32)
    one = _reference_mask("astronaut")
    truth = np.concatenate([one, one[:, ::-1]], axis=1)
    assert result.note is None  # in person mode: no "no clear person found"
    if mode == "person":
        assert result.data["method"] == "isnet-tta+selfie"
    disc = np.zeros((512, 512), np.uint8)
    cv2.circle(disc, (388, 455), 95, 1, -1)  # the black helmet she holds
    helmet = disc.astype(bool) & (one == 1)
    helmets = [helmet, helmet[:, ::-1]]
    for side, h in enumerate(helmets):
        region = alpha[:, 512 * side : 512 * (side + 1)][h]
        assert region.mean() > 0.9 * 255, f"helmet {side} is translucent"
        assert np.percentile(region, 5) > 200
    for side in range(2):
        half = slice(512 * side, 512 * (side + 1))
        assert _iou(alpha[:, half], truth[:, half]) > 0.95
        suit = _erode(truth[:, half], 6)
        assert np.percentile(alpha[:, half][suit], 1) > 200  # no bite, no ghost inside
    assert alpha[:120, 330:694].mean() < 5  # the model shuttles between them


def test_a_ui_screenshot_is_refused_not_ghosted(settings: Settings) -> None:
    """Issue 9: a screenshot came back with ghosted text. It has no subject: a clear
    user error (nothing charged), never half-transparent text."""
    with pytest.raises(InvalidInput, match="couldn't find a subject"):
        remove_bg.run(_request(_screenshot(), "auto"), settings)


def _screenshot() -> Image.Image:
    """A mail client's window: title bar, sidebar, heading, text lines, two buttons."""
    from PIL import ImageDraw, ImageFont

    img = Image.new("RGB", (900, 600), (246, 247, 249))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 900, 36], fill=(52, 58, 70))
    for i, c in enumerate([(237, 95, 90), (245, 190, 80), (98, 197, 85)]):
        d.ellipse([12 + 22 * i, 12, 26 + 22 * i, 26], fill=c)
    d.rectangle([0, 36, 180, 600], fill=(232, 235, 240))
    font, big = ImageFont.load_default(size=15), ImageFont.load_default(size=24)
    for i, item in enumerate(["Inbox", "Starred", "Sent", "Drafts", "Archive", "Settings"]):
        d.text((24, 60 + 32 * i), item, fill=(40, 44, 52), font=font)
    d.text((210, 56), "Quarterly report: remove-bg quality", fill=(20, 22, 26), font=big)
    line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    for i in range(14):
        d.text((210, 100 + 24 * i), line[: 40 + (i * 7) % 38], fill=(70, 74, 82), font=font)
    d.rounded_rectangle([210, 460, 330, 496], 8, fill=(40, 110, 240))
    d.text((236, 468), "Reply", fill=(255, 255, 255), font=font)
    d.rounded_rectangle([344, 460, 464, 496], 8, outline=(150, 155, 165), width=2)
    d.text((366, 468), "Forward", fill=(40, 44, 52), font=font)
    return img


def test_edges_carry_no_halo_of_the_old_background(settings: Settings) -> None:
    """A white disc on saturated green: the partly transparent edge pixels must not
    keep the green (foreground colour estimation, pymatting)."""
    big = np.zeros((1600, 1600), np.uint8)
    cv2.circle(big, (800, 800), 520, 1, -1)
    alpha_true = cv2.resize(big.astype(np.float32), (400, 400), interpolation=cv2.INTER_AREA)
    image = (alpha_true[..., None] * 250 + (1 - alpha_true[..., None]) * np.array([20, 200, 40]))
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    rgba = _decode(remove_bg.run(_request(Image.fromarray(image), "product"), settings))
    a = rgba[..., 3]
    edge = (a > 20) & (a < 235)
    assert edge.sum() > 100
    greenness_in = (image[..., 1].astype(int) - image[..., 0])[edge].mean()
    greenness_out = (rgba[..., 1].astype(int) - rgba[..., 0])[edge].mean()
    assert greenness_in > 60  # the input's edge pixels are visibly green
    assert greenness_out < 15  # the cut-out's are the disc's own white


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


# --------------------------------------------------------------------------- decisions (no models)


def test_a_title_bar_is_not_a_subject_but_a_half_picture_is() -> None:
    bar = np.zeros((200, 300), bool)
    bar[:12] = True  # touches top, left, right; a thin strip
    assert not decide.drop_frame_bars(bar).any()
    half = np.zeros((200, 300), bool)
    half[:, :150] = True  # touches three sides too, but is half the picture
    assert decide.drop_frame_bars(half).sum() == half.sum()


def test_unsure_holes_are_filled_and_sure_ones_stay_open() -> None:
    ring = np.zeros((100, 100), np.uint8)
    cv2.circle(ring, (30, 50), 20, 1, -1)
    cv2.circle(ring, (75, 50), 20, 1, -1)
    prob = ring.astype(np.float32)
    hard = ring.astype(bool)
    hard[45:55, 25:35] = False  # a hole the network half saw (a logo's inner disc)
    prob[45:55, 25:35] = 0.35
    hard[45:55, 70:80] = False  # a hole it was sure of (a mug's handle)
    prob[45:55, 70:80] = 0.02
    out = decide.fill_unsure_holes(hard, prob)
    assert out[45:55, 25:35].all()
    assert not out[45:55, 70:80].any()


def test_scattered_background_blobs_give_way_to_the_distinct_subject() -> None:
    """A green 'leaf' texture picked up in pieces plus one grey mug: only the mug stays."""
    rng = np.random.default_rng(3)
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[:] = (30, 80, 30)
    prob = np.zeros((240, 320), np.float32)
    for _ in range(40):
        y, x = rng.integers(10, 230), rng.integers(10, 310)
        cv2.ellipse(rgb, (int(x), int(y)), (9, 5), 30, 0, 360, (60, 170, 50), -1)
        cv2.ellipse(prob, (int(x), int(y)), (9, 5), 30, 0, 360, 0.95, -1)
    rgb[100:130, 140:170] = (150, 150, 155)
    prob[100:130, 140:170] = 0.97
    kept = decide.subject_regions(rgb, prob)
    assert kept[100:130, 140:170].all()
    assert kept.sum() < 1.3 * 30 * 30
