"""Local design: the offline typographic renderer.

No text-to-image weights can be had offline (RESEARCH.md §A), so this provider
renders a real typographic design: the prompt's key phrase as the title, the
rest as a tagline, laid out and decorated by style, in the style's palette or
the member's colours, honouring `avoid` for colours and elements. The same
seed gives the same picture; another seed rearranges layout and palette.

Sizes (1024-class, multiples of 64, close to what image models return):
1:1 1024×1024, 16:9 1344×768, 9:16 768×1344, 4:3 1152×864. Drawing happens at
2× and is downsampled once, which antialiases shapes and type alike.

Fonts ship as PyPI packages (SIL OFL 1.1): Red Hat Display (`font-rhd`, modern),
Source Serif Pro (`font-source-serif-pro`, vintage), Lato (`font-lato`, minimal
and labels), Fjalla One (`font-fjallaone`, bold), Fredoka One
(`font-fredoka-one`, playful).
"""

from __future__ import annotations

import importlib
import io
import math
import random
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.colors import parse_color
from core.config import Settings
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.tools.base import DesignParams

RGB = tuple[int, int, int]
SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 864),
}
SS = 2  # supersampling factor
NOTE = "offline template renderer (no text-to-image model is available offline)"

# --- fonts ------------------------------------------------------------------------------

_FONT_FILES = {
    "display": ("font_rhd", "RedHatDisplay-Black.ttf"),
    "display-medium": ("font_rhd", "RedHatDisplay-Medium.ttf"),
    "serif": ("font_source_serif_pro", "SourceSerifPro-Black.ttf"),
    "serif-italic": ("font_source_serif_pro", "SourceSerifPro-It.ttf"),
    "serif-semibold": ("font_source_serif_pro", "SourceSerifPro-Semibold.ttf"),
    "thin": ("font_lato", "Lato-Light.ttf"),
    "regular": ("font_lato", "Lato-Regular.ttf"),
    "sans-bold": ("font_lato", "Lato-Bold.ttf"),
    "sans-black": ("font_lato", "Lato-Black.ttf"),
    "condensed": ("font_fjallaone", "FjallaOne-Regular.ttf"),
    "rounded": ("font_fredoka_one", "FredokaOne-Regular.ttf"),
}


@lru_cache(maxsize=16)
def font_path(key: str) -> str:
    package, filename = _FONT_FILES[key]
    module = importlib.import_module(package)
    return str(Path(module.font_directory) / filename)


@lru_cache(maxsize=256)
def _font(key: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(key), max(1, size))


# --- the words ---------------------------------------------------------------------------

_LEAD_FILLER = set(
    """a an the please pls make create design generate draw render give show me i we want need
    would like could can you some my our your for of about with to new nice cool beautiful
    awesome simple poster posters flyer flyers banner banners logo logos image images picture
    pictures graphic graphics illustration art artwork cover card cards thumbnail header
    wallpaper background template advert ad announcement invitation sign social media post
    instagram style styled modern vintage retro minimal minimalist minimalistic bold playful fun
    colorful colourful elegant clean sleek""".split()
)
_BREAKS = set("with featuring feat using where which that showing in on at by from under".split())
_SMALL = set("a an and as at but by for in of on or the to vs via".split())
_MAX_TITLE_WORDS = 6


@dataclass(frozen=True)
class Copy:
    title: str
    subtitle: str


def split_prompt(prompt: str) -> Copy:
    """Title = the key phrase (quoted text, else the first phrase after filler words);
    subtitle = the rest of the prompt, tidied."""
    quoted = re.search(r"[\"“«']([^\"”»']{2,80})[\"”»']", prompt)
    if quoted:
        rest = (prompt[: quoted.start()] + " " + prompt[quoted.end() :]).strip()
        return Copy(_tidy_title(quoted.group(1)), _tidy_subtitle(_drop_lead(rest.split())))
    words = prompt.split()
    lead = _drop_lead(words)
    if not lead:  # nothing but filler: use the prompt as it is
        lead = words
    title: list[str] = []
    for i, word in enumerate(lead):
        bare = word.strip(",.;:!?—-").lower()
        content = sum(1 for t in title if t.lower() not in _SMALL)
        if i and (bare in _BREAKS or content >= _MAX_TITLE_WORDS):
            break
        title.append(word.strip(",.;:!?"))
        if re.search(r"[,.;:!?—]$", word) or word in ("-", "—", "|"):
            break
    return Copy(_tidy_title(" ".join(title)), _tidy_subtitle(lead[len(title) :]))


def _drop_lead(words: list[str]) -> list[str]:
    i = 0
    while i < len(words) and words[i].strip(",.;:!?").lower() in _LEAD_FILLER:
        i += 1
    return words[i:]


def _tidy_title(text: str) -> str:
    text = " ".join(w for w in text.split() if w not in ("-", "—", "|")).strip(" ,.;:")
    if any(c.isupper() for c in text):  # the member chose the casing
        return text
    words = text.split()
    return " ".join(
        w if (i and w in _SMALL) else w[:1].upper() + w[1:] for i, w in enumerate(words)
    )


def _tidy_subtitle(words: list[str], limit: int = 14) -> str:
    words = [w for w in words if w not in ("-", "—", "|")]
    while words and words[0].strip(",.;:").lower() in ("and", "-", "—", ",", "with"):
        words = words[1:]
    if len(words) > limit:
        words = [*words[:limit], "…"]
    text = " ".join(words).strip(" ,;:")
    return text[:1].upper() + text[1:]


# --- colours ----------------------------------------------------------------------------


def _lab(rgb: RGB) -> tuple[float, float, float]:
    from skimage.color import rgb2lab

    lab = rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def colour_families(rgb: RGB) -> set[str]:
    """Everyday colour words that describe `rgb` (overlapping on purpose: to avoid
    "red" is to avoid crimson, maroon and deep pink too)."""
    light, a, b = _lab(rgb)
    chroma = math.hypot(a, b)
    hue = math.degrees(math.atan2(b, a)) % 360
    if chroma < 12:
        return {"black"} if light < 25 else {"white"} if light > 90 else {"gray"}
    fam = set()
    spans = {
        "red": (340, 52),
        "orange": (45, 82),
        "yellow": (75, 112),
        "green": (105, 178),
        "cyan": (170, 248),
        "blue": (240, 308),
        "purple": (295, 345),
    }
    for name, (lo, hi) in spans.items():
        if (lo <= hue < hi) if lo < hi else (hue >= lo or hue < hi):
            fam.add(name)
    if (hue >= 320 or hue < 30) and light >= 55:
        fam.add("pink")
    if 15 <= hue < 95 and light < 50:
        fam.add("brown")
    if light < 25 and chroma < 20:
        fam.add("black")
    return fam


_FAMILY_WORDS = {
    "red": "red",
    "reds": "red",
    "reddish": "red",
    "scarlet": "red",
    "orange": "orange",
    "oranges": "orange",
    "yellow": "yellow",
    "yellows": "yellow",
    "green": "green",
    "greens": "green",
    "blue": "blue",
    "blues": "blue",
    "purple": "purple",
    "purples": "purple",
    "violet": "purple",
    "magenta": "purple",
    "pink": "pink",
    "pinks": "pink",
    "brown": "brown",
    "browns": "brown",
    "teal": "cyan",
    "cyan": "cyan",
    "turquoise": "cyan",
    "black": "black",
    "white": "white",
    "gray": "gray",
    "grey": "gray",
    "greys": "gray",
    "grays": "gray",
}

_ELEMENT_WORDS = {
    "shapes": ("shape", "shapes", "geometric", "geometry", "decoration", "decorations", "ornament"),
    "circles": ("circle", "circles", "round", "dots", "dot", "blob", "blobs", "bubbles", "rings"),
    "gradient": ("gradient", "gradients", "fade", "ombre"),
    "border": ("border", "borders", "frame", "frames", "outline", "outlines", "stroke"),
    "texture": ("noise", "texture", "textures", "grain", "grainy", "paper", "noisy"),
    "lines": ("grid", "grids", "lines", "line", "stripes", "stripe", "rays", "sunburst"),
    "confetti": ("confetti", "sprinkles", "sparkles"),
    "subtitle": ("subtitle", "tagline", "subheading"),
    "shadow": ("shadow", "shadows"),
}


@dataclass(frozen=True)
class Avoid:
    families: frozenset[str] = frozenset()
    colours: tuple[RGB, ...] = ()
    elements: frozenset[str] = frozenset()

    def rejects(self, rgb: RGB) -> bool:
        if colour_families(rgb) & self.families:
            return True
        return any(_delta_e(rgb, c) < 20 for c in self.colours)


def parse_avoid(text: str | None) -> Avoid:
    """Colour words and CSS names, and element words ("shapes", "gradient", ...)."""
    if not text:
        return Avoid()
    words = re.findall(r"[a-z]+", text.lower())
    fams: set[str] = set()
    cols: list[RGB] = []
    elements = {k for k, vs in _ELEMENT_WORDS.items() if any(w in vs for w in words)}
    for w in words:
        if w in _FAMILY_WORDS:
            fams.add(_FAMILY_WORDS[w])
        elif len(w) > 2 and (rgb := parse_color(w)) is not None:
            cols.append(rgb)
            fams |= colour_families(rgb) - {"brown", "pink"}
    if "text" in words and "border" in elements:  # "text border": the outline around type
        elements.add("text-border")
    return Avoid(frozenset(fams), tuple(cols), frozenset(elements))


def _delta_e(c1: RGB, c2: RGB) -> float:
    from skimage.color import deltaE_ciede2000

    return float(deltaE_ciede2000(np.array(_lab(c1)), np.array(_lab(c2))))


def hex_rgb(h: str) -> RGB:
    rgb = parse_color(h)
    assert rgb is not None
    return rgb


def mix(c1: RGB, c2: RGB, t: float) -> RGB:
    return (
        round(c1[0] + (c2[0] - c1[0]) * t),
        round(c1[1] + (c2[1] - c1[1]) * t),
        round(c1[2] + (c2[2] - c1[2]) * t),
    )


def luminance(c: RGB) -> float:
    lin = [(v / 255) / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in c]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(c1: RGB, c2: RGB) -> float:
    l1, l2 = sorted((luminance(c1), luminance(c2)), reverse=True)
    return (l1 + 0.05) / (l2 + 0.05)


# --- palettes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Palette:
    bg: RGB  # background (start of the gradient)
    bg2: RGB  # background (end of the gradient)
    ink: RGB  # title
    sub: RGB  # tagline
    accents: tuple[RGB, ...]  # shapes, badges, highlights; the member's colours first


_P = tuple[str, str, str, str, tuple[str, ...]]
_STYLE_PALETTES: dict[str, list[_P]] = {
    "modern": [
        ("#0f172a", "#312e81", "#ffffff", "#c7d2fe", ("#f472b6", "#22d3ee", "#facc15")),
        ("#0b132b", "#1c3f60", "#ffffff", "#bcd4e6", ("#5bc0be", "#f25f5c", "#ffe066")),
        ("#f5f7fb", "#dbe3f8", "#111827", "#4b5563", ("#4f46e5", "#06b6d4", "#f43f5e")),
        ("#052e2b", "#0f766e", "#ffffff", "#ccfbf1", ("#fbbf24", "#fb7185", "#a7f3d0")),
    ],
    "vintage": [
        ("#efe3c8", "#d9c29a", "#3b2417", "#6b4a32", ("#a4412d", "#c8963e", "#4b6b63")),
        ("#f2e8d5", "#dccaa5", "#2f3b3a", "#55605a", ("#8c3b2e", "#d4a24c", "#54745b")),
        ("#eadbc0", "#d6bf95", "#4a2c2a", "#6f4e40", ("#2f5d62", "#b5523b", "#d9a441")),
    ],
    "minimal": [
        ("#f7f5f0", "#f7f5f0", "#1f1f1f", "#707070", ("#e4572e",)),
        ("#fafafa", "#fafafa", "#141414", "#6b6b6b", ("#2a9d8f",)),
        ("#f3f1ec", "#f3f1ec", "#222222", "#767676", ("#3d5a80",)),
        ("#f6f4ef", "#f6f4ef", "#1c1c1c", "#727272", ("#c9a227",)),
    ],
    "bold": [
        ("#111111", "#111111", "#ffffff", "#111111", ("#ffdd00", "#ff3b30", "#ffffff")),
        ("#1636ff", "#1636ff", "#ffffff", "#111111", ("#ffe600", "#111111", "#ff4fa3")),
        ("#ff3b30", "#ff3b30", "#ffffff", "#111111", ("#111111", "#ffe600", "#ffffff")),
    ],
    "playful": [
        (
            "#fff4d6",
            "#ffe3ec",
            "#2d3047",
            "#2d3047",
            ("#ff6b6b", "#4ecdc4", "#ffd93d", "#6c5ce7", "#ff9ff3"),
        ),
        (
            "#e8f7ff",
            "#fff0f6",
            "#27214d",
            "#27214d",
            ("#ff7aa2", "#ffb347", "#7bd389", "#5d9cec", "#b57edc"),
        ),
        (
            "#f1ffe8",
            "#fff7d6",
            "#1f2d3d",
            "#1f2d3d",
            ("#ff8c42", "#ff3c7e", "#2ec4b6", "#ffbf00", "#7b5cff"),
        ),
    ],
}
_ACCENT_COUNT = {"modern": 3, "vintage": 3, "minimal": 1, "bold": 2, "playful": 4}
# Fallback accents when `avoid` removes the style's own (every hue family is here).
_SPARE = (
    "#2a9d8f",
    "#e9c46a",
    "#3d5a80",
    "#8e7dbe",
    "#f4a261",
    "#56a3a6",
    "#5b8e55",
    "#ff8fab",
    "#e63946",
)


def make_palette(style: str, given: tuple[str, ...], avoid: Avoid, rng: random.Random) -> Palette:
    """The style's palette (variant chosen by the seed) or one built around the given colours,
    with avoided colours replaced."""
    variants = _STYLE_PALETTES[style]
    start = rng.randrange(len(variants))
    order = variants[start:] + variants[:start]
    base = next(
        (v for v in order if not (avoid.rejects(hex_rgb(v[0])) or avoid.rejects(hex_rgb(v[1])))),
        order[0],
    )
    pal = Palette(
        hex_rgb(base[0]),
        hex_rgb(base[1]),
        hex_rgb(base[2]),
        hex_rgb(base[3]),
        tuple(hex_rgb(a) for a in base[4]),
    )
    if given:
        pal = _around_given(style, pal, [hex_rgb(g) for g in given])
    return _legible(_without(pal, avoid, style, rng, len(given)), avoid)


def _around_given(style: str, pal: Palette, given: list[RGB]) -> Palette:
    """Member's colours become the accents; the background is derived from them by style."""
    by_light = sorted(given, key=lambda c: _lab(c)[0])
    darkest, first = by_light[0], given[0]
    if style == "modern":
        bg = darkest if _lab(darkest)[0] < 30 else mix(first, (8, 10, 20), 0.78)
        pal = replace(pal, bg=bg, bg2=mix(bg, given[-1], 0.35))
    elif style == "bold":
        bg = darkest if _lab(darkest)[0] < 35 else (17, 17, 17)
        pal = replace(pal, bg=bg, bg2=bg)
    elif style == "minimal":
        bg = mix((250, 249, 246), first, 0.05)
        pal = replace(pal, bg=bg, bg2=bg)
    elif style == "playful":
        pal = replace(
            pal, bg=mix((255, 255, 255), first, 0.16), bg2=mix((255, 255, 255), given[-1], 0.12)
        )
    accents = [c for c in given if c not in (pal.bg,)] or given
    return replace(pal, accents=tuple(accents))


def _without(pal: Palette, avoid: Avoid, style: str, rng: random.Random, n_given: int) -> Palette:
    """Drop avoided accents (the member's own colours stay) and top up from spares."""
    kept = [c for i, c in enumerate(pal.accents) if i < n_given or not avoid.rejects(c)]
    spares = [hex_rgb(s) for s in _SPARE]
    rng.shuffle(spares)
    for c in spares:
        if len(kept) >= _ACCENT_COUNT[style]:
            break
        if c not in kept and not avoid.rejects(c):
            kept.append(c)
    if not kept:
        kept = [mix(pal.ink, pal.bg, 0.5)]
    bg, bg2 = (_neutral_like(c) if avoid.rejects(c) else c for c in (pal.bg, pal.bg2))
    return replace(pal, bg=bg, bg2=bg2, accents=tuple(kept))


def _neutral_like(c: RGB) -> RGB:
    v = round(255 * luminance(c) ** (1 / 2.2))
    return (v, v, min(255, v + 4))


def _legible(pal: Palette, avoid: Avoid) -> Palette:
    """Title and tagline colours that read on the background and are not avoided."""
    dark, light = (20, 20, 24), (255, 255, 255)
    choices = [
        c for c in (pal.ink, dark, light, (60, 60, 70), (235, 235, 235)) if not avoid.rejects(c)
    ]
    ink = max(
        choices or [dark],
        key=lambda c: (contrast(c, pal.bg) >= 4.5, c == pal.ink, contrast(c, pal.bg)),
    )
    sub = pal.sub if contrast(pal.sub, pal.bg) >= 3.0 and not avoid.rejects(pal.sub) else ink
    return replace(pal, ink=ink, sub=sub)


# --- type -------------------------------------------------------------------------------


@dataclass
class Block:
    """Lines of text set in one font, measured by their ink (not the font's line box)."""

    lines: list[str]
    key: str
    size: int
    leading: float = 1.1
    tracking: float = 0.0  # extra space between letters, in em
    top: float = 0.0  # ink top relative to the first baseline (negative)
    width: float = 0.0
    height: float = 0.0
    widths: list[float] = field(default_factory=list)

    @property
    def font(self) -> ImageFont.FreeTypeFont:
        return _font(self.key, self.size)

    def measure(self) -> Block:
        font, adv = self.font, self.leading * self.size
        tops, bottoms, self.widths = [], [], []
        for i, line in enumerate(self.lines):
            _, y0, _, y1 = font.getbbox(line, anchor="ls")
            self.widths.append(_line_width(font, line, self.tracking * self.size))
            tops.append(y0 + i * adv)
            bottoms.append(y1 + i * adv)
        self.top = min(tops) if tops else 0.0
        self.width = max(self.widths, default=0.0)
        self.height = (max(bottoms) - self.top) if bottoms else 0.0
        return self


def _line_width(font: ImageFont.FreeTypeFont, line: str, track: float) -> float:
    return float(font.getlength(line)) + track * max(0, len(line) - 1)


def fit_text(
    text: str,
    key: str,
    box: tuple[float, float],
    max_lines: int = 4,
    leading: float = 1.1,
    tracking: float = 0.0,
    max_size: float = 1e9,
) -> Block:
    """The largest size (≤ max_size) at which `text`, broken into balanced lines, fits `box`."""
    words = text.split() or [" "]
    ref = 100
    font = _font(key, ref)
    wlen = [_line_width(font, w, tracking * ref) for w in words]
    space = float(font.getlength(" ")) + tracking * ref
    ascent, descent = font.getmetrics()
    best: tuple[float, list[str]] = (0.0, [text])
    for n in range(1, min(max_lines, len(words)) + 1):
        lines, widest = _balanced(words, wlen, space, n)
        tall = (leading * (n - 1) + (ascent + descent) / ref) * ref
        size = min(box[0] / widest * ref, box[1] / tall * ref, max_size)
        if size > best[0] * 1.04:  # fewer lines unless more are clearly bigger
            best = (size, lines)
    block = Block(best[1], key, max(6, int(best[0])), leading, tracking).measure()
    while block.size > 6 and (block.width > box[0] or block.height > box[1]):
        block = Block(block.lines, key, int(block.size * 0.96), leading, tracking).measure()
    return block


def _balanced(words: list[str], wlen: list[float], space: float, n: int) -> tuple[list[str], float]:
    """Split words into n lines minimising the widest line (dynamic programming)."""
    m = len(words)
    pre = np.concatenate([[0.0], np.cumsum(wlen)])

    def width(i: int, j: int) -> float:  # words[i:j] on one line
        return float(pre[j] - pre[i]) + space * (j - i - 1)

    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    cut = [[0] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            for i in range(k - 1, j):
                c = max(cost[k - 1][i], width(i, j))
                if c < cost[k][j]:
                    cost[k][j], cut[k][j] = c, i
    lines, j = [], m
    for k in range(n, 0, -1):
        i = cut[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1], cost[n][m]


def draw_block(
    draw: ImageDraw.ImageDraw,
    block: Block,
    xy: tuple[float, float],
    fill: RGB | tuple[int, int, int, int],
    align: str = "left",
    stroke: int = 0,
    stroke_fill: RGB | None = None,
) -> None:
    """Draw with the block's ink box's top-left at xy (align within block.width)."""
    font, adv = block.font, block.leading * block.size
    for i, line in enumerate(block.lines):
        free = block.width - block.widths[i]
        x = xy[0] + (free / 2 if align == "center" else free if align == "right" else 0)
        y = xy[1] - block.top + i * adv
        if block.tracking:
            track = block.tracking * block.size
            for ch in line:
                draw.text(
                    (x, y),
                    ch,
                    font=font,
                    fill=fill,
                    anchor="ls",
                    stroke_width=stroke,
                    stroke_fill=stroke_fill,
                )
                x += float(font.getlength(ch)) + track
        else:
            draw.text(
                (x, y),
                line,
                font=font,
                fill=fill,
                anchor="ls",
                stroke_width=stroke,
                stroke_fill=stroke_fill,
            )


# --- canvas -----------------------------------------------------------------------------


@dataclass
class Canvas:
    img: Image.Image  # RGBA at SS× the output size
    rng: random.Random
    pal: Palette
    avoid: Avoid
    copy: Copy

    @property
    def w(self) -> int:
        return self.img.size[0]

    @property
    def h(self) -> int:
        return self.img.size[1]

    @property
    def u(self) -> float:
        """Layout unit: 1 % of the geometric mean side (the same for 16:9 and 9:16)."""
        return math.sqrt(self.w * self.h) / 100

    @property
    def portrait(self) -> bool:
        return self.h > self.w * 1.1

    def has(self, element: str) -> bool:
        return element not in self.avoid.elements

    def layer(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        lay = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        return lay, ImageDraw.Draw(lay)

    def put(self, lay: Image.Image, opacity: float = 1.0) -> None:
        if opacity < 1.0:
            alpha = lay.getchannel("A").point(lambda v: round(v * opacity))
            lay.putalpha(alpha)
        self.img.alpha_composite(lay)

    def draw(self) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(self.img)


def linear_gradient(
    size: tuple[int, int], c1: RGB, c2: RGB, angle: float, inset: float = 0.0
) -> Image.Image:
    """c1 → c2 along `angle` (degrees), eased; pure colours reached `inset` from each end."""
    w, h = size
    sw, sh = max(2, w // 4), max(2, h // 4)  # smooth: compute small, enlarge linearly
    a = math.radians(angle)
    x = np.linspace(0, math.cos(a) * w / max(w, h), sw, dtype=np.float32)[None, :]
    y = np.linspace(0, math.sin(a) * h / max(w, h), sh, dtype=np.float32)[:, None]
    t = x + y
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-9)
    t = np.clip((t - inset) / (1 - 2 * inset), 0, 1)
    t = t * t * (3 - 2 * t)  # smoothstep: softer ends
    start = np.array(c1, np.float32)
    rgb = start + t[..., None] * (np.array(c2, np.float32) - start)
    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB").convert("RGBA")


def background(cv: Canvas, angle: float) -> None:
    if cv.has("gradient") and cv.pal.bg != cv.pal.bg2:
        cv.img.paste(linear_gradient(cv.img.size, cv.pal.bg, cv.pal.bg2, angle))
    else:
        cv.img.paste(Image.new("RGBA", cv.img.size, (*cv.pal.bg, 255)))


def blob(
    cx: float, cy: float, r: float, rng: random.Random, wobble: float = 0.18
) -> list[tuple[float, float]]:
    """A smooth organic closed outline: a circle whose radius wanders in a few harmonics."""
    harmonics = [
        (k, rng.uniform(-wobble, wobble) / k**0.6, rng.uniform(0, 2 * math.pi))
        for k in (2, 3, 4, 5)
    ]
    pts = []
    for i in range(120):
        t = 2 * math.pi * i / 120
        rr = r * (1 + sum(a * math.sin(k * t + p) for k, a, p in harmonics))
        pts.append((cx + rr * math.cos(t), cy + rr * math.sin(t)))
    return pts


def rotated_rect(cx: float, cy: float, w: float, h: float, deg: float) -> list[tuple[float, float]]:
    a = math.radians(deg)
    ca, sa = math.cos(a), math.sin(a)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in corners]


def grain(img: Image.Image, rng: random.Random, amount: float, blur: float = 0.0) -> Image.Image:
    """Monochrome film/paper grain, multiplied in (amount = std-dev as a fraction)."""
    gen = np.random.default_rng(rng.randrange(2**32))
    w, h = img.size
    if blur:  # mottling: smooth noise, made small and enlarged with a cubic filter
        small = (max(2, round(w / blur)), max(2, round(h / blur)))
        coarse = gen.normal(0.0, 1.0, (small[1], small[0])).astype(np.float32)
        noise = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
        noise = noise / max(float(noise.std()), 1e-6)
    else:
        noise = gen.normal(0.0, 1.0, (h, w)).astype(np.float32)
    arr = np.asarray(img.convert("RGB"), np.float32) * (1 + amount * noise[..., None])
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").convert("RGBA")


# --- styles -----------------------------------------------------------------------------


def render_modern(cv: Canvas) -> None:
    """Deep gradient, faint grid, overlapping geometric shapes, a strong left-aligned title."""
    rng, u, w, h = cv.rng, cv.u, cv.w, cv.h
    background(cv, rng.uniform(20, 70))
    if cv.has("lines"):
        lay, d = cv.layer()
        step = round(8 * u)
        for x in range(step, w, step):
            d.line((x, 0, x, h), fill=(*cv.pal.ink, 255), width=max(1, round(0.12 * u)))
        for y in range(step, h, step):
            d.line((0, y, w, y), fill=(*cv.pal.ink, 255), width=max(1, round(0.12 * u)))
        cv.put(lay, 0.07)
    text_low = cv.portrait or rng.random() < 0.6
    wide = w > 1.5 * h
    ax = w * (0.74 if wide else 0.77)
    anchor = (w * 0.5, h * 0.27) if cv.portrait else (ax, h * (0.34 if text_low else 0.68))
    if cv.has("shapes"):
        _modern_shapes(cv, anchor)
    m = 7 * u
    box_w = w - 2 * m if cv.portrait else w * (0.6 if wide else 0.55)
    title = fit_text(
        cv.copy.title,
        "display",
        (box_w, h * (0.3 if cv.portrait else 0.42)),
        4,
        1.0,
        max_size=15 * u,
    )
    sub = _subtitle(cv, "display-medium", box_w * 0.92, 3.4 * u, 3, 1.3)
    gap = 3.2 * u
    total = title.height + (gap + sub.height if sub else 0)
    top = h - m - total if text_low else m + 5 * u
    d = cv.draw()
    d.rectangle((m, top - 4.2 * u, m + 11 * u, top - 3 * u), fill=cv.pal.accents[0])
    draw_block(d, title, (m, top), cv.pal.ink)
    if sub:
        draw_block(d, sub, (m, top + title.height + gap), cv.pal.sub)


def _modern_shapes(cv: Canvas, anchor: tuple[float, float]) -> None:
    rng, u, acc = cv.rng, cv.u, cv.pal.accents
    ax, ay = anchor
    r = min(cv.w, cv.h) * (0.3 if cv.portrait else 0.27 if cv.w > 1.5 * cv.h else 0.23)
    fill = Image.new("RGBA", cv.img.size, (0, 0, 0, 0))
    x0, y0 = max(0, int(ax - 1.2 * r)), max(0, int(ay - 1.2 * r))
    x1, y1 = min(cv.w, int(ax + 1.2 * r)), min(cv.h, int(ay + 1.2 * r))
    grad = linear_gradient((x1 - x0, y1 - y0), acc[0], acc[1 % len(acc)], rng.uniform(0, 360), 0.3)
    fill.paste(grad, (x0, y0))
    mask = Image.new("L", cv.img.size, 0)
    md = ImageDraw.Draw(mask)
    ring = acc[2 % len(acc)]
    lay, d = cv.layer()
    if cv.has("circles"):
        md.ellipse((ax - r, ay - r, ax + r, ay + r), fill=255)
        dx, dy = rng.choice([(-0.55, 0.45), (0.5, 0.5), (-0.5, -0.5)])
        rr = r * 0.62
        d.ellipse(
            (ax + dx * r - rr, ay + dy * r - rr, ax + dx * r + rr, ay + dy * r + rr),
            outline=(*ring, 255),
            width=round(1.1 * u),
        )
    else:
        md.polygon(rotated_rect(ax, ay, 1.6 * r, 1.6 * r, 45 + rng.uniform(-8, 8)), fill=255)
        d.polygon(
            rotated_rect(ax - 0.6 * r, ay + 0.5 * r, r, r, 20),
            outline=(*ring, 255),
            width=round(1.1 * u),
        )
    d.polygon(
        rotated_rect(ax + 0.7 * r, ay - 0.75 * r, 0.55 * r, 0.55 * r, rng.uniform(10, 35)),
        outline=(*acc[0], 255),
        width=round(0.6 * u),
    )
    _dot_grid(cv, d, anchor, r)
    cv.img.paste(fill, (0, 0), mask)
    cv.put(lay)


def _dot_grid(cv: Canvas, d: ImageDraw.ImageDraw, anchor: tuple[float, float], r: float) -> None:
    """A 5×5 grid of small dots (squares when circles are avoided) beside the main shape."""
    (ax, ay), u = anchor, cv.u
    gx = min(ax + 0.55 * r, cv.w - 14 * u)
    gy = min(ay + 0.6 * r, cv.h - 14 * u) if ay < cv.h / 2 else max(ay - 1.1 * r, 3 * u)
    shape = d.ellipse if cv.has("circles") else d.rectangle
    for i in range(5):
        for j in range(5):
            x, y, s = gx + i * 2.6 * u, gy + j * 2.6 * u, 0.45 * u
            shape((x - s, y - s, x + s, y + s), fill=(*cv.pal.ink, 150))


def _subtitle(
    cv: Canvas,
    key: str,
    width: float,
    size: float,
    lines: int,
    leading: float,
    tracking: float = 0.0,
    upper: bool = False,
) -> Block | None:
    text = cv.copy.subtitle.upper() if upper else cv.copy.subtitle
    if not text or not cv.has("subtitle"):
        return None
    return fit_text(
        text,
        key,
        (width, size * (leading * (lines - 1) + 1.3)),
        lines,
        leading,
        tracking,
        max_size=size,
    )


def render_vintage(cv: Canvas) -> None:
    """Aged paper, sunburst, double frame, an emblem, a serif title between ornaments, a ribbon."""
    u, w, h, pal = cv.u, cv.w, cv.h, cv.pal
    _paper(cv)
    if cv.has("lines") and cv.has("shapes"):
        rays = 40 if cv.rng.random() < 0.5 else 28
        _sunburst(cv, (w / 2, h / 2), mix(pal.bg, pal.bg2, 0.55), rays)
    frame = 4.5 * u
    if cv.has("border"):
        d = cv.draw()
        d.rectangle((frame, frame, w - frame, h - frame), outline=pal.ink, width=round(0.9 * u))
        f2 = frame + 1.6 * u
        d.rectangle((f2, f2, w - f2, h - f2), outline=pal.ink, width=max(1, round(0.3 * u)))
    _vintage_stack(cv, w - 2 * (frame + (5 if cv.portrait else 8) * u))


def _vintage_stack(cv: Canvas, inner: float) -> None:
    """Emblem, ornament, title, ornament, ribbon (or italic tagline), centred as a group."""
    u, cx, pal = cv.u, cv.w / 2, cv.pal
    lines = 4 if cv.portrait else 3
    title = fit_text(cv.copy.title, "serif", (inner, cv.h * 0.3), lines, 1.0, 0.04, 13 * u)
    ribbon = cv.has("shapes") and len(cv.copy.subtitle) <= 42
    sub_w, sub_size = (inner * 0.62, 4.2 * u) if ribbon else (inner * 0.85, 3.4 * u)
    sub = _subtitle(cv, "serif-italic", sub_w, sub_size, 1 if ribbon else 3, 1.25)
    emblem_r = 6.5 * u if cv.has("shapes") else 0.0
    sub_h = (sub.height + (4 * u if ribbon else 0)) if sub else 0.0
    gap = 3.5 * u
    y = cv.h / 2 - (2 * emblem_r + 4 * u + title.height + sub_h + 4 * gap) / 2
    if emblem_r:
        _emblem(cv, (cx, y + emblem_r), emblem_r)
    y += 2 * emblem_r + gap
    _ornament(cv, cx, y + u)
    y += 2 * u + gap
    draw_block(cv.draw(), title, (cx - title.width / 2, y), pal.ink, "center")
    y += title.height + gap
    _ornament(cv, cx, y + u)
    y += 2 * u + gap
    if sub and ribbon:
        _ribbon(cv, sub, (cx, y + sub_h / 2))
    elif sub:
        draw_block(cv.draw(), sub, (cx - sub.width / 2, y), pal.sub, "center")


def _paper(cv: Canvas) -> None:
    """Cream stock: mottled tone, darker edges (a vignette) when gradients are allowed."""
    base = Image.new("RGBA", cv.img.size, (*cv.pal.bg, 255))
    if cv.has("texture"):
        base = grain(base, cv.rng, 0.025, blur=9 * cv.u)
    if cv.has("gradient"):
        w, h = cv.img.size
        yy, xx = np.mgrid[0 : h // 8, 0 : w // 8].astype(np.float32)
        r = np.hypot((xx - w / 16) / (w / 16), (yy - h / 16) / (h / 16)) / math.sqrt(2)
        t = np.clip((r - 0.45) / 0.55, 0, 1) ** 1.6 * 0.85
        t = cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR)
        edge = np.array(cv.pal.bg2, np.float32)
        arr = np.asarray(base.convert("RGB"), np.float32)
        arr = arr * (1 - t[..., None]) + edge * t[..., None]
        base = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").convert("RGBA")
    cv.img.paste(base)


def _sunburst(cv: Canvas, centre: tuple[float, float], colour: RGB, rays: int) -> None:
    lay, d = cv.layer()
    reach = math.hypot(cv.w, cv.h)
    cx, cy = centre
    for i in range(0, rays, 2):
        a0, a1 = 2 * math.pi * i / rays, 2 * math.pi * (i + 1) / rays
        d.polygon(
            [
                (cx, cy),
                (cx + reach * math.cos(a0), cy + reach * math.sin(a0)),
                (cx + reach * math.cos(a1), cy + reach * math.sin(a1)),
            ],
            fill=(*colour, 255),
        )
    cv.put(lay, 0.35)


def _emblem(cv: Canvas, centre: tuple[float, float], r: float) -> None:
    d, (cx, cy), pal, u = cv.draw(), centre, cv.pal, cv.u
    badge, star = pal.accents[1 % len(pal.accents)], pal.bg
    if cv.has("circles"):
        d.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=badge, outline=pal.ink, width=round(0.5 * u)
        )
        d.ellipse(
            (cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8),
            outline=star,
            width=max(1, round(0.25 * u)),
        )
    else:
        d.polygon(
            rotated_rect(cx, cy, 1.5 * r, 1.5 * r, 45),
            fill=badge,
            outline=pal.ink,
            width=round(0.5 * u),
        )
    pts = []
    for k in range(10):
        rr = r * (0.5 if k % 2 == 0 else 0.21)
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    d.polygon(pts, fill=star)


def _ornament(cv: Canvas, cx: float, y: float) -> None:
    """A rule — diamond — rule flourish."""
    d, u, col = cv.draw(), cv.u, cv.pal.accents[2 % len(cv.pal.accents)]
    if cv.has("lines"):
        d.line((cx - 20 * u, y, cx - 3 * u, y), fill=col, width=max(1, round(0.35 * u)))
        d.line((cx + 3 * u, y, cx + 20 * u, y), fill=col, width=max(1, round(0.35 * u)))
    d.polygon(rotated_rect(cx, y, 1.6 * u, 1.6 * u, 45), fill=col)


def _ribbon(cv: Canvas, sub: Block, centre: tuple[float, float]) -> None:
    d, u, (cx, cy), pal = cv.draw(), cv.u, centre, cv.pal
    half_w, half_h = sub.width / 2 + 5 * u, sub.height / 2 + 2 * u
    tail, fold = 5 * u, mix(pal.accents[0], (0, 0, 0), 0.3)
    for side in (-1, 1):
        x_in, x_out = cx + side * (half_w - 2 * u), cx + side * (half_w + tail)
        y0 = cy - half_h + 1.6 * u
        y1 = cy + half_h + 1.6 * u
        d.polygon(
            [
                (x_in, y0),
                (x_out, y0),
                (x_out - side * 2.4 * u, (y0 + y1) / 2),
                (x_out, y1),
                (x_in, y1),
            ],
            fill=fold,
        )
    d.rectangle((cx - half_w, cy - half_h, cx + half_w, cy + half_h), fill=pal.accents[0])
    ink = max(((250, 243, 228), pal.ink), key=lambda c: contrast(c, pal.accents[0]))
    draw_block(d, sub, (cx - sub.width / 2, cy - sub.height / 2), ink, "center")


def render_minimal(cv: Canvas) -> None:
    """Flat light ground, lots of air, a light sans title, one accent, a tracked small-caps line."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, 90)
    m = 10 * u
    box_w = (w - 2 * m) * (0.95 if cv.portrait else 0.62)
    title = fit_text(
        cv.copy.title, "thin", (box_w, h * 0.28), 4 if cv.portrait else 3, 1.12, max_size=8.5 * u
    )
    y = h * rng.choice([0.36, 0.42]) if not cv.portrait else h * 0.4
    d = cv.draw()
    accent = pal.accents[0]
    if cv.has("circles") and cv.has("shapes"):
        r = 1.6 * u
        d.ellipse((m, y - 8 * u - r, m + 2 * r, y - 8 * u + r), fill=accent)
    else:
        d.rectangle((m, y - 8.3 * u, m + 7 * u, y - 7.7 * u), fill=accent)
    draw_block(d, title, (m, y), pal.ink)
    sub = _subtitle(cv, "regular", box_w, 1.9 * u, 2, 1.6, 0.22, upper=True)
    if sub:
        sy = h - m - sub.height
        if cv.has("lines"):
            d.line(
                (m, sy - 3.5 * u, m + 5 * u, sy - 3.5 * u),
                fill=pal.sub,
                width=max(1, round(0.2 * u)),
            )
        draw_block(d, sub, (m, sy), pal.sub)
    for i, c in enumerate(pal.accents[1:5]):  # the member's other colours, as quiet chips
        x = w - m - (i + 1) * 4.2 * u
        d.rectangle((x, h - m - 3 * u, x + 3 * u, h - m), fill=c)


def render_bold(cv: Canvas) -> None:
    """High contrast: a diagonal block, hazard stripes, huge condensed capitals, a label."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, 90)
    m = 6 * u
    left, right = (0.7, 0.52) if rng.random() < 0.5 else (0.54, 0.72)
    if cv.portrait:
        left, right = left + 0.06, right + 0.06
    block_top = min(left, right) * h
    d = cv.draw()
    if cv.has("shapes"):
        d.polygon([(0, left * h), (w, right * h), (w, h), (0, h)], fill=pal.accents[0])
    if cv.has("lines"):
        _stripes(cv, (m, m, m + 26 * u, m + 3.2 * u), pal.accents[1 % len(pal.accents)])
    top = m + (7 * u if cv.has("lines") else 0)
    title = fit_text(
        cv.copy.title, "condensed", (w - 2 * m, block_top - top - 3 * u), 4, 0.92, 0.01
    )
    draw_block(d, title, (m, top), pal.ink)
    sub = _subtitle(cv, "sans-black", w * 0.7 - 2 * m, 3.2 * u, 2, 1.2, 0.05, upper=True)
    if sub:
        pad = 1.8 * u
        y0 = max(left, right) * h + 5 * u
        y0 = min(y0, h - m - sub.height - 2 * pad)
        plate = pal.bg if cv.has("shapes") else pal.accents[0]
        text = max((pal.ink, (17, 17, 17), (255, 255, 255)), key=lambda c: contrast(c, plate))
        d.rectangle((m, y0, m + sub.width + 2 * pad, y0 + sub.height + 2 * pad), fill=plate)
        draw_block(d, sub, (m + pad, y0 + pad), text)


def _stripes(cv: Canvas, box: tuple[float, float, float, float], colour: RGB) -> None:
    x0, y0, x1, y1 = box
    d, step = cv.draw(), (y1 - y0) * 1.1
    x = x0
    while x + step / 2 < x1:
        d.polygon([(x, y1), (x + step / 2, y0), (x + step, y0), (x + step / 2, y1)], fill=colour)
        x += step


def render_playful(cv: Canvas) -> None:
    """Bright ground, rounded blobs and confetti, a chunky rounded title with a hard shadow."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, rng.uniform(60, 120))
    zone = (w * 0.14, h * 0.3, w * 0.86, h * 0.7)
    if cv.has("shapes"):
        _blobs(cv)
    if cv.has("confetti") and cv.has("shapes"):
        _confetti(cv, zone)
    side = (8 if cv.portrait else 13) * u
    title = fit_text(
        cv.copy.title,
        "rounded",
        (w - 2 * side, h * 0.34),
        5 if cv.portrait else 3,
        1.0,
        max_size=15 * u,
    )
    sub = _subtitle(cv, "sans-bold", w * 0.62, 3.2 * u, 2, 1.2)
    gap = 5 * u
    total = title.height + (gap + sub.height + 3 * u if sub else 0)
    y = h / 2 - total / 2
    d = cv.draw()
    x = w / 2 - title.width / 2
    if cv.has("shadow"):
        shade = pal.accents[3 % len(pal.accents)]
        off = 0.9 * u
        draw_block(d, title, (x + off, y + off), shade, "center")
    outline = round(0.5 * u) if cv.has("text-border") and cv.has("border") else 0
    draw_block(d, title, (x, y), pal.ink, "center", stroke=outline, stroke_fill=(255, 255, 255))
    if sub:
        _pill(cv, sub, y + title.height + gap)


def _pill(cv: Canvas, sub: Block, top: float) -> None:
    """The tagline on a white rounded pill, centred."""
    d, u, cx = cv.draw(), cv.u, cv.w / 2
    pad_x, pad_y = 3.2 * u, 1.6 * u
    box = (
        cx - sub.width / 2 - pad_x,
        top,
        cx + sub.width / 2 + pad_x,
        top + sub.height + 2 * pad_y,
    )
    d.rounded_rectangle(box, radius=(sub.height + 2 * pad_y) / 2, fill=(255, 255, 255))
    draw_block(d, sub, (cx - sub.width / 2, top + pad_y), cv.pal.sub, "center")


def _blobs(cv: Canvas) -> None:
    rng, u, w, h, acc = cv.rng, cv.u, cv.w, cv.h, cv.pal.accents
    spots = [(0.05, 0.08), (0.95, 0.12), (0.1, 0.92), (0.92, 0.9), (0.5, -0.02), (0.5, 1.03)]
    rng.shuffle(spots)
    lay, d = cv.layer()
    for i, (fx, fy) in enumerate(spots[:5]):
        r = rng.uniform(14, 24) * u
        colour = (*acc[i % len(acc)], 255)
        x, y = fx * w + rng.uniform(-4, 4) * u, fy * h + rng.uniform(-4, 4) * u
        if cv.has("circles"):
            d.polygon(blob(x, y, r, rng), fill=colour)
        else:
            d.polygon(rotated_rect(x, y, 1.6 * r, 1.6 * r, rng.uniform(0, 90)), fill=colour)
    cv.put(lay)


def _confetti(cv: Canvas, zone: tuple[float, float, float, float]) -> None:
    rng, u, acc = cv.rng, cv.u, cv.pal.accents
    d = cv.draw()
    placed = 0
    while placed < 46:
        x, y = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        if zone[0] < x < zone[2] and zone[1] < y < zone[3]:
            continue
        placed += 1
        colour = acc[rng.randrange(len(acc))]
        kind = rng.choice(
            ["rect", "dot", "squiggle"] if cv.has("circles") else ["rect", "squiggle"]
        )
        if kind == "rect":
            d.polygon(rotated_rect(x, y, 2.6 * u, 1.1 * u, rng.uniform(0, 180)), fill=colour)
        elif kind == "dot":
            r = rng.uniform(0.6, 1.1) * u
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            a = rng.uniform(0, math.pi)
            pts = [
                (
                    x + t * u * math.cos(a) - math.sin(t * 1.6) * u * math.sin(a),
                    y + t * u * math.sin(a) + math.sin(t * 1.6) * u * math.cos(a),
                )
                for t in np.linspace(-2.2, 2.2, 14)
            ]
            d.line(pts, fill=colour, width=round(0.55 * u), joint="curve")


# --- entry points -----------------------------------------------------------------------

_CASE = {"bold": str.upper, "vintage": str.upper}


def render_design(params: DesignParams) -> tuple[Image.Image, Copy]:
    """The finished RGB design for these parameters, and the words it shows."""
    size = SIZES[params.aspect]
    rng = random.Random(f"luneo-design:{params.seed}:{params.style}:{params.prompt}")
    avoid = parse_avoid(params.avoid)
    copy = split_prompt(params.prompt)
    pal = make_palette(params.style, params.colors, avoid, rng)
    shown = Copy(_CASE.get(params.style, str)(copy.title), copy.subtitle)
    cv = Canvas(
        Image.new("RGBA", (size[0] * SS, size[1] * SS), (*pal.bg, 255)), rng, pal, avoid, shown
    )
    _RENDERERS[params.style](cv)
    out = cv.img.reduce(SS).convert("RGB")  # 2×2 box filter: exact antialiasing
    if params.style == "vintage" and cv.has("texture"):
        out = grain(out, rng, 0.035).convert("RGB")
    return out, copy


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    params = req.params
    assert isinstance(params, DesignParams)
    req.progress(0.1, "laying out the design")
    img, copy = render_design(params)
    req.progress(0.9, "encoding")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    return ProviderResult(
        files=[OutputFile("design.png", buf.getvalue(), "image/png")],
        data={
            "prompt_used": params.prompt,
            "width": img.size[0],
            "height": img.size[1],
            "style": params.style,
            "title": copy.title,
            "subtitle": copy.subtitle,
        },
        note=NOTE,
        model="typographic template renderer",
    )


_RENDERERS = {
    "modern": render_modern,
    "vintage": render_vintage,
    "minimal": render_minimal,
    "bold": render_bold,
    "playful": render_playful,
}
