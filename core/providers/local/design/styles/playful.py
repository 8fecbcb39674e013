"""The playful style: bright ground, blobs and confetti, a chunky shadowed title."""

from __future__ import annotations

import math

import numpy as np

from core.providers.local.design.canvas import Canvas, background, details_block, subtitle_block
from core.providers.local.design.colours import mix
from core.providers.local.design.shapes import blob, rotated_rect
from core.providers.local.design.text import Block, draw_block, fit_text


def render_playful(cv: Canvas) -> None:
    """Bright ground, rounded blobs and confetti around the type, a chunky rounded title
    with a hard shadow, the tagline on a pill. The seed moves the blobs and the confetti
    and tilts the type block up or down."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, rng.uniform(60, 120))
    side = max((8 if cv.portrait else 12) * u, cv.margin)
    has_details = bool(cv.copy.details)
    title = fit_text(
        cv.copy.title,
        "rounded",
        (w - 2 * side, h * (0.26 if has_details else 0.36)),
        5 if cv.portrait else 3,
        1.0,
        max_size=24 * u,
    )
    sub = subtitle_block(cv, "sans-bold", w * 0.62, 3.2 * u, 2, 1.2)
    gap, pad_y = 4 * u, 1.6 * u
    head = title.height + (gap + sub.height + 2 * pad_y if sub else 0)
    body = details_block(cv, "sans-bold", (w - 2 * side, h - 2 * side - head - gap), 2.4 * u)
    total = head + (gap + body.height if body else 0)
    y = (h - total) / 2 + rng.uniform(-0.06, 0.06) * max(0.0, h - 2 * side - total)
    y = max(side * 0.6, y)
    x = w / 2 - title.width / 2
    off = 0.9 * u if cv.has("shadow") else 0.0
    cv.reserve((x, y, x + title.width + off, y + title.height + off))
    pill = None
    if sub:
        top = y + title.height + gap
        pad_x = 3.2 * u
        pill = (
            w / 2 - sub.width / 2 - pad_x,
            top,
            w / 2 + sub.width / 2 + pad_x,
            top + sub.height + 2 * pad_y,
        )
        cv.reserve(pill)
    by = y + head + gap
    if body:
        cv.reserve((w / 2 - body.width / 2, by, w / 2 + body.width / 2, by + body.height))
    if cv.has("shapes"):
        _blobs(cv)
    if cv.has("confetti") and cv.has("shapes"):
        _confetti(cv)
    d = cv.draw()
    if off:
        shade = pal.accents[3 % len(pal.accents)]
        draw_block(cv.img, title, (x + off, y + off), shade, "center")
    outline = round(0.5 * u) if cv.has("text-border") and cv.has("border") else 0
    cv.text(title, (x, y), pal.ink, "title", "center", outline, (255, 255, 255))
    if sub and pill:
        plate = mix(pal.bg, (255, 255, 255), 0.7)
        d.rounded_rectangle(pill, radius=(pill[3] - pill[1]) / 2, fill=plate)
        _sub_on_pill(cv, sub, pill, pad_y)
    if body:
        cv.text(body, (w / 2 - body.width / 2, by), pal.ink, "details", "center")


def _sub_on_pill(
    cv: Canvas, sub: Block, pill: tuple[float, float, float, float], pad_y: float
) -> None:
    cv.text(sub, (cv.w / 2 - sub.width / 2, pill[1] + pad_y), cv.pal.sub, "subtitle", "center")


def _blobs(cv: Canvas) -> None:
    """Big soft shapes at the corners and edges, each as large as the type leaves room for."""
    rng, u, w, h, acc = cv.rng, cv.u, cv.w, cv.h, cv.pal.accents
    spots = [(0.05, 0.08), (0.95, 0.12), (0.1, 0.92), (0.92, 0.9), (0.5, -0.02), (0.5, 1.03)]
    rng.shuffle(spots)
    lay, d = cv.layer()
    for i, (fx, fy) in enumerate(spots[:5]):
        want = rng.uniform(14, 24) * u
        x, y = fx * w + rng.uniform(-4, 4) * u, fy * h + rng.uniform(-4, 4) * u
        r = cv.largest_clear(x, y, want * 1.25, 6 * u) / 1.25  # a blob wanders out to ~1.25 r
        if not r or not cv.shape((x - 1.25 * r, y - 1.25 * r, x + 1.25 * r, y + 1.25 * r)):
            continue
        colour = (*acc[i % len(acc)], 255)
        if cv.has("circles"):
            d.polygon(blob(x, y, r, rng), fill=colour)
        else:
            d.polygon(rotated_rect(x, y, 1.6 * r, 1.6 * r, rng.uniform(0, 90)), fill=colour)
    cv.put(lay)


def _confetti(cv: Canvas) -> None:
    """Bits, dots and squiggles scattered wherever the type is not."""
    rng, u, acc = cv.rng, cv.u, cv.pal.accents
    d = cv.draw()
    placed = tries = 0
    while placed < 46 and tries < 400:
        tries += 1
        x, y = rng.uniform(0, cv.w), rng.uniform(0, cv.h)
        if not cv.shape((x - 2.5 * u, y - 2.5 * u, x + 2.5 * u, y + 2.5 * u)):
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
