"""The bold style: high contrast, a diagonal block, hazard stripes, huge capitals."""

from __future__ import annotations

from core.providers.local.design.canvas import Canvas, background, subtitle_block
from core.providers.local.design.colours import RGB, contrast
from core.providers.local.design.text import draw_block, fit_text


def render_bold(cv: Canvas) -> None:
    """High contrast: a diagonal block, hazard stripes, huge condensed capitals, a label."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, 90)
    m = 6 * u
    left, right = (0.7, 0.52) if rng.random() < 0.5 else (0.54, 0.72)
    if cv.portrait:
        left, right = left + 0.06, right + 0.06
    block_top = min(left, right) * h
    d = cv.draw()
    if cv.has("shapes"):
        d.polygon([(0, left * h), (w, right * h), (w, h), (0, h)], fill=pal.accents[0])
    if cv.has("lines"):
        _stripes(cv, (m, m, m + 26 * u, m + 3.2 * u), pal.accents[1 % len(pal.accents)])
    top = m + (7 * u if cv.has("lines") else 0)
    title = fit_text(
        cv.copy.title, "condensed", (w - 2 * m, block_top - top - 3 * u), 4, 0.92, 0.01
    )
    draw_block(d, title, (m, top), pal.ink)
    sub = subtitle_block(cv, "sans-black", w * 0.7 - 2 * m, 3.2 * u, 2, 1.2, 0.05, upper=True)
    if sub:
        pad = 1.8 * u
        y0 = max(left, right) * h + 5 * u
        y0 = min(y0, h - m - sub.height - 2 * pad)
        plate = pal.bg if cv.has("shapes") else pal.accents[0]
        text = max((pal.ink, (17, 17, 17), (255, 255, 255)), key=lambda c: contrast(c, plate))
        d.rectangle((m, y0, m + sub.width + 2 * pad, y0 + sub.height + 2 * pad), fill=plate)
        draw_block(d, sub, (m + pad, y0 + pad), text)


def _stripes(cv: Canvas, box: tuple[float, float, float, float], colour: RGB) -> None:
    """Hazard stripes: slanted bars across `box`."""
    x0, y0, x1, y1 = box
    d, step = cv.draw(), (y1 - y0) * 1.1
    x = x0
    while x + step / 2 < x1:
        d.polygon([(x, y1), (x + step / 2, y0), (x + step, y0), (x + step / 2, y1)], fill=colour)
        x += step
