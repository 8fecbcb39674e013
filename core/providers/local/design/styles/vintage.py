"""The vintage style: aged paper, sunburst, frames, emblem, ornaments and a ribbon."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from core.providers.local.design.canvas import Canvas, details_block, grain, subtitle_block
from core.providers.local.design.colours import RGB, contrast, mix
from core.providers.local.design.shapes import rotated_rect
from core.providers.local.design.text import Block, fit_text


def render_vintage(cv: Canvas) -> None:
    """Aged paper, sunburst, double frame, an emblem, a serif title between ornaments, a
    ribbon. The seed picks the number of rays and whether the emblem crowns the stack or
    the ribbon leads it."""
    u, w, h, pal = cv.u, cv.w, cv.h, cv.pal
    _paper(cv)
    if cv.has("lines") and cv.has("shapes"):
        rays = 40 if cv.rng.random() < 0.5 else 28
        _sunburst(cv, (w / 2, h / 2), mix(pal.bg, pal.bg2, 0.55), rays)
    frame = 4.5 * u
    inner = w - 2 * (frame + (5 if cv.portrait else 8) * u)
    _vintage_stack(cv, inner, frame + 4 * u)
    if cv.has("border"):
        d = cv.draw()
        t1, t2 = round(0.9 * u), max(1, round(0.3 * u))
        f2 = frame + 1.6 * u
        for f, t in ((frame, t1), (f2, t2)):
            sides = [
                (f, f, w - f, f + t),
                (f, h - f - t, w - f, h - f),
                (f, f, f + t, h - f),
                (w - f - t, f, w - f, h - f),
            ]
            if all(cv.shape(s) for s in sides):
                d.rectangle((f, f, w - f, h - f), outline=pal.ink, width=t)


def _vintage_stack(cv: Canvas, inner: float, edge: float) -> None:
    """Emblem, ornaments, title, ribbon (or italic tagline) and details, centred as a group.
    The seed picks the order: a crest (emblem on top) or a banner (the ribbon on top, the
    emblem below the title). The emblem and ornaments only go where the type leaves room."""
    u, cx, pal = cv.u, cv.w / 2, cv.pal
    banner = cv.rng.random() < 0.45
    room = cv.h - 2 * edge
    has_details = bool(cv.copy.details)
    title = fit_text(
        cv.copy.title,
        "serif",
        (inner, room * (0.26 if has_details else 0.34)),
        4 if cv.portrait else 3,
        1.0,
        0.04,
        22 * u,
    )
    ribbon = cv.has("shapes") and len(cv.copy.subtitle) <= 42
    sub_w, sub_size = (inner * 0.62, 4.2 * u) if ribbon else (inner * 0.85, 3.4 * u)
    sub = subtitle_block(cv, "serif-italic", sub_w, sub_size, 1 if ribbon else 3, 1.25)
    sub_h = (sub.height + (4 * u if ribbon else 0)) if sub else 0.0
    gap = 3.5 * u
    emblem_r = 6.5 * u if cv.has("shapes") else 0.0
    fixed = title.height + sub_h + 4 * gap + 4 * u
    body = details_block(
        cv, "serif-italic", (inner * 0.92, room - fixed - 2 * emblem_r - gap), 2.6 * u
    )
    body_h = body.height + gap if body else 0.0
    if fixed + 2 * emblem_r + body_h > room:
        emblem_r = 0.0
    order = (
        ["sub", "orn", "title", "orn", "emblem", "body"]
        if banner
        else ["emblem", "orn", "title", "orn", "sub", "body"]
    )
    heights = {
        "emblem": 2 * emblem_r + gap if emblem_r else 0.0,
        "orn": 2 * u + gap,
        "title": title.height + gap,
        "sub": sub_h + gap if sub else 0.0,
        "body": body_h,
    }
    at, ornaments = _stack(order, heights, cv.h / 2, u)
    title_at = (cx - title.width / 2, at["title"])
    cv.reserve((*title_at, title_at[0] + title.width, title_at[1] + title.height))
    sub_at, rib = None, None
    if sub:
        if ribbon:
            half_w, half_h = sub.width / 2 + 5 * u, sub.height / 2 + 2 * u
            rcy = at["sub"] + sub_h / 2
            rib = (cx - half_w - 5 * u, rcy - half_h, cx + half_w + 5 * u, rcy + half_h + 1.6 * u)
            cv.reserve(rib)
            sub_at = (cx - sub.width / 2, rcy - sub.height / 2)
        else:
            sub_at = (cx - sub.width / 2, at["sub"])
            cv.reserve((*sub_at, sub_at[0] + sub.width, sub_at[1] + sub.height))
    if body:
        body_at = (cx - body.width / 2, at["body"])
        cv.reserve((*body_at, body_at[0] + body.width, body_at[1] + body.height))
    if emblem_r:
        _emblem(cv, (cx, at["emblem"] + emblem_r), emblem_r)
    for oy in ornaments:
        _ornament(cv, cx, oy)
    cv.text(title, title_at, pal.ink, "title", "center")
    if sub and sub_at and rib:
        _ribbon(cv, sub, sub_at, rib)
    elif sub and sub_at:
        cv.text(sub, sub_at, pal.sub, "subtitle", "center")
    if body:
        cv.text(body, body_at, pal.sub, "details", "center")



def _stack(
    order: list[str], heights: dict[str, float], centre_y: float, u: float
) -> tuple[dict[str, float], list[float]]:
    """Top y (px) of each part, stacked in `order` and centred on `centre_y`, and the
    centre y of each ornament rule (`u` below the top of its slot)."""
    y = centre_y - sum(heights[k] for k in order) / 2
    at: dict[str, float] = {}
    ornaments: list[float] = []
    for k in order:
        if k == "orn":
            ornaments.append(y + u)
        at[k] = y
        y += heights[k]
    return at, ornaments

def _paper(cv: Canvas) -> None:
    """Cream stock: mottled tone, darker edges (a vignette) when gradients are allowed.
    Both are smooth, so they are made at a quarter of the size and enlarged (the fine
    grain comes at the end, at full size)."""
    w, h = cv.img.size
    qw, qh = max(2, w // 4), max(2, h // 4)
    base = Image.new("RGBA", (qw, qh), (*cv.pal.bg, 255))
    if cv.has("texture"):
        base = grain(base, cv.rng, 0.025, blur=9 * cv.u / 4)
    if cv.has("gradient"):
        yy, xx = np.mgrid[0:qh, 0:qw].astype(np.float32)
        r = np.hypot((xx - qw / 2) / (qw / 2), (yy - qh / 2) / (qh / 2)) / math.sqrt(2)
        t = (np.clip((r - 0.45) / 0.55, 0, 1) ** 1.6 * 0.85)[..., None]
        edge = np.array(cv.pal.bg2, np.float32)
        arr = np.asarray(base.convert("RGB"), np.float32) * (1 - t) + edge * t
        base = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").convert("RGBA")
    cv.img.paste(base.resize((w, h), Image.Resampling.BILINEAR))


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
    if not cv.shape((cx - r, cy - r, cx + r, cy + r)):
        return
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
    reach = 20 * u if cv.has("lines") else 0.8 * u
    if not cv.shape((cx - reach, y - 0.8 * u, cx + reach, y + 0.8 * u)):
        return
    if cv.has("lines"):
        d.line((cx - 20 * u, y, cx - 3 * u, y), fill=col, width=max(1, round(0.35 * u)))
        d.line((cx + 3 * u, y, cx + 20 * u, y), fill=col, width=max(1, round(0.35 * u)))
    d.polygon(rotated_rect(cx, y, 1.6 * u, 1.6 * u, 45), fill=col)


def _ribbon(
    cv: Canvas, sub: Block, at: tuple[float, float], box: tuple[float, float, float, float]
) -> None:
    """The tagline on a banner with folded, notched tails (a plate under the text)."""
    d, u, pal = cv.draw(), cv.u, cv.pal
    cx, cy = (box[0] + box[2]) / 2, at[1] + sub.height / 2
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
    cv.text(sub, at, ink, "subtitle", "center")
