"""The design fonts, loaded from their PyPI packages and cached by size.

Each font ships as its own package (SIL OFL 1.1), so the renderer needs no font
files of its own and works the same on every machine.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

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
    """The file for a font role ("display", "serif", ...), found in its package."""
    package, filename = _FONT_FILES[key]
    module = importlib.import_module(package)
    return str(Path(module.font_directory) / filename)


@lru_cache(maxsize=256)
def load_font(key: str, size: int) -> ImageFont.FreeTypeFont:
    """A font role at a pixel size; cached, as fitting asks for the same sizes often."""
    return ImageFont.truetype(font_path(key), max(1, size))
