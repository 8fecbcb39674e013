"""The minimal style: flat light ground, air, a light title and one accent."""

from __future__ import annotations

from core.providers.local.design.canvas import Canvas, background, subtitle_block
from core.providers.local.design.text import draw_block, fit_text


def render_minimal(cv: Canvas) -> None:
    """Flat light ground, lots of air, a light sans title, one accent, a tracked small-caps line."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, 90)
    m = 10 * u
    box_w = (w - 2 * m) * (0.95 if cv.portrait else 0.62)
    title = fit_text(
        cv.copy.title, "thin", (box_w, h * 0.28), 4 if cv.portrait else 3, 1.12, max_size=8.5 * u
    )
    y = h * rng.choice([0.36, 0.42]) if not cv.portrait else h * 0.4
    d = cv.draw()
    accent = pal.accents[0]
    if cv.has("circles") and cv.has("shapes"):
        r = 1.6 * u
        d.ellipse((m, y - 8 * u - r, m + 2 * r, y - 8 * u + r), fill=accent)
    else:
        d.rectangle((m, y - 8.3 * u, m + 7 * u, y - 7.7 * u), fill=accent)
    draw_block(d, title, (m, y), pal.ink)
    sub = subtitle_block(cv, "regular", box_w, 1.9 * u, 2, 1.6, 0.22, upper=True)
    if sub:
        sy = h - m - sub.height
        if cv.has("lines"):
            d.line(
                (m, sy - 3.5 * u, m + 5 * u, sy - 3.5 * u),
                fill=pal.sub,
                width=max(1, round(0.2 * u)),
            )
        draw_block(d, sub, (m, sy), pal.sub)
    for i, c in enumerate(pal.accents[1:5]):  # the member's other colours, as quiet chips
        x = w - m - (i + 1) * 4.2 * u
        d.rectangle((x, h - m - 3 * u, x + 3 * u, h - m), fill=c)
