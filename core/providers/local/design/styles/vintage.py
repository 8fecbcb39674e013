"""The vintage style: aged paper, sunburst, frames, emblem, ornaments and a ribbon."""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from core.providers.local.design.canvas import Canvas, grain, subtitle_block
from core.providers.local.design.colours import RGB, contrast, mix
from core.providers.local.design.shapes import rotated_rect
from core.providers.local.design.text import Block, draw_block, fit_text


def render_vintage(cv: Canvas) -> None:
    """Aged paper, sunburst, double frame, an emblem, a serif title between ornaments, a ribbon."""
    u, w, h, pal = cv.u, cv.w, cv.h, cv.pal
    _paper(cv)
    if cv.has("lines") and cv.has("shapes"):
        rays = 40 if cv.rng.random() < 0.5 else 28
        _sunburst(cv, (w / 2, h / 2), mix(pal.bg, pal.bg2, 0.55), rays)
    frame = 4.5 * u
    if cv.has("border"):
        d = cv.draw()
        d.rectangle((frame, frame, w - frame, h - frame), outline=pal.ink, width=round(0.9 * u))
        f2 = frame + 1.6 * u
        d.rectangle((f2, f2, w - f2, h - f2), outline=pal.ink, width=max(1, round(0.3 * u)))
    _vintage_stack(cv, w - 2 * (frame + (5 if cv.portrait else 8) * u))


def _vintage_stack(cv: Canvas, inner: float) -> None:
    """Emblem, ornament, title, ornament, ribbon (or italic tagline), centred as a group."""
    u, cx, pal = cv.u, cv.w / 2, cv.pal
    lines = 4 if cv.portrait else 3
    title = fit_text(cv.copy.title, "serif", (inner, cv.h * 0.3), lines, 1.0, 0.04, 13 * u)
    ribbon = cv.has("shapes") and len(cv.copy.subtitle) <= 42
    sub_w, sub_size = (inner * 0.62, 4.2 * u) if ribbon else (inner * 0.85, 3.4 * u)
    sub = subtitle_block(cv, "serif-italic", sub_w, sub_size, 1 if ribbon else 3, 1.25)
    emblem_r = 6.5 * u if cv.has("shapes") else 0.0
    sub_h = (sub.height + (4 * u if ribbon else 0)) if sub else 0.0
    gap = 3.5 * u
    y = cv.h / 2 - (2 * emblem_r + 4 * u + title.height + sub_h + 4 * gap) / 2
    if emblem_r:
        _emblem(cv, (cx, y + emblem_r), emblem_r)
    y += 2 * emblem_r + gap
    _ornament(cv, cx, y + u)
    y += 2 * u + gap
    draw_block(cv.draw(), title, (cx - title.width / 2, y), pal.ink, "center")
    y += title.height + gap
    _ornament(cv, cx, y + u)
    y += 2 * u + gap
    if sub and ribbon:
        _ribbon(cv, sub, (cx, y + sub_h / 2))
    elif sub:
        draw_block(cv.draw(), sub, (cx - sub.width / 2, y), pal.sub, "center")


def _paper(cv: Canvas) -> None:
    """Cream stock: mottled tone, darker edges (a vignette) when gradients are allowed."""
    base = Image.new("RGBA", cv.img.size, (*cv.pal.bg, 255))
    if cv.has("texture"):
        base = grain(base, cv.rng, 0.025, blur=9 * cv.u)
    if cv.has("gradient"):
        w, h = cv.img.size
        yy, xx = np.mgrid[0 : h // 8, 0 : w // 8].astype(np.float32)
        r = np.hypot((xx - w / 16) / (w / 16), (yy - h / 16) / (h / 16)) / math.sqrt(2)
        t = np.clip((r - 0.45) / 0.55, 0, 1) ** 1.6 * 0.85
        t = cv2.resize(t, (w, h), interpolation=cv2.INTER_LINEAR)
        edge = np.array(cv.pal.bg2, np.float32)
        arr = np.asarray(base.convert("RGB"), np.float32)
        arr = arr * (1 - t[..., None]) + edge * t[..., None]
        base = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").convert("RGBA")
    cv.img.paste(base)


def _sunburst(cv: Canvas, centre: tuple[float, float], colour: RGB, rays: int) -> None:
    """Every other ray from `centre`, faint, behind everything."""
    lay, d = cv.layer()
    reach = math.hypot(cv.w, cv.h)
    cx, cy = centre
    for i in range(0, rays, 2):
        a0, a1 = 2 * math.pi * i / rays, 2 * math.pi * (i + 1) / rays
        d.polygon(
            [
                (cx, cy),
                (cx + reach * math.cos(a0), cy + reach * math.sin(a0)),
                (cx + reach * math.cos(a1), cy + reach * math.sin(a1)),
            ],
            fill=(*colour, 255),
        )
    cv.put(lay, 0.35)


def _emblem(cv: Canvas, centre: tuple[float, float], r: float) -> None:
    """A badge (disc, or diamond when circles are avoided) with a five-point star."""
    d, (cx, cy), pal, u = cv.draw(), centre, cv.pal, cv.u
    badge, star = pal.accents[1 % len(pal.accents)], pal.bg
    if cv.has("circles"):
        d.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=badge, outline=pal.ink, width=round(0.5 * u)
        )
        d.ellipse(
            (cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8),
            outline=star,
            width=max(1, round(0.25 * u)),
        )
    else:
        d.polygon(
            rotated_rect(cx, cy, 1.5 * r, 1.5 * r, 45),
            fill=badge,
            outline=pal.ink,
            width=round(0.5 * u),
        )
    pts = []
    for k in range(10):
        rr = r * (0.5 if k % 2 == 0 else 0.21)
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    d.polygon(pts, fill=star)


def _ornament(cv: Canvas, cx: float, y: float) -> None:
    """A rule — diamond — rule flourish."""
    d, u, col = cv.draw(), cv.u, cv.pal.accents[2 % len(cv.pal.accents)]
    if cv.has("lines"):
        d.line((cx - 20 * u, y, cx - 3 * u, y), fill=col, width=max(1, round(0.35 * u)))
        d.line((cx + 3 * u, y, cx + 20 * u, y), fill=col, width=max(1, round(0.35 * u)))
    d.polygon(rotated_rect(cx, y, 1.6 * u, 1.6 * u, 45), fill=col)


def _ribbon(cv: Canvas, sub: Block, centre: tuple[float, float]) -> None:
    """The tagline on a banner with folded, notched tails."""
    d, u, (cx, cy), pal = cv.draw(), cv.u, centre, cv.pal
    half_w, half_h = sub.width / 2 + 5 * u, sub.height / 2 + 2 * u
    tail, fold = 5 * u, mix(pal.accents[0], (0, 0, 0), 0.3)
    for side in (-1, 1):
        x_in, x_out = cx + side * (half_w - 2 * u), cx + side * (half_w + tail)
        y0 = cy - half_h + 1.6 * u
        y1 = cy + half_h + 1.6 * u
        d.polygon(
            [
                (x_in, y0),
                (x_out, y0),
                (x_out - side * 2.4 * u, (y0 + y1) / 2),
                (x_out, y1),
                (x_in, y1),
            ],
            fill=fold,
        )
    d.rectangle((cx - half_w, cy - half_h, cx + half_w, cy + half_h), fill=pal.accents[0])
    ink = max(((250, 243, 228), pal.ink), key=lambda c: contrast(c, pal.accents[0]))
    draw_block(d, sub, (cx - sub.width / 2, cy - sub.height / 2), ink, "center")
