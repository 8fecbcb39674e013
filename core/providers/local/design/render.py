"""The entry points: parameters in, a finished design (and the provider result) out.

Drawing happens at SS× the output size and is reduced once, which antialiases
shapes and type alike; the random source is seeded from the request, so the
same request gives the same picture.
"""

from __future__ import annotations

import io
import random

from PIL import Image

from core.config import Settings
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.providers.local.design.avoid import parse_avoid
from core.providers.local.design.canvas import Canvas, grain
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
NOTE = "offline template renderer (no text-to-image model is available offline)"
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
    RENDERERS[params.style](cv)
    out = cv.img.reduce(SS).convert("RGB")  # 2×2 box filter: exact antialiasing
    if params.style == "vintage" and cv.has("texture"):
        out = grain(out, rng, 0.035).convert("RGB")
    return out, copy


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """The local provider's entry point: the design as a PNG, with the words it shows."""
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
