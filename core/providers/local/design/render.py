"""The entry points: parameters in, a finished design (and the provider result) out.

Drawing happens at SS× the output size and is reduced once, which antialiases
shapes and type alike; the random source is seeded from the request, so the
same request gives the same picture. The layout record (text boxes, shape
boxes, the title's cap height, characters no font has) comes back with the
picture, for the result's note and for the checks in tests and benchmarks.
"""

from __future__ import annotations

import io
import random
import unicodedata
from dataclasses import dataclass

from PIL import Image

from core.config import Settings
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.providers.local.design.avoid import parse_avoid
from core.providers.local.design.canvas import Box, Canvas, grain
from core.providers.local.design.palette import make_palette
from core.providers.local.design.styles import RENDERERS
from core.providers.local.design.words import Copy, split_prompt
from core.tools.base import DesignParams

SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 864),
}
SS = 2  # supersampling factor
# The title's cap height, as a fraction of the canvas height, for short titles (at most
# 24 characters): at least this at each aspect (portrait is limited by its width), and
# at least MIN_ANY_CAP for any title; benchmarks/design.py checks both.
MIN_TITLE_CAP = {"1:1": 0.06, "16:9": 0.06, "4:3": 0.06, "9:16": 0.045}
MIN_ANY_CAP = 0.025
NOTE = "offline template renderer (no text-to-image model is available offline)"
_CASE = {"bold": str.upper, "vintage": str.upper}


@dataclass(frozen=True)
class TextBox:
    """One block of type as drawn: its role, ink box (output pixels), lines and runs."""

    role: str  # title, subtitle, details
    box: Box
    lines: tuple[str, ...]
    runs: tuple[tuple[str, str, int], ...]  # (text, font file, face index) per run
    cap: float  # cap height of the block's own face, output pixels


@dataclass(frozen=True)
class Layout:
    """What the renderer placed where, in output pixels."""

    copy: Copy
    texts: tuple[TextBox, ...]
    shapes: tuple[Box, ...]
    dropped: tuple[str, ...]  # characters no font has, left out

    @property
    def title_cap(self) -> float:
        """The title's cap height in px (0 when there is no title)."""
        return max((t.cap for t in self.texts if t.role == "title"), default=0.0)


def render_design(params: DesignParams) -> tuple[Image.Image, Layout]:
    """The finished RGB design for these parameters, and its layout record."""
    size = SIZES[params.aspect]
    prompt, never_drawn = _drawable(params.prompt)
    # seeded so a design is reproducible; randomness here is taste, not security
    rng = random.Random(f"luneo-design:{params.seed}:{params.style}:{prompt}")  # noqa: S311
    avoid = parse_avoid(params.avoid)
    copy = split_prompt(prompt)
    pal = make_palette(params.style, params.colors, avoid, rng)
    shown = Copy(_CASE.get(params.style, str)(copy.title), copy.subtitle, copy.details)
    cv = Canvas(
        Image.new("RGBA", (size[0] * SS, size[1] * SS), (*pal.bg, 255)), rng, pal, avoid, shown
    )
    RENDERERS[params.style](cv)
    out = cv.img.reduce(SS).convert("RGB")  # 2×2 box filter: exact antialiasing
    if params.style == "vintage" and cv.has("texture"):
        out = grain(out, rng, 0.035).convert("RGB")
    return out, _layout(cv, copy, never_drawn)


def _drawable(prompt: str) -> tuple[str, tuple[str, ...]]:
    """The prompt without characters no font can draw (private use, unassigned, controls),
    which are left out with a note, so the design is exactly the one without them; and
    those characters."""
    gone = tuple(c for c in prompt if unicodedata.category(c) in ("Co", "Cn", "Cs", "Cc"))
    if not gone:
        return prompt, ()
    kept = "".join(c for c in prompt if c not in gone)
    return " ".join(kept.split()) or prompt, gone


def _layout(cv: Canvas, copy: Copy, never_drawn: tuple[str, ...]) -> Layout:
    def scaled(b: Box) -> Box:
        return (b[0] / SS, b[1] / SS, b[2] / SS, b[3] / SS)

    texts: list[TextBox] = []
    dropped: list[str] = list(never_drawn)
    for role, box, block in cv.texts:
        runs = tuple((r.text, r.face.path, r.face.index) for ln in block.set_lines for r in ln.runs)
        texts.append(TextBox(role, scaled(box), tuple(block.lines), runs, block.cap / SS))
        dropped += block.dropped
    return Layout(copy, tuple(texts), tuple(scaled(b) for b in cv.shapes), tuple(dropped))


def dropped_note(dropped: tuple[str, ...]) -> str:
    """The note for characters no font has ("left out: U+E000")."""
    if not dropped:
        return ""
    codes = ", ".join(dict.fromkeys(f"U+{ord(c[0]):04X}" for c in dropped))
    n = len(dropped)
    return f"{n} character{'s' if n > 1 else ''} no font here can draw left out ({codes})"


def encode_png(img: Image.Image) -> bytes:
    """PNG at zlib level 3: for grainy designs a third of the time of the default level,
    and smaller too."""
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """The local provider's entry point: the design as a PNG, with the words it shows."""
    params = req.params
    if not isinstance(params, DesignParams):
        raise TypeError(f"expected DesignParams, got {type(params).__name__}")
    req.progress(0.1, "laying out the design")
    img, layout = render_design(params)
    req.progress(0.9, "encoding")
    data = encode_png(img)
    missing = dropped_note(layout.dropped)
    return ProviderResult(
        files=[OutputFile("design.png", data, "image/png")],
        data={
            "prompt_used": params.prompt,
            "width": img.size[0],
            "height": img.size[1],
            "style": params.style,
            "title": layout.copy.title,
            "subtitle": layout.copy.subtitle,
            "details": layout.copy.details,
            "dropped": [f"U+{ord(c[0]):04X}" for c in layout.dropped],
        },
        note=f"{NOTE}; {missing}" if missing else NOTE,
        model="typographic template renderer",
    )
