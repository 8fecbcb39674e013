"""The modern style: deep gradient, faint grid, geometric shapes, a strong title."""

from __future__ import annotations

from PIL import Image, ImageDraw

from core.providers.local.design.canvas import (
    Canvas,
    background,
    details_block,
    linear_gradient,
    subtitle_block,
)
from core.providers.local.design.shapes import rotated_rect
from core.providers.local.design.text import fit_text


def render_modern(cv: Canvas) -> None:
    """Deep gradient, faint grid, a geometric hero cluster, a strong left-aligned title.
    The seed picks where the type sits (low or high) and the hero's side and shape."""
    rng, u, w, h = cv.rng, cv.u, cv.w, cv.h
    background(cv, rng.uniform(20, 70))
    if cv.has("lines"):
        lay, d = cv.layer()
        step = round(8 * u)
        for gx in range(step, w, step):
            d.line((gx, 0, gx, h), fill=(*cv.pal.ink, 255), width=max(1, round(0.12 * u)))
        for gy in range(step, h, step):
            d.line((0, gy, w, gy), fill=(*cv.pal.ink, 255), width=max(1, round(0.12 * u)))
        cv.put(lay, 0.07)
    text_low = rng.random() < 0.6
    m = max(7 * u, cv.margin)
    wide = w > 1.5 * h
    box_w = w - 2 * m if cv.portrait else w * (0.6 if wide else 0.62)
    has_details = bool(cv.copy.details)
    title = fit_text(
        cv.copy.title,
        "display",
        (box_w, h * (0.3 if cv.portrait or has_details else 0.42)),
        4,
        1.0,
        max_size=22 * u,
    )
    sub = subtitle_block(cv, "display-medium", box_w * 0.92, 3.4 * u, 3, 1.3)
    gap = 3.2 * u
    head = title.height + (gap + sub.height if sub else 0)
    body_h = h - 2 * m - 7 * u - head - gap
    body = details_block(cv, "display-medium", (box_w, body_h), 2.3 * u)
    total = head + (gap + body.height if body else 0)
    top = h - m - total if text_low else m + 6 * u
    bar = (m, top - 4.2 * u, m + 11 * u, top - 3 * u)
    cv.reserve((m, top, m + title.width, top + title.height))
    y = top + title.height + gap
    if sub:
        cv.reserve((m, y, m + sub.width, y + sub.height))
        y += sub.height + gap
    if body:
        cv.reserve((m, y, m + body.width, y + body.height))
    if cv.has("shapes"):
        if cv.portrait:
            anchor = (w * 0.5, h * (0.27 if text_low else 0.73))
        else:
            ax = w * rng.uniform(0.72, 0.78)
            anchor = (ax, h * (0.36 if text_low else 0.64))
        _modern_shapes(cv, anchor)
    d = cv.draw()
    if cv.shape(bar):
        d.rectangle(bar, fill=cv.pal.accents[0])
    cv.text(title, (m, top), cv.pal.ink)
    y = top + title.height + gap
    if sub:
        cv.text(sub, (m, y), cv.pal.sub, "subtitle")
        y += sub.height + gap
    if body:
        cv.text(body, (m, y), cv.pal.sub, "details")


def _modern_shapes(cv: Canvas, anchor: tuple[float, float]) -> None:
    """The hero cluster at `anchor`: a gradient disc (or diamond), outlines, a dot grid;
    each piece as large as the type leaves room for, or left out."""
    rng, u, acc = cv.rng, cv.u, cv.pal.accents
    ax, ay = anchor
    r0 = min(cv.w, cv.h) * (0.3 if cv.portrait else 0.27 if cv.w > 1.5 * cv.h else 0.25)
    diamond = not cv.has("circles")
    r = cv.largest_clear(ax, ay, r0 * (0.8 if diamond else 1.0), 5 * u)
    lay, d = cv.layer()
    ring = acc[2 % len(acc)]
    if r and cv.shape((ax - r, ay - r, ax + r, ay + r)):
        fill = Image.new("RGBA", cv.img.size, (0, 0, 0, 0))
        x0, y0 = max(0, int(ax - 1.2 * r)), max(0, int(ay - 1.2 * r))
        x1, y1 = min(cv.w, int(ax + 1.2 * r)), min(cv.h, int(ay + 1.2 * r))
        grad = linear_gradient(
            (x1 - x0, y1 - y0), acc[0], acc[1 % len(acc)], rng.uniform(0, 360), 0.3
        )
        fill.paste(grad, (x0, y0))
        mask = Image.new("L", cv.img.size, 0)
        md = ImageDraw.Draw(mask)
        if diamond:
            md.polygon(rotated_rect(ax, ay, 1.41 * r, 1.41 * r, 45), fill=255)
        else:
            md.ellipse((ax - r, ay - r, ax + r, ay + r), fill=255)
        cv.img.paste(fill, (0, 0), mask)
    rr = (r or r0 * 0.5) * 0.62
    dx, dy = rng.choice([(-0.55, 0.45), (0.5, 0.5), (-0.5, -0.5)])
    cx, cy = ax + dx * (r or r0 * 0.5), ay + dy * (r or r0 * 0.5)
    if cv.shape((cx - rr, cy - rr, cx + rr, cy + rr)):
        if diamond:
            d.polygon(
                rotated_rect(cx, cy, 1.41 * rr, 1.41 * rr, 20),
                outline=(*ring, 255),
                width=round(1.1 * u),
            )
        else:
            d.ellipse(
                (cx - rr, cy - rr, cx + rr, cy + rr), outline=(*ring, 255), width=round(1.1 * u)
            )
    s = 0.55 * (r or r0 * 0.5)
    sx, sy = ax + 0.7 * (r or r0 * 0.5), ay - 0.75 * (r or r0 * 0.5)
    if cv.shape((sx - 0.71 * s, sy - 0.71 * s, sx + 0.71 * s, sy + 0.71 * s)):
        d.polygon(
            rotated_rect(sx, sy, s, s, rng.uniform(10, 35)),
            outline=(*acc[0], 255),
            width=round(0.6 * u),
        )
    _dot_grid(cv, d, anchor, r or r0 * 0.5)
    cv.put(lay)


def _dot_grid(cv: Canvas, d: ImageDraw.ImageDraw, anchor: tuple[float, float], r: float) -> None:
    """A 5×5 grid of small dots (squares when circles are avoided) beside the main shape."""
    (ax, ay), u = anchor, cv.u
    gx = min(ax + 0.55 * r, cv.w - 14 * u)
    gy = min(ay + 0.6 * r, cv.h - 14 * u) if ay < cv.h / 2 else max(ay - 1.1 * r, 3 * u)
    s = 0.45 * u
    if not cv.shape((gx - s, gy - s, gx + 4 * 2.6 * u + s, gy + 4 * 2.6 * u + s)):
        return
    shape = d.ellipse if cv.has("circles") else d.rectangle
    for i in range(5):
        for j in range(5):
            x, y = gx + i * 2.6 * u, gy + j * 2.6 * u
            shape((x - s, y - s, x + s, y + s), fill=(*cv.pal.ink, 150))
