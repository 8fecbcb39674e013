"""The playful style: bright ground, blobs and confetti, a chunky shadowed title."""

from __future__ import annotations

import math

import numpy as np

from core.providers.local.design.canvas import Canvas, background, subtitle_block
from core.providers.local.design.shapes import blob, rotated_rect
from core.providers.local.design.text import Block, draw_block, fit_text


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
    sub = subtitle_block(cv, "sans-bold", w * 0.62, 3.2 * u, 2, 1.2)
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
    """Big soft shapes at the corners and edges, leaving the middle for the type."""
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
    """Bits, dots and squiggles scattered everywhere outside `zone` (the type)."""
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
