"""The minimal style: flat light ground, air, a light title and one accent."""

from __future__ import annotations

from typing import Literal

from core.providers.local.design.canvas import Canvas, background, details_block, subtitle_block
from core.providers.local.design.text import fit_text


def render_minimal(cv: Canvas) -> None:
    """Flat light ground, lots of air, a light sans title, one accent shape, a tracked
    small-caps tagline. The seed picks the composition: title high with the accent in a
    corner, or title low under a large accent disc, or centred between two rules."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    layout = rng.choice(["high", "low", "centre"])
    background(cv, 90)
    m = max(10 * u, cv.margin)
    box_w = (w - 2 * m) * (1.0 if cv.portrait or layout == "centre" else 0.8)
    detail_room = 0.22 * h if cv.copy.details else 0.0
    title_h = h * (0.34 if cv.portrait else 0.4) - detail_room * 0.5
    title = fit_text(
        cv.copy.title, "thin", (box_w, title_h), 5 if cv.portrait else 3, 1.12, max_size=26 * u
    )
    sub = subtitle_block(cv, "regular", box_w, 2.1 * u, 2, 1.6, 0.2, upper=True)
    body = details_block(cv, "regular", (box_w, detail_room), 2.3 * u)
    gap = 4 * u
    stack = title.height + (gap + sub.height if sub else 0) + (gap + body.height if body else 0)
    align: Literal["left", "center"] = "center" if layout == "centre" else "left"
    if layout == "high":
        top = m + 10 * u
    elif layout == "low":
        top = h - m - stack
    else:
        top = (h - stack) / 2
    top = max(m, min(top, h - m - stack))
    x_of = (lambda bw: (w - bw) / 2) if align == "center" else (lambda bw: m)
    ys = [top, top + title.height + gap]
    ys.append(ys[1] + (sub.height + gap if sub else 0))
    cv.reserve((x_of(title.width), ys[0], x_of(title.width) + title.width, ys[0] + title.height))
    if sub:
        cv.reserve((x_of(sub.width), ys[1], x_of(sub.width) + sub.width, ys[1] + sub.height))
    if body:
        cv.reserve((x_of(body.width), ys[2], x_of(body.width) + body.width, ys[2] + body.height))
    _accents(cv, layout, m, top, top + stack)
    cv.text(title, (x_of(title.width), ys[0]), pal.ink, "title", align)
    if sub:
        cv.text(sub, (x_of(sub.width), ys[1]), pal.sub, "subtitle", align)
    if body:
        cv.text(body, (x_of(body.width), ys[2]), pal.sub, "details", align)


def _accents(cv: Canvas, layout: str, m: float, top: float, bottom: float) -> None:
    """One accent: a disc (a square when circles are avoided) where the type leaves room,
    a thin rule, and the member's other colours as quiet chips."""
    u, w, h, pal, d = cv.u, cv.w, cv.h, cv.pal, cv.draw()
    accent = pal.accents[0]
    shapes_ok = cv.has("shapes")
    room_above, room_below = top - m, h - m - bottom
    if shapes_ok:
        big = max(room_above, room_below) > 0.3 * h
        r_max = min(w, h) * (0.3 if big else 0.05)
        if room_above >= room_below:
            cx, cy = (w - m - r_max if layout != "centre" else w / 2), m + room_above / 2
        else:
            cx, cy = (w - m - r_max if layout != "centre" else w / 2), h - m - room_below / 2
        r = cv.largest_clear(cx, cy, min(r_max, max(room_above, room_below) / 2), 1.2 * u)
        if r and cv.shape((cx - r, cy - r, cx + r, cy + r)):
            if cv.has("circles"):
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=accent)
            else:
                d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=accent)
    if cv.has("lines"):
        lw = max(1, round(0.25 * u))
        x0 = w / 2 - 5 * u if layout == "centre" else m
        for y in (top - 4 * u, bottom + 4 * u) if layout == "centre" else (top - 4 * u,):
            if cv.shape((x0, y - lw, x0 + 10 * u, y + lw)):
                d.line((x0, y, x0 + 10 * u, y), fill=accent, width=lw)
    for i, c in enumerate(pal.accents[1:4] if shapes_ok else ()):  # the member's other colours
        x = w - m - (i + 1) * 4.6 * u
        chip = (x, h - m - 3.4 * u, x + 3.4 * u, h - m)
        if cv.shape(chip):
            d.rectangle(chip, fill=c)
