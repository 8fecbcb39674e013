"""`avoid`: the colours and elements a member does not want in the design.

Free text ("no red, no gradient, avoid text border") becomes colour families,
exact colours and element names that the palette and every style consult.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.colors import parse_color
from core.providers.local.design.colours import RGB, colour_families, delta_e

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
    """What the member ruled out: colour families, colours near given ones, elements."""

    families: frozenset[str] = frozenset()
    colours: tuple[RGB, ...] = ()
    elements: frozenset[str] = frozenset()

    def rejects(self, rgb: RGB) -> bool:
        """Whether `rgb` is in an avoided family or looks like an avoided colour."""
        if colour_families(rgb) & self.families:
            return True
        return any(delta_e(rgb, c) < 20 for c in self.colours)


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
