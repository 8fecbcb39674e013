"""Colour arithmetic shared by the palettes, `avoid` and the styles.

Perceptual comparisons (families, distance) work in CIELAB; legibility uses the
WCAG contrast ratio, the measure readers' eyes are known to follow.
"""

from __future__ import annotations

import math

import numpy as np

from core.colors import parse_color

RGB = tuple[int, int, int]


def to_lab(rgb: RGB) -> tuple[float, float, float]:
    """CIELAB, where lightness, hue angles and distances match what people see."""
    from core.lab import rgb2lab

    lab = rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def colour_families(rgb: RGB) -> set[str]:
    """Everyday colour words that describe `rgb` (overlapping on purpose: to avoid
    "red" is to avoid crimson, maroon and deep pink too)."""
    light, a, b = to_lab(rgb)
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


def delta_e(c1: RGB, c2: RGB) -> float:
    """Perceived difference (CIEDE2000), to avoid colours close to a named one."""
    from core.lab import deltaE_ciede2000

    return float(deltaE_ciede2000(np.array(to_lab(c1)), np.array(to_lab(c2))))


def hex_rgb(h: str) -> RGB:
    """A colour known to parse (palette tables, validated parameters).

    Raises:
        ValueError: `h` is not a colour (a bug in a table, not user input).
    """
    rgb = parse_color(h)
    if rgb is None:
        raise ValueError(f"not a colour: {h!r}")
    return rgb


def mix(c1: RGB, c2: RGB, t: float) -> RGB:
    """Linear blend: t=0 gives c1, t=1 gives c2."""
    return (
        round(c1[0] + (c2[0] - c1[0]) * t),
        round(c1[1] + (c2[1] - c1[1]) * t),
        round(c1[2] + (c2[2] - c1[2]) * t),
    )


def luminance(c: RGB) -> float:
    """WCAG relative luminance, the basis of `contrast`."""
    lin = [(v / 255) / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in c]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(c1: RGB, c2: RGB) -> float:
    """WCAG contrast ratio, 1 to 21; text reads well from 4.5."""
    l1, l2 = sorted((luminance(c1), luminance(c2)), reverse=True)
    return (l1 + 0.05) / (l2 + 0.05)
