"""Local palette: weighted k-means in CIELAB on a colour histogram of a small decode.

Why it is fast and still accurate:
- JPEG uploads are decoded at 1/2–1/8 scale by libjpeg itself (admission does it
  for this tool: core/tools/base.py DRAFT_PIXELS), so a 12-megapixel photo costs
  a ~0.2-megapixel decode and the worker gets a small image;
- every remaining pixel is kept, but pixels are pooled into 5-bit-per-channel
  RGB bins that remember their mean colour and count, so k-means (kmeans.py,
  fixed seed) runs on a few thousand weighted points instead of every pixel;
- clustering is in CIELAB (Euclidean distance there is ΔE76); near-identical
  clusters (CIEDE2000 < 2) are merged so a flat image gets no duplicate swatches.

Every swatch is a colour that occurs in the image, never a mean: each cluster is
shown by an exact pixel colour at its medoid, or, for `n = 1`, at its density
peak (see `representatives.py`), so one colour is the dominant colour, not the
average of the whole image. Names are the nearest CSS colour (CIEDE2000); where
two swatches share one, lightness modifiers (deep, dark, light, pale) tell them apart.

Each pixel counts by its alpha: one at alpha 100 weighs 100/255 of an opaque
one, and fully transparent pixels count nothing (an image that is translucent
everywhere still has a palette). Colours are sRGB: the engine's decoder
(core/imaging.py, also used for bytes given directly) converts embedded ICC
profiles. CIELAB and CIEDE2000 come from core/lab.py. With `include_neutral` false,
low-chroma pixels (greys, near-black, near-white) are left out unless they are
almost the whole image, in which case they are kept and the note says so.
"""

from __future__ import annotations

import colorsys
import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.colors import _named_table, hex_of
from core.config import Settings
from core.errors import InvalidInput
from core.imaging import decode_image
from core.lab import deltaE_ciede2000, rgb2lab
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.providers.local.kmeans import weighted_kmeans
from core.providers.local.representatives import merge_same, mode_colour, unique_names
from core.tools.base import DRAFT_PIXELS, PaletteParams, decoded_small

log = logging.getLogger(__name__)

SAMPLE_SIDE = 360  # the long side is brought down to about this (box filter)
SAMPLE_PIXELS = DRAFT_PIXELS["palette"]  # a JPEG is decoded at the smallest scale keeping these
MAX_PIXELS = 2**31  # direct calls: the engine has already applied its own pixel limit
NEUTRAL_CHROMA = 10.0  # CIELAB C* below this reads as grey/black/white
DARK_L = 10.0  # below this L*, colour is hardly perceptible: treat as neutral
MOSTLY_NEUTRAL = 0.10  # if fewer than 10 % of pixels carry colour, keep neutrals
MERGE_DE = 2.0  # clusters closer than this (CIEDE2000) are one colour to the eye
SPECK = 0.005  # clusters under 0.5 % of the pixels are edge blends/JPEG ringing: folded in
SEED = 0
ImageInput = bytes | Image.Image


@dataclass(frozen=True)
class Swatch:
    """One palette colour and its share of the (considered) pixels."""

    rgb: tuple[int, int, int]
    percent: float
    name: str

    @property
    def hex(self) -> str:
        """The colour as "#rrggbb"."""
        return hex_of(self.rgb)

    @property
    def hsl(self) -> tuple[int, int, int]:
        """Hue in degrees (0..359), saturation and lightness in percent (0..100)."""
        h, light, s = colorsys.rgb_to_hls(*(c / 255.0 for c in self.rgb))
        return round(h * 360) % 360, round(s * 100), round(light * 100)

    def as_dict(self) -> dict[str, Any]:
        """The swatch as JSON-ready data: hex, rgb, hsl, percent (0..100) and CSS name."""
        return {
            "hex": self.hex,
            "rgb": list(self.rgb),
            "hsl": list(self.hsl),
            "percent": self.percent,
            "name": self.name,
        }


@dataclass(frozen=True)
class PaletteAnalysis:
    """The swatches, largest share first, and how neutral (grey) the image is."""

    swatches: list[Swatch]
    mostly_neutral: bool  # neutrals were asked out but kept: the image is mostly grey
    neutral_share: float  # share of the opaque pixels that are neutral, 0..1


def extract_palette(image: ImageInput, n: int = 6, include_neutral: bool = False) -> list[Swatch]:
    """The image's `n` main colours (fewer if it has fewer), largest share first."""
    return analyse_palette(image, n, include_neutral).swatches


def analyse_palette(
    image: ImageInput, n: int = 6, include_neutral: bool = False
) -> PaletteAnalysis:
    """`extract_palette` plus what the neutral filter did."""
    if not 1 <= n <= 12:
        raise ValueError("n must be between 1 and 12")
    pixels, weights = _visible_pixels(_load_small(image))
    if len(pixels) == 0:
        raise InvalidInput("The image is fully transparent: there are no colours to read.")
    keys = _bin_keys(pixels)
    means, counts, used = _histogram(pixels, weights, keys)
    lab = rgb2lab(means[None, :, :] / 255.0)[0]
    neutral = _is_neutral(lab)
    neutral_share = float(counts[neutral].sum() / counts.sum())
    mostly_neutral = False
    if not include_neutral:
        if 1.0 - neutral_share >= MOSTLY_NEUTRAL:
            lab, counts, used = lab[~neutral], counts[~neutral], used[~neutral]
        else:
            mostly_neutral = True
    counts = counts.astype(np.float64)
    centres, totals, labels = _cluster(lab, counts, n)
    _, totals, owner = _fold_specks(centres, totals)
    groups = owner[labels]
    one = n == 1  # a single colour is the dominant one (the mode), else medoids
    rgbs = [
        mode_colour(lab[at], counts[at], used[at], pixels, weights, keys, dominant=one)
        for at in (groups == g for g in range(len(totals)))
    ]
    rgb, totals = merge_same(np.array(rgbs), totals, MERGE_DE)
    return PaletteAnalysis(_swatches(rgb, totals), mostly_neutral, neutral_share)


def _load_small(image: ImageInput) -> Image.Image:
    """Decode (JPEG: at reduced scale) and shrink so the long side is ~SAMPLE_SIDE."""
    if isinstance(image, bytes | bytearray):
        # the engine's decoder, as admission runs it for this tool (a JPEG at up to 1/8
        # scale, keeping SAMPLE_PIXELS), so a direct call sees the engine's pixels
        img = decode_image(bytes(image), max_bytes=len(image), max_pixels=MAX_PIXELS,
                           draft_pixels=SAMPLE_PIXELS).image
    else:
        img = image
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if _has_alpha(img) else "RGB")
    factor = max(img.size) // SAMPLE_SIDE
    if factor >= 2 and img.mode == "RGBA":
        # box filter in premultiplied alpha: hidden colours under alpha 0 add nothing
        img = img.convert("RGBa").reduce(factor).convert("RGBA")
    elif factor >= 2:
        img = img.reduce(factor)  # box filter: exact mean colours, fast
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def _visible_pixels(img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(RGB of every pixel with alpha > 0, N×3 uint8; its weight alpha/255, N float)."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 4:
        visible = arr[:, :, 3] > 0
        return arr[visible][:, :3], arr[visible][:, 3].astype(np.float64) / 255.0
    pixels = arr.reshape(-1, 3)
    return pixels, np.ones(len(pixels))


def _bin_keys(pixels: np.ndarray) -> np.ndarray:
    """The 15-bit histogram bin (5 bits per RGB channel) of every pixel, N int."""
    p = pixels.astype(np.int32)
    key: np.ndarray = ((p[:, 0] >> 3) << 10) | ((p[:, 1] >> 3) << 5) | (p[:, 2] >> 3)
    return key


def _histogram(
    pixels: np.ndarray, weights: np.ndarray, key: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool pixels into 32×32×32 RGB bins.

    Returns (weighted mean RGB per used bin, total weight per used bin, the used bins' keys).
    """
    opaque = bool(np.all(weights == 1.0))  # then plain sums: the same numbers, less work
    counts = np.bincount(key, weights=None if opaque else weights, minlength=32768)
    used = np.nonzero(counts)[0]
    sums = np.stack([
        np.bincount(key, weights=pixels[:, c] if opaque else pixels[:, c] * weights,
                    minlength=32768)[used]
        for c in range(3)
    ])
    return (sums / counts[used]).T, counts[used].astype(np.float64), used


def _is_neutral(lab: np.ndarray) -> np.ndarray:
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    result: np.ndarray = (chroma < NEUTRAL_CHROMA) | (lab[:, 0] < DARK_L)
    return result


def _cluster(
    lab: np.ndarray, weights: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted k-means in CIELAB (fixed seed); indistinguishable clusters merged.

    Returns (cluster centres K×3, their total weights K, the cluster of every input row).
    """
    if len(lab) <= n:
        centres, totals, owner = _merge_close(lab.copy(), weights)
        return centres, totals, owner
    km_centres, labels = weighted_kmeans(lab, weights, n, seed=SEED, n_init=2, max_iter=100,
                                         tol=1e-3)
    totals = np.bincount(labels, weights=weights, minlength=n)
    keep = totals > 0
    renumber = np.cumsum(keep) - 1  # cluster index among the non-empty ones
    centres, totals, owner = _merge_close(km_centres[keep], totals[keep])
    return centres, totals, owner[renumber[labels]]


def _fold_specks(
    centres: np.ndarray, totals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give the pixels of tiny clusters to their nearest real colour (CIEDE2000).

    Returns (kept centres, their totals, the kept index each input cluster went to).
    """
    small = totals < SPECK * totals.sum()
    if not small.any() or small.all():
        return centres, totals, np.arange(len(totals))
    big_c, big_w = centres[~small], totals[~small].copy()
    owner = np.cumsum(~small) - 1
    nearest = nearest_ciede2000(centres[small], big_c)
    owner[small] = nearest
    for j, w in zip(nearest, totals[small], strict=True):
        big_w[j] += w
    return big_c, big_w, owner


def nearest_ciede2000(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (CIEDE2000) for every row of `lab`."""
    d = deltaE_ciede2000(lab[:, None], centres[None])  # broadcast: len(lab) x len(centres)
    result: np.ndarray = np.argmin(d, axis=1)
    return result


def _merge_close(
    centres: np.ndarray, totals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold clusters that are indistinguishable (ΔE2000 < MERGE_DE) into the larger one.

    Returns (kept centres, their totals, the kept index each input cluster went to).
    """
    order = np.argsort(-totals, kind="stable")
    kept_c: list[np.ndarray] = []
    kept_w: list[float] = []
    owner = np.zeros(len(totals), dtype=np.int64)
    for i in order:
        c, w = centres[i], float(totals[i])
        dists = _ciede2000_to(c, kept_c)
        if dists and min(dists) < MERGE_DE:
            j = int(np.argmin(dists))
            kept_c[j] = (kept_c[j] * kept_w[j] + c * w) / (kept_w[j] + w)
            kept_w[j] += w
            owner[i] = j
        else:
            owner[i] = len(kept_c)
            kept_c.append(c.copy())
            kept_w.append(w)
    return np.array(kept_c), np.array(kept_w), owner


def _ciede2000_to(lab: np.ndarray, others: list[np.ndarray]) -> list[float]:
    """CIEDE2000 from one CIELAB colour to each of `others`, in one vectorised call."""
    if not others:
        return []
    return [float(v) for v in deltaE_ciede2000(lab, np.array(others))]


def _swatches(rgb: np.ndarray, weights: np.ndarray) -> list[Swatch]:
    tenths = largest_remainder(weights, 1000)
    names = unique_names(rgb, names_of(rgb))
    out = [
        Swatch((int(r[0]), int(r[1]), int(r[2])), t / 10, name)
        for r, t, name in zip(rgb, tenths, names, strict=True)
    ]
    order = sorted(range(len(out)), key=lambda i: (-weights[i], out[i].hex))
    return [out[i] for i in order]


def largest_remainder(weights: np.ndarray, total: int) -> list[int]:
    """Integers proportional to `weights` that sum to exactly `total`."""
    raw = np.asarray(weights, dtype=np.float64) / float(np.sum(weights)) * total
    floors = np.floor(raw).astype(int)
    short = total - int(floors.sum())
    for i in np.argsort(-(raw - floors), kind="stable")[:short]:
        floors[i] += 1
    return [int(v) for v in floors]


def names_of(rgbs: np.ndarray) -> list[str]:
    """Nearest CSS colour name (CIEDE2000) for each RGB row, in one vectorised pass."""
    names, table = _named_table()
    lab = rgb2lab(np.asarray(rgbs, dtype=np.float64)[None, :, :] / 255.0)[0]
    idx = nearest_ciede2000(lab, table)
    return [names[int(i)] for i in idx]


# --- the swatch image ---------------------------------------------------------------

WIDTH = 1200
CARD_H = 420
BAR_H = 44


@lru_cache(maxsize=16)
def _font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    import font_lato  # OFL-1.1 Lato, shipped as a PyPI package

    path = Path(font_lato.font_directory) / f"Lato-{weight}.ttf"
    return ImageFont.truetype(str(path), size)


def _ink(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast on `rgb`."""
    lin = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return (17, 17, 17) if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else (250, 250, 250)


_LINES = (("Black", 34), ("Regular", 24), ("Bold", 22))  # hex, name, share


def render_swatches(swatches: list[Swatch]) -> Image.Image:
    """Cards (hex, name, share; two rows past 6 colours) over a bar that follows the shares."""
    img = Image.new("RGB", (WIDTH, CARD_H + BAR_H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    rows = 1 if len(swatches) <= 6 else 2
    cols = -(-len(swatches) // rows)
    xs = np.linspace(0, WIDTH, cols + 1).round().astype(int)
    ys = np.linspace(0, CARD_H, rows + 1).round().astype(int)
    margin = min(40, max(12, int(xs[1]) // 12))
    room = int(xs[1]) - 2 * margin - 1
    texts = [_texts(s) for s in swatches]
    fonts = _shared_fonts(draw, texts, room)
    for i, s in enumerate(swatches):
        r, c = divmod(i, cols)
        x1 = WIDTH if i == len(swatches) - 1 else int(xs[c + 1])  # last card takes the rest
        draw.rectangle((int(xs[c]), int(ys[r]), x1 - 1, int(ys[r + 1]) - 1), fill=s.rgb)
        _label(draw, s, texts[i], fonts, (int(xs[c]) + margin, int(ys[r + 1]) - 20), room)
    x = 0.0
    for s in swatches:
        end = x + WIDTH * s.percent / 100
        draw.rectangle(
            (round(x), CARD_H, max(round(x), round(end) - 1), CARD_H + BAR_H), fill=s.rgb
        )
        x = end
    draw.line((0, CARD_H, WIDTH, CARD_H), fill=(255, 255, 255), width=3)
    return img


def _texts(s: Swatch) -> tuple[str, str, str]:
    return s.hex.upper(), s.name, f"{s.percent:.1f} %"


def _shared_fonts(
    draw: ImageDraw.ImageDraw, texts: list[tuple[str, str, str]], room: int
) -> list[ImageFont.FreeTypeFont]:
    """One scale for every line of every card, so the hierarchy and columns stay even."""
    scale: float = 1.0
    for i, (weight, size) in enumerate(_LINES):
        widest = max(draw.textlength(t[i], font=_font(weight, size)) for t in texts)
        scale = min(scale, room / widest)
    return [_font(weight, max(11, int(size * scale))) for weight, size in _LINES]


def _label(
    draw: ImageDraw.ImageDraw,
    s: Swatch,
    lines: tuple[str, str, str],
    fonts: list[ImageFont.FreeTypeFont],
    at: tuple[int, int],
    room: int,
) -> None:
    """Draw the three lines bottom-up so their baselines sit at the same height on every card."""
    ink = _ink(s.rgb)
    soft = tuple(int(c * 0.72 + b * 0.28) for c, b in zip(ink, s.rgb, strict=True))
    x, y = at
    for text, font, (weight, _) in reversed(list(zip(lines, fonts, _LINES, strict=True))):
        ascent, descent = font.getmetrics()
        y -= ascent + descent
        fill = soft if weight == "Regular" else ink
        draw.text((x, y), _ellipsize(draw, text, font, room), font=font, fill=fill)
        y -= 2


def _ellipsize(draw: ImageDraw.ImageDraw, text: str, font: Any, room: int) -> str:
    if draw.textlength(text, font=font) <= room:
        return text
    while len(text) > 1 and draw.textlength(text + "…", font=font) > room:
        text = text[:-1]
    return text + "…"


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """The palette tool: the image's `params.colors` main colours as `data["colors"]`
    and a swatch strip PNG. InvalidInput when there is no image.
    """
    params = req.params
    if not isinstance(params, PaletteParams):
        raise TypeError(f"expected PaletteParams, got {type(params).__name__}")
    # admission decodes a JPEG for this tool at reduced scale (core/tools/base.py
    # DRAFT_PIXELS); a full-size decode (a job resumed from the store) is re-read that way
    raw, image = req.image_bytes, req.image
    big = image is not None and not decoded_small("palette", image.width, image.height)
    source: ImageInput | None = (raw if raw and raw[:3] == b"\xff\xd8\xff" and (big or image is None)
                                 else image)
    if source is None:
        raise InvalidInput("The palette tool needs an image.", field="image")
    req.progress(0.1, "reading colours")
    analysis = analyse_palette(source, params.colors, params.include_neutral)
    req.progress(0.7, "drawing swatches")
    buf = io.BytesIO()
    render_swatches(analysis.swatches).save(buf, "PNG", compress_level=1)  # flat colours: 15 % larger, 40 % faster
    return ProviderResult(
        files=[OutputFile("palette.png", buf.getvalue(), "image/png")],
        data={"colors": [s.as_dict() for s in analysis.swatches]},
        note=_note(analysis, params.include_neutral),
        model="k-means (CIELAB)",
    )


def _note(analysis: PaletteAnalysis, include_neutral: bool) -> str | None:
    if analysis.mostly_neutral:
        return "The image is mostly neutral (greys, black, white), so neutral colours are included."
    if not include_neutral and analysis.neutral_share >= 0.005:
        share = round(analysis.neutral_share * 100)
        return f"Neutral colours ({share} % of the image) are left out; shares are of the rest."
    return None
