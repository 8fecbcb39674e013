"""Local background removal: ISNet with test-time augmentation, decided regions, matted edges.

The steps of `cut_out` (each one's why is in its own module):
1. `segment`: ISNet (DIS) sees the image at 1024 px, letterboxed when wide or
   tall; when its mask is unsure (a ghost of a held helmet), or always in person
   mode, the mirrored image is segmented too and the two are fused (flip TTA).
2. `decide`: on a busy background ISNet can keep pieces of the background; the
   regions are scored by confidence, colour rarity on the border and frame contact,
   and GrabCut seeded from the confident parts settles the rest with a colour model
   of this very image. Unsure enclosed holes are filled.
3. `person` mode: MediaPipe selfie segmentation (on squares of a wide photo) keeps
   every person whole and what they hold; without a clear person, the main subject.
4. `matting`: a trimap around the decided edge and pymatting's closed-form matting
   in that band; foreground colours are re-estimated there, so an edge carries no
   halo of the old background.
Without weights, a classical GrabCut seeded by a border/colour-distance prior runs
instead (`cutout_classic`), and the result's note says so plainly.

The output keeps the original colours except in the partly transparent edge band,
where the old background's colour is taken out; an input that already had
transparency keeps its colours and its alpha (multiplied by the new one).

A cut-out that is degenerate is never returned (and so never charged): when the
alpha keeps almost nothing, almost everything, or no confident foreground (what
is kept is mostly a translucent ghost), the job fails as a user error saying the
tool couldn't find a subject. Images smaller than `MIN_SIDE` on a side are refused
up front: the networks see 1024 px and would only be guessing.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from core.budget import working_note, working_size
from core.config import Settings
from core.errors import InvalidInput
from core.models import FETCH_HINT
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.providers.local import decide, matting, segment
from core.providers.local.cutout_classic import grabcut_mask
from core.tools.base import RemoveBgParams

ISNET = "isnet"
SELFIE = "selfie"
MIN_SIDE = 32  # smaller inputs are refused: too few pixels to tell subject from background
KEPT_MIN = 0.001  # a cut-out keeping under 0.1 % of the image (alpha > 1/2) kept nothing
KEPT_MAX = 0.985  # ... or over 98.5 % of it: it removed nothing
CONFIDENT_MIN = 0.3  # of the pixels kept at all (alpha > 5 %), the share kept at alpha > 90 %
GHOST_MAX = 0.35  # the network's mask is a ghost when under this share of it is confident
UNSURE_TTA = 0.12  # run the mirrored pass when this share of the kept area is unsure
NO_SUBJECT = "remove-bg couldn't find a subject to separate from the background"
FALLBACK_NOTE = f"model not installed: classical GrabCut fallback ({FETCH_HINT})"
Progress = Callable[[float, str], None]


@dataclass
class Cut:
    """What `cut_out` found: alpha (float32 0..1, the image's size) and how."""

    alpha: np.ndarray
    method: str
    model: str | None
    note: str | None = None


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """Remove the background of `req.image`; returns an RGBA PNG.

    Raises InvalidInput (nothing charged) for an image under MIN_SIDE a side or a
    degenerate cut-out (`NO_SUBJECT`).
    """
    if req.image is None:
        raise InvalidInput("remove-bg needs an image.", field="image")
    check_size(*req.image.size)
    params = req.params
    mode = params.mode if isinstance(params, RemoveBgParams) else "auto"
    rgb, alpha_in = _split(req.image)
    seen = on_white(rgb, alpha_in)  # what the networks and the edge refinement look at
    seen, work_note = working_copy(seen, settings)  # mask at most at limits.remove_bg_work_mp
    from core.models import get_store

    req.progress(0.05, "loading model")
    cut = cut_out(get_store(settings), seen, mode, req.progress)
    if work_note:
        alpha = full_size_alpha(combine_alpha(cut.alpha, None), rgb.shape[:2], alpha_in)
    else:
        alpha = combine_alpha(cut.alpha, alpha_in)
    check_cut_out(alpha)
    if alpha_in is None and not work_note:
        req.progress(0.9, "cleaning edge colours")
        rgb = matting.foreground(rgb, cut.alpha)
    req.progress(0.95, "encoding PNG")
    png = encode_rgba_png(rgb, alpha)
    h, w = alpha.shape
    return ProviderResult(
        files=[OutputFile("removed-bg.png", png, "image/png")],
        data={"width": w, "height": h, "mode": mode, "method": cut.method},
        note="; ".join(n for n in (cut.note, work_note) if n) or None,
        model=cut.model,
    )


def cut_out(store: object, rgb: np.ndarray, mode: str, progress: Progress | None = None) -> Cut:
    """The cut-out's alpha for `rgb` (HxWx3 uint8) in `mode`; see the module docstring.

    `store` gives `onnx_model(name)` / `tflite_interpreter(name)` (a ModelStore).
    """
    say = progress or (lambda _f, _m: None)
    isnet = store.onnx_model(ISNET)  # type: ignore[attr-defined]
    if isnet is None:
        say(0.2, "segmenting (classical fallback)")
        return Cut(grabcut_mask(rgb), "grabcut", None, FALLBACK_NOTE)
    say(0.2, "segmenting (ISNet)")
    prob = segment.isnet_small(isnet, rgb)
    check_confident(prob)
    method, model, note = "isnet", ISNET, None
    both = None
    if mode == "person" or segment.ambiguity(prob) > UNSURE_TTA:
        say(0.45, "segmenting the mirrored image")
        mirrored = segment.isnet_small(isnet, rgb, flip=True)
        # person mode: the selfie gate drops what is far from people, so near them
        # what either view saw is kept (a camera one view missed)
        both = np.maximum(prob, mirrored) if mode == "person" else None
        prob = segment.fuse_flip(prob, mirrored)
        method = "isnet-tta"
    h, w = rgb.shape[:2]
    prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    if mode == "person":
        say(0.6, "finding the people (selfie segmentation)")
        prob, person_note = _people(store, rgb, prob, both)
        if person_note is None:
            method, model = f"{method}+selfie", f"{ISNET}+{SELFIE}"
        note = person_note
    say(0.7, "deciding the subject")
    hard = decided_mask(rgb, prob)
    say(0.8, "matting the edges")
    return Cut(matting.matte(rgb, hard, mode), method, model, note)


def _people(
    store: object, rgb: np.ndarray, prob: np.ndarray, both: np.ndarray | None
) -> tuple[np.ndarray, str | None]:
    """Person mode on the fused mask `prob`; `both` = the larger of the two views."""
    selfie = store.tflite_interpreter(SELFIE)  # type: ignore[attr-defined]
    if selfie is None:
        return prob, f"selfie model not installed: ISNet only ({FETCH_HINT})"
    person = segment.selfie_mask(selfie, rgb)
    if not segment.looks_like_person(person):
        return prob, "no clear person found: cut out the main subject instead"
    h, w = rgb.shape[:2]
    seen = prob if both is None else cv2.resize(both, (w, h), interpolation=cv2.INTER_LINEAR)
    return segment.combine_person(seen, person), None


def decided_mask(rgb: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The subject as a boolean mask at full size: ISNet's edges, the small-scale decisions.

    The decisions of `decide` (made at decide.SIDE) override ISNet away from their
    own edges; within a few pixels of them ISNet's sharper boundary is kept.
    """
    small_rgb, small_p = decide.small_copy(rgb, prob)
    subject = decide.subject_regions(small_rgb, small_p)
    unsure = segment.ambiguity(small_p) > UNSURE_TTA
    if unsure or not np.array_equal(subject, small_p > 0.5):
        subject = decide.settle_with_colour(small_rgb, small_p, subject)
    subject = decide.fill_unsure_holes(decide.drop_frame_bars(subject), small_p)
    h, w = prob.shape
    up = cv2.resize(subject.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
    r = max(1, round(2.5 * max(h, w) / max(small_p.shape)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    inside = cv2.erode(up.astype(np.uint8), k).astype(bool)
    near = cv2.dilate(up.astype(np.uint8), k).astype(bool)
    out: np.ndarray = ((prob > 0.5) & near) | inside
    return out


def check_size(width: int, height: int) -> None:
    """Refuse images under `MIN_SIDE` pixels on a side (InvalidInput, field "image")."""
    if min(width, height) < MIN_SIDE:
        raise InvalidInput(
            f"The image is too small to cut out ({width}×{height} pixels): remove-bg needs "
            f"at least {MIN_SIDE}×{MIN_SIDE}.",
            field="image",
        )


def check_cut_out(alpha: np.ndarray) -> None:
    """Raise InvalidInput (`NO_SUBJECT` and why) when the final alpha is degenerate.

    `alpha` is the output's H×W uint8 alpha. Degenerate: under `KEPT_MIN` or over
    `KEPT_MAX` of the image kept (alpha > 127), or, of the pixels kept at all (alpha
    > 12), under `CONFIDENT_MIN` kept confidently (alpha > 229): a ghost, not a
    subject. Measured on the cut-outs the tool gives: photos with a subject keep
    47-77 % at 0.88-0.98 confident; blank, noise and texture pictures keep nothing;
    a translucent ghost of a logo is 0.22 confident.
    """
    kept = float(np.count_nonzero(alpha > 127)) / alpha.size
    if kept < KEPT_MIN:
        why = "almost nothing would be kept"
    elif kept > KEPT_MAX:
        why = "almost everything would be kept"
    else:
        touched = int(np.count_nonzero(alpha > 12))
        confident = int(np.count_nonzero(alpha > 229)) / max(touched, 1)
        if confident >= CONFIDENT_MIN:
            return
        why = "what it would keep is faint, with no clear foreground"
    raise InvalidInput(
        f"{NO_SUBJECT}: {why}. Try a picture where one subject stands out.", field="image"
    )


def check_confident(prob: np.ndarray) -> None:
    """Raise InvalidInput (`NO_SUBJECT`) when the network saw only a ghost.

    `prob`: ISNet's first-pass mask. Of the pixels it keeps (> 0.5), under
    `GHOST_MAX` kept confidently (> 0.9): the later steps would turn a guess into a
    hard edge. Measured on the first pass: the scikit-image logo 0.18; the
    benchmark's tuning set 0.56-1.0.
    """
    kept = int(np.count_nonzero(prob > 0.5))
    if kept and np.count_nonzero(prob > 0.9) / kept < GHOST_MAX:
        raise InvalidInput(
            f"{NO_SUBJECT}: what it would keep is faint, with no clear foreground. "
            "Try a picture where one subject stands out.",
            field="image",
        )


def working_copy(rgb: np.ndarray, settings: Settings) -> tuple[np.ndarray, str | None]:
    """The image to find the background on: at most `limits.remove_bg_work_mp` pixels
    (area downscale), with a note for the result when it is smaller than the input.

    Solving at full size costs ~80 bytes a pixel (a 39 MP upload took 3 GB); the
    networks see 1024 px anyway, so past a few megapixels the full-size pass only
    sharpened edges that the scaled-up mask now carries at working resolution.
    """
    h, w = rgb.shape[:2]
    ww, wh = working_size(w, h, int(settings.limits.remove_bg_work_mp * 1e6))
    if (ww, wh) == (w, h):
        return rgb, None
    return cv2.resize(rgb, (ww, wh), interpolation=cv2.INTER_AREA), working_note(ww, wh, w, h)


def full_size_alpha(
    alpha: np.ndarray, size: tuple[int, int], alpha_in: np.ndarray | None
) -> np.ndarray:
    """The working-size alpha (uint8) scaled up to `size` (h, w), times any alpha the
    input already had; uint8 throughout, so the full-size cost is ~1 byte a pixel."""
    h, w = size
    up = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    return up if alpha_in is None else cv2.multiply(up, alpha_in, scale=1.0 / 255.0)


# --------------------------------------------------------------------------- image I/O


def _split(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(the original RGB uint8 HxWx3, existing alpha HxW uint8 or None if opaque)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3]
        return np.ascontiguousarray(rgba[..., :3]), (alpha.copy() if alpha.min() < 255 else None)
    return np.asarray(image.convert("RGB")), None


def on_white(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The image as it looks on white (HxWx3 uint8): what segmentation should see.

    Only the networks and the edge refinement look at this copy; the output
    keeps the original colours.
    """
    if alpha is None:
        return rgb
    white = Image.new("RGB", (rgb.shape[1], rgb.shape[0]), (255, 255, 255))
    white.paste(Image.fromarray(rgb, "RGB"), mask=Image.fromarray(alpha, "L"))
    return np.asarray(white)


def combine_alpha(mask: np.ndarray, alpha_in: np.ndarray | None) -> np.ndarray:
    """Final alpha (HxW uint8): the cut-out mask (0..1 float) times the existing alpha.

    A pixel at alpha 128 inside the subject stays at 128; one the mask removes
    becomes 0, whatever it was.
    """
    alpha = mask.astype(np.float32) * 255.0
    if alpha_in is not None:
        alpha = alpha * (alpha_in.astype(np.float32) / 255.0)
    result: np.ndarray = np.clip(alpha + 0.5, 0, 255).astype(np.uint8)
    return result


def encode_rgba_png(rgb: np.ndarray, alpha: np.ndarray) -> bytes:
    """A real RGBA PNG: original colours, the computed alpha."""
    rgba = np.dstack([rgb, alpha])
    buf = io.BytesIO()
    # level 3: a third of level 6's time for ~14 % more bytes (the bot re-encodes if too big)
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
