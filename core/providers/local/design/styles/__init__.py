"""The five design styles, one module each, and the table that picks one by name.

Every style is a function drawing onto a `Canvas`; they share its layout unit,
palette and `avoid`, and differ only in composition and type.
"""

from __future__ import annotations

from collections.abc import Callable

from core.providers.local.design.canvas import Canvas
from core.providers.local.design.styles.bold import render_bold
from core.providers.local.design.styles.minimal import render_minimal
from core.providers.local.design.styles.modern import render_modern
from core.providers.local.design.styles.playful import render_playful
from core.providers.local.design.styles.vintage import render_vintage

RENDERERS: dict[str, Callable[[Canvas], None]] = {
    "modern": render_modern,
    "vintage": render_vintage,
    "minimal": render_minimal,
    "bold": render_bold,
    "playful": render_playful,
}

__all__ = [
    "RENDERERS",
    "render_bold",
    "render_minimal",
    "render_modern",
    "render_playful",
    "render_vintage",
]
