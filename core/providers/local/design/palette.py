"""The design's palette: the style's own colours or the member's, minus `avoid`.

The seed picks a variant, so another seed gives another colourway; whatever the
inputs, the title and tagline end up legible on the background.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from core.providers.local.design.avoid import Avoid
from core.providers.local.design.colours import RGB, contrast, hex_rgb, luminance, mix, to_lab


@dataclass(frozen=True)
class Palette:
    """The colours of one design, by role."""

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
    """The member's colours lead: the ground is one of them or its tint or shade, the
    accents are them (with tints and shades for variety), and nothing else is added."""
    white, black = (255, 255, 255), (0, 0, 0)
    by_light = sorted(given, key=lambda c: to_lab(c)[0])
    darkest, lightest, first, last = by_light[0], by_light[-1], given[0], given[-1]
    if style == "modern":
        bg = darkest if to_lab(darkest)[0] < 30 else mix(first, black, 0.72)
        bg2 = mix(last if last != bg else first, black, 0.5 if to_lab(last)[0] < 60 else 0.62)
    elif style == "bold":
        bg = bg2 = first
    elif style == "minimal":
        bg = bg2 = lightest if to_lab(lightest)[0] > 88 else mix(first, white, 0.84)
    elif style == "playful":
        bg, bg2 = mix(first, white, 0.78), mix(last, white, 0.72)
    else:  # vintage: paper in the member's colour, darker at the edges
        bg, bg2 = mix(first, white, 0.8), mix(first, white, 0.55)
    accents = [c for c in given if c != bg] or list(given)
    accents += [mix(c, white, 0.45) for c in given] + [mix(c, black, 0.4) for c in given]
    ink = max(
        (mix(darkest, black, 0.6), mix(lightest, white, 0.85), (20, 20, 24), (255, 255, 255)),
        key=lambda c: (
            contrast(c, bg) >= 4.5,
            -luminance(c) if luminance(bg) > 0.4 else 0,
            contrast(c, bg),
        ),
    )
    return replace(pal, bg=bg, bg2=bg2, ink=ink, sub=ink, accents=tuple(accents))


def _without(pal: Palette, avoid: Avoid, style: str, rng: random.Random, n_given: int) -> Palette:
    """Drop avoided accents (the member's own colours stay) and top up from spares."""
    kept = [c for i, c in enumerate(pal.accents) if i < n_given or not avoid.rejects(c)]
    spares = [] if n_given else [hex_rgb(s) for s in _SPARE]  # the member's colours only
    rng.shuffle(spares)
    for c in spares:
        if len(kept) >= _ACCENT_COUNT[style]:
            break
        if c not in kept and not avoid.rejects(c):
            kept.append(c)
    if not kept:
        kept = [mix(pal.ink, pal.bg, 0.5)]
    if n_given:
        return replace(pal, accents=tuple(kept))
    bg, bg2 = (_neutral_like(c) if avoid.rejects(c) else c for c in (pal.bg, pal.bg2))
    return replace(pal, bg=bg, bg2=bg2, accents=tuple(kept))


def _neutral_like(c: RGB) -> RGB:
    """A grey as light as `c`, for a background whose own colour is avoided."""
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
