"""Local design: the offline typographic renderer.

No text-to-image weights can be had offline (RESEARCH.md §A), so this provider
renders a real typographic design: the prompt's key phrase as the title, the
rest as a tagline, laid out and decorated by style, in the style's palette or
the member's colours, honouring `avoid` for colours and elements. The same
seed gives the same picture; another seed rearranges layout and palette.

Sizes (1024-class, multiples of 64, close to what image models return):
1:1 1024×1024, 16:9 1344×768, 9:16 768×1344, 4:3 1152×864. Drawing happens at
2× and is downsampled once, which antialiases shapes and type alike.

Display fonts ship as PyPI packages (SIL OFL 1.1): Red Hat Display (`font-rhd`,
modern), Source Serif Pro (`font-source-serif-pro`, vintage), Lato (`font-lato`,
minimal and labels), Fjalla One (`font-fjallaone`, bold), Fredoka One
(`font-fredoka-one`, playful). Every other script and colour emoji come from
Debian's Noto fonts through a per-character fallback chain; a character no font
has is left out with a note, never drawn as a box.

The package, in the order a design is made: `words` (prompt -> title, tagline,
details), `avoid` and `palette` (colours, via `colours`), `fonts`, `script` and
`text` (fallback fonts, bidi, line breaking, fitting and setting type), `canvas`
and `shapes` (grounds, textures, outlines, and the record of text and shape
boxes), `styles` (one module per style) and `render` (the entry points).
"""

from __future__ import annotations

from core.providers.local.design.avoid import Avoid, parse_avoid
from core.providers.local.design.canvas import Canvas, background, grain, linear_gradient
from core.providers.local.design.colours import (
    RGB,
    colour_families,
    contrast,
    hex_rgb,
    luminance,
    mix,
)
from core.providers.local.design.fonts import font_path
from core.providers.local.design.palette import Palette, make_palette
from core.providers.local.design.render import NOTE, SIZES, SS, Layout, render_design, run
from core.providers.local.design.shapes import blob, rotated_rect
from core.providers.local.design.styles import (
    render_bold,
    render_minimal,
    render_modern,
    render_playful,
    render_vintage,
)
from core.providers.local.design.text import Block, draw_block, fit_text
from core.providers.local.design.words import Copy, split_prompt

__all__ = [
    "NOTE",
    "RGB",
    "SIZES",
    "SS",
    "Avoid",
    "Block",
    "Canvas",
    "Copy",
    "Layout",
    "Palette",
    "background",
    "blob",
    "colour_families",
    "contrast",
    "draw_block",
    "fit_text",
    "font_path",
    "grain",
    "hex_rgb",
    "linear_gradient",
    "luminance",
    "make_palette",
    "mix",
    "parse_avoid",
    "render_bold",
    "render_design",
    "render_minimal",
    "render_modern",
    "render_playful",
    "render_vintage",
    "rotated_rect",
    "run",
    "split_prompt",
]
