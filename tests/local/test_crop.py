"""The local smart crop: exact ratios, planted subjects and faces kept whole, centre mode,
BlazeFace (the real model) and the Haar fallback."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from skimage import data

from core.config import Settings
from core.errors import InvalidInput
from core.models import ModelStore, get_store
from core.providers.base import ProviderRequest
from core.providers.local import crop
from core.providers.local import faces as face_detection
from core.providers.local.crop import RATIOS, choose_crop, window_size
from core.providers.local.faces import BlazeFaces, Box, HaarFaces, face_detector
from core.tools.base import CropParams

# The astronaut's head (hair to chin) and face (brows to chin) in skimage's 512×512 picture.
HEAD = (152, 14, 302, 200)
FACE = (170, 60, 260, 190)


@pytest.fixture(scope="module")
def blazeface() -> BlazeFaces:
    """BlazeFace from the default model store; fails, never skips, when it is missing."""
    store = get_store(Settings())
    detector = face_detector(store)
    if not isinstance(detector, BlazeFaces):
        pytest.fail(
            f"the BlazeFace model is missing or corrupt in {store.root}: "
            "run `studio models fetch` before the tests"
        )
    return detector


class NoFaces:
    """A detector that never finds a face: what the crop does on saliency alone."""

    name = "none"

    def heads(self, rgb: np.ndarray) -> list[Box]:
        return []


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
    assert w * b == h * a
    assert w % a == 0
    assert 0 <= x <= size[0] - w
    assert 0 <= y <= size[1] - h
    assert (w // a + 1) * a > size[0] or (h // b + 1) * b > size[1]  # no larger k fits
    assert reasons


def test_too_small_for_ratio() -> None:
    with pytest.raises(InvalidInput):
        window_size(10, 5, "16:9")


def test_centre_mode_is_centred() -> None:
    img = _texture(1200, 500)
    (x, y, w, h), reasons = choose_crop(img, "1:1", "center")
    assert (w, h) == (500, 500)
    assert x == 350
    assert y == 0
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
    assert "1 face found (Haar)" in reasons  # the default needs no model file


def _request(img: Image.Image, raw: bytes, params: CropParams) -> ProviderRequest:
    return ProviderRequest("j", "crop", params, img, raw, "k", time.monotonic() + 60)


def test_run_jpeg_in_jpeg_out(make_settings) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.fromarray(data.coffee()).save(buf, "JPEG", quality=90)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    result = crop.run(_request(img, buf.getvalue(), CropParams(ratio="16:9")), make_settings())
    f = result.files[0]
    out = Image.open(io.BytesIO(f.data))
    assert f.name == "crop.jpg"
    assert out.format == "JPEG"
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
    assert result.files[0].name == "crop.png"
    assert out.mode == "RGBA"
    assert out.size == (200, 200)
    assert result.data["box"]["x"] == 100  # the red disc is on the right


@pytest.mark.parametrize("detector", ["Haar", "BlazeFace"])
def test_face_detection_is_thread_safe(detector: str, request: pytest.FixtureRequest) -> None:
    """Crops run on a thread pool: concurrent face detection must not crash or disagree."""
    from concurrent.futures import ThreadPoolExecutor

    faces = request.getfixturevalue("blazeface") if detector == "BlazeFace" else HaarFaces()
    face = Image.fromarray(data.astronaut())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _i: choose_crop(face, "16:9", "face", faces), range(8)))
    assert all(r == results[0] for r in results)
    assert results[0][1] == [f"1 face found ({detector})"]


# --- BlazeFace and the Haar fallback ----------------------------------------------------


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def test_blazeface_anchor_grid() -> None:
    """896 anchor centres: 16×16 cells × 2, then 8×8 cells × 6, row by row."""
    anchors = face_detection._BLAZE_ANCHORS
    assert anchors.shape == (896, 2)
    assert np.allclose(anchors[:2], [1 / 32, 1 / 32])
    assert np.allclose(anchors[2], [3 / 32, 1 / 32])  # x moves first
    assert np.allclose(anchors[32], [1 / 32, 3 / 32])
    assert np.allclose(anchors[512:518], [1 / 16, 1 / 16])
    assert np.allclose(anchors[-1], [15 / 16, 15 / 16])


def test_blazeface_finds_the_astronauts_face(blazeface: BlazeFaces) -> None:
    faces = blazeface.faces(np.asarray(data.astronaut()))
    assert len(faces) == 1
    assert _iou(faces[0], FACE) > 0.5, faces
    (head,) = blazeface.heads(np.asarray(data.astronaut()))
    assert all(abs(h - t) <= 8 for h, t in zip(head, HEAD, strict=True)), head  # grown right


@pytest.mark.parametrize(("rows", "cols"), [((30, 330), (0, 512)), ((0, 512), (100, 400))])
def test_blazeface_maps_letterboxed_boxes_back(
    rows: tuple[int, int], cols: tuple[int, int], blazeface: BlazeFaces
) -> None:
    """Landscape and portrait frames are padded to the model's square: boxes come back."""
    img = np.ascontiguousarray(data.astronaut()[rows[0] : rows[1], cols[0] : cols[1]])
    dx, dy = cols[0], rows[0]
    (face,) = blazeface.faces(img)
    assert _iou(face, (FACE[0] - dx, FACE[1] - dy, FACE[2] - dx, FACE[3] - dy)) > 0.5, face


def test_blazeface_reports_no_face_on_faceless_pictures(blazeface: BlazeFaces) -> None:
    """Many tiles are many chances to see faces in texture: the threshold must hold."""
    for img in (data.coffee(), data.chelsea(), np.asarray(_texture(1600, 600, seed=3))):
        assert blazeface.faces(np.ascontiguousarray(img)) == []


def _small_grey_face_beside_colour(contrast: float) -> tuple[Image.Image, Box]:
    """2000×800: loud colour discs on the left, a small, dull grey portrait on the right
    (its face ~3 % of the width: too small for one pass of the model). Returns the
    image and the head's box."""
    img = Image.new("RGB", (2000, 800), (128, 128, 128))
    draw = ImageDraw.Draw(img)
    for i, colour in enumerate([(230, 30, 40), (30, 90, 230), (250, 200, 20)]):
        x, y = 100 + i * 150, 150 + i * 120
        draw.ellipse((x, y, x + 300, y + 300), fill=colour, outline=(0, 0, 0), width=8)
    grey = ImageOps.grayscale(Image.fromarray(data.astronaut())).convert("RGB").resize((300, 300))
    img.paste(
        Image.blend(Image.new("RGB", grey.size, (128, 128, 128)), grey, contrast), (1550, 250)
    )
    k = 300 / 512
    return img, (1550 + HEAD[0] * k, 250 + HEAD[1] * k, 1550 + HEAD[2] * k, 250 + HEAD[3] * k)


@pytest.mark.parametrize("focus", ["face", "auto"])
def test_blazeface_keeps_small_face_whole_in_wide_image(
    focus: str, blazeface: BlazeFaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    img, head = _small_grey_face_beside_colour(contrast=0.4)
    box, reasons = choose_crop(img, "9:16", focus, blazeface)
    assert _inside(box, head)
    assert "1 face found (BlazeFace)" in reasons
    # on saliency alone the crop goes to the colour: the face is what holds it
    assert not _inside(choose_crop(img, "9:16", focus, NoFaces())[0], head)
    # and only the tiles see a face this small
    monkeypatch.setattr(face_detection, "_tile_sides", lambda w, h: [float(max(w, h))])
    assert face_detection.detect_faces(img, 1.0, blazeface) == []


def test_haar_fallback_when_the_model_is_missing(tmp_path: Path) -> None:
    faces = face_detector(ModelStore(tmp_path))
    assert isinstance(faces, HaarFaces)
    assert isinstance(face_detector(None), HaarFaces)
    img, head = _small_grey_face_beside_colour(contrast=0.6)
    box, reasons = choose_crop(img, "9:16", "face", faces)
    assert _inside(box, head)
    assert reasons == ["1 face found (Haar)"]


def test_run_says_which_detector_found_the_faces(
    blazeface: BlazeFaces,
    make_settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    img = Image.fromarray(data.astronaut())
    params = CropParams(ratio="16:9", focus="face")
    with_model = crop.run(_request(img, b"", params), make_settings())
    assert with_model.data["reasons"] == ["1 face found (BlazeFace)"]
    assert "BlazeFace" in (with_model.model or "")
    assert with_model.note is None
    without = crop.run(_request(img, b"", params), make_settings(models__dir=str(tmp_path)))
    assert without.data["reasons"] == ["1 face found (Haar)"]
    assert without.note == crop.FALLBACK_NOTE
    assert "studio models fetch" in without.note
    product = crop.run(
        _request(img, b"", CropParams(ratio="16:9", focus="product")),
        make_settings(models__dir=str(tmp_path)),
    )
    assert product.note is None  # no faces wanted: nothing missing


class FixedFaces:
    """A detector that reports given head boxes (source pixels) wherever it looks."""

    name = "fixed"

    def __init__(self, boxes: list[Box], width: int) -> None:
        self.boxes, self.width = boxes, width

    def heads(self, rgb: np.ndarray) -> list[Box]:
        k = rgb.shape[1] / self.width
        return [(x0 * k, y0 * k, x1 * k, y1 * k) for x0, y0, x1, y1 in self.boxes]


def _share_inside(box: tuple[int, int, int, int], head: Box) -> float:
    x, y, w, h = box
    ix = max(0.0, min(x + w, head[2]) - max(x, head[0]))
    iy = max(0.0, min(y + h, head[3]) - max(y, head[1]))
    return ix * iy / ((head[2] - head[0]) * (head[3] - head[1]))


def _not_cut(box: tuple[int, int, int, int], heads: list[Box]) -> list[float]:
    shares = [_share_inside(box, head) for head in heads]
    assert all(s <= 0.05 or s >= 0.95 for s in shares), shares
    return shares


def _two_astronauts() -> tuple[Image.Image, list[Box]]:
    """The issue's photo: two people side by side on 1024×512, the right one mirrored."""
    person = Image.fromarray(data.astronaut())
    img = Image.new("RGB", (1024, 512))
    img.paste(person, (0, 0))
    img.paste(ImageOps.mirror(person), (512, 0))
    heads = [HEAD, (1024 - HEAD[2], HEAD[1], 1024 - HEAD[0], HEAD[3])]
    return img, [(float(a), float(b), float(c), float(d)) for a, b, c, d in heads]


@pytest.mark.parametrize("detector", ["blazeface", "haar", "fixed"])
@pytest.mark.parametrize("focus", ["face", "auto", "product"])
def test_two_people_side_by_side_at_4_3_cut_no_face(
    detector: str, focus: str, request: pytest.FixtureRequest
) -> None:
    img, heads = _two_astronauts()
    faces = {
        "blazeface": lambda: request.getfixturevalue("blazeface"),
        "haar": HaarFaces,
        "fixed": lambda: FixedFaces(heads, 1024),
    }[detector]()
    box, _ = choose_crop(img, "4:3", focus, faces)
    assert box[2:] == (680, 510)  # both heads span 720 px: only one can be whole
    shares = _not_cut(box, heads)
    assert max(shares) >= 0.95


def _group(k: int, wide: bool, seed: int) -> tuple[Image.Image, list[Box]]:
    rng = np.random.default_rng(seed)
    size = (1600, 700) if wide else (700, 1600)
    img = _texture(*size, seed=seed)
    cell = (size[0] / k, size[1]) if wide else (size[0], size[1] / k)
    heads: list[Box] = []
    for j in range(k):
        side = round(min(cell) * rng.uniform(0.6, 1.0))
        person = Image.fromarray(data.astronaut()).resize((side, side))
        x0 = round((j * cell[0] if wide else 0) + rng.uniform(0, cell[0] - side))
        y0 = round((0 if wide else j * cell[1]) + rng.uniform(0, cell[1] - side))
        img.paste(person, (x0, y0))
        f = side / 512
        heads.append((x0 + HEAD[0] * f, y0 + HEAD[1] * f, x0 + HEAD[2] * f, y0 + HEAD[3] * f))
    return img, heads


@pytest.mark.parametrize("k", [2, 3, 4, 5])
@pytest.mark.parametrize("ratio", list(RATIOS))
@pytest.mark.parametrize("focus", ["auto", "face", "product"])
def test_groups_of_faces_are_never_cut(k: int, ratio: str, focus: str) -> None:
    for wide, seed in ((True, k), (False, 10 + k)):
        img, heads = _group(k, wide, seed)
        box, _ = choose_crop(img, ratio, focus, FixedFaces(heads, img.width))
        _not_cut(box, heads)


def test_the_most_prominent_face_is_kept_when_not_all_fit() -> None:
    img = _texture(1200, 400, seed=2)
    small = (100.0, 150.0, 180.0, 250.0)  # 80×100 at the left
    big = (780.0, 60.0, 1000.0, 340.0)  # 220×280 at the right: 900 px apart, window 400
    box, _ = choose_crop(img, "1:1", "face", FixedFaces([small, big], 1200))
    assert _not_cut(box, [small, big]) == [0.0, 1.0]


def test_uncut_moves_the_window_the_least() -> None:
    head = (380.0, 100.0, 480.0, 220.0)
    assert crop.uncut((0, 0), (400, 400), (1000, 400), [head]) == (80, 0)  # now whole
    assert crop.uncut((500, 0), (400, 400), (1000, 400), [head]) == (500, 0)  # already clear
    assert crop.uncut((440, 0), (400, 400), (1000, 400), [head]) == (480, 0)  # now outside
