"""The modern style: deep gradient, faint grid, geometric shapes, a strong title."""

from __future__ import annotations

from PIL import Image, ImageDraw

from core.providers.local.design.canvas import Canvas, background, linear_gradient, subtitle_block
from core.providers.local.design.shapes import rotated_rect
from core.providers.local.design.text import draw_block, fit_text


def render_modern(cv: Canvas) -> None:
    """Deep gradient, faint grid, overlapping geometric shapes, a strong left-aligned title."""
    rng, u, w, h = cv.rng, cv.u, cv.w, cv.h
    background(cv, rng.uniform(20, 70))
    if cv.has("lines"):
        lay, d = cv.layer()
        step = round(8 * u)
        for x in range(step, w, step):
            d.line((x, 0, x, h), fill=(*cv.pal.ink, 255), width=max(1, round(0.12 * u)))
        for y in range(step, h, step):
            d.line((0, y, w, y), fill=(*cv.pal.ink, 255), width=max(1, round(0.12 * u)))
        cv.put(lay, 0.07)
    text_low = cv.portrait or rng.random() < 0.6
    wide = w > 1.5 * h
    ax = w * (0.74 if wide else 0.77)
    anchor = (w * 0.5, h * 0.27) if cv.portrait else (ax, h * (0.34 if text_low else 0.68))
    if cv.has("shapes"):
        _modern_shapes(cv, anchor)
    m = 7 * u
    box_w = w - 2 * m if cv.portrait else w * (0.6 if wide else 0.55)
    title = fit_text(
        cv.copy.title,
        "display",
        (box_w, h * (0.3 if cv.portrait else 0.42)),
        4,
        1.0,
        max_size=15 * u,
    )
    sub = subtitle_block(cv, "display-medium", box_w * 0.92, 3.4 * u, 3, 1.3)
    gap = 3.2 * u
    total = title.height + (gap + sub.height if sub else 0)
    top = h - m - total if text_low else m + 5 * u
    d = cv.draw()
    d.rectangle((m, top - 4.2 * u, m + 11 * u, top - 3 * u), fill=cv.pal.accents[0])
    draw_block(d, title, (m, top), cv.pal.ink)
    if sub:
        draw_block(d, sub, (m, top + title.height + gap), cv.pal.sub)


def _modern_shapes(cv: Canvas, anchor: tuple[float, float]) -> None:
    """The hero cluster at `anchor`: a gradient disc (or diamond), outlines, a dot grid."""
    rng, u, acc = cv.rng, cv.u, cv.pal.accents
    ax, ay = anchor
    r = min(cv.w, cv.h) * (0.3 if cv.portrait else 0.27 if cv.w > 1.5 * cv.h else 0.23)
    fill = Image.new("RGBA", cv.img.size, (0, 0, 0, 0))
    x0, y0 = max(0, int(ax - 1.2 * r)), max(0, int(ay - 1.2 * r))
    x1, y1 = min(cv.w, int(ax + 1.2 * r)), min(cv.h, int(ay + 1.2 * r))
    grad = linear_gradient((x1 - x0, y1 - y0), acc[0], acc[1 % len(acc)], rng.uniform(0, 360), 0.3)
    fill.paste(grad, (x0, y0))
    mask = Image.new("L", cv.img.size, 0)
    md = ImageDraw.Draw(mask)
    ring = acc[2 % len(acc)]
    lay, d = cv.layer()
    if cv.has("circles"):
        md.ellipse((ax - r, ay - r, ax + r, ay + r), fill=255)
        dx, dy = rng.choice([(-0.55, 0.45), (0.5, 0.5), (-0.5, -0.5)])
        rr = r * 0.62
        d.ellipse(
            (ax + dx * r - rr, ay + dy * r - rr, ax + dx * r + rr, ay + dy * r + rr),
            outline=(*ring, 255),
            width=round(1.1 * u),
        )
    else:
        md.polygon(rotated_rect(ax, ay, 1.6 * r, 1.6 * r, 45 + rng.uniform(-8, 8)), fill=255)
        d.polygon(
            rotated_rect(ax - 0.6 * r, ay + 0.5 * r, r, r, 20),
            outline=(*ring, 255),
            width=round(1.1 * u),
        )
    d.polygon(
        rotated_rect(ax + 0.7 * r, ay - 0.75 * r, 0.55 * r, 0.55 * r, rng.uniform(10, 35)),
        outline=(*acc[0], 255),
        width=round(0.6 * u),
    )
    _dot_grid(cv, d, anchor, r)
    cv.img.paste(fill, (0, 0), mask)
    cv.put(lay)


def _dot_grid(cv: Canvas, d: ImageDraw.ImageDraw, anchor: tuple[float, float], r: float) -> None:
    """A 5×5 grid of small dots (squares when circles are avoided) beside the main shape."""
    (ax, ay), u = anchor, cv.u
    gx = min(ax + 0.55 * r, cv.w - 14 * u)
    gy = min(ay + 0.6 * r, cv.h - 14 * u) if ay < cv.h / 2 else max(ay - 1.1 * r, 3 * u)
    shape = d.ellipse if cv.has("circles") else d.rectangle
    for i in range(5):
        for j in range(5):
            x, y, s = gx + i * 2.6 * u, gy + j * 2.6 * u, 0.45 * u
            shape((x - s, y - s, x + s, y + s), fill=(*cv.pal.ink, 150))
