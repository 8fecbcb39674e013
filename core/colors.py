"""Colour parsing and naming.

The named-colour table is CSS Color Module Level 4's (the X11-derived list that
Pillow ships as `ImageColor.colormap`); names are chosen by nearest CIEDE2000.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from PIL import ImageColor

if TYPE_CHECKING:  # NumPy loads with the palette, not with every module that parses a colour
    import numpy as np

_HEX_RE = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_color(text: str) -> tuple[int, int, int] | None:
    """`#abc`, `#aabbcc`, `aabbcc` or a CSS colour name -> RGB; None if not a colour."""
    s = text.strip().lower()
    m = _HEX_RE.match(s)
    if m:
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    name = s.replace(" ", "")
    if name in ImageColor.colormap:
        rgb = ImageColor.getrgb(name)
        return int(rgb[0]), int(rgb[1]), int(rgb[2])
    return None


def hex_of(rgb: tuple[int, int, int]) -> str:
    """An `(r, g, b)` triple of 0..255 ints as "#rrggbb" (lower case)."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@lru_cache(maxsize=1)
def _named_table() -> tuple[list[str], np.ndarray]:
    import numpy as np

    from core.lab import rgb2lab

    names: list[str] = []
    rgbs: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for name in sorted(ImageColor.colormap):
        rgb = ImageColor.getrgb(name)[:3]
        key = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
        if key in seen:  # gray/grey, aqua/cyan...: keep the first name alphabetically
            continue
        seen.add(key)
        names.append(name)
        rgbs.append(key)
    lab = rgb2lab(np.array(rgbs, dtype=np.float64)[None, :, :] / 255.0)[0]
    return names, lab
