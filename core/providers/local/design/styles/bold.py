"""The bold style: high contrast, a diagonal block, hazard stripes, huge capitals."""

from __future__ import annotations

from core.providers.local.design.canvas import Canvas, background, details_block, subtitle_block
from core.providers.local.design.colours import RGB, contrast
from core.providers.local.design.text import fit_text


def render_bold(cv: Canvas) -> None:
    """High contrast: a two-tone ground split on a diagonal, huge condensed capitals on
    one side, the tagline on a label, hazard stripes where the type leaves room. The
    seed picks the slope and whether the type sits above or below the split."""
    rng, u, w, h, pal = cv.rng, cv.u, cv.w, cv.h, cv.pal
    background(cv, 90)
    m = max(6 * u, cv.margin)
    rise = rng.uniform(0.1, 0.2) * rng.choice([-1, 1])
    type_top = rng.random() < 0.6
    split = (0.66 if type_top else 0.34) + (0.06 if cv.portrait and type_top else 0)
    if cv.copy.details:
        split = 0.72 if type_top else 0.28
    left, right = split - rise / 2, split + rise / 2
    block = pal.accents[0] if pal.accents[0] != pal.bg else pal.accents[-1]
    split_ground = cv.has("shapes")
    if split_ground:  # part of the ground, not a decoration: type may sit on either side
        _split_ground(cv, (left, right), below=type_top, fill=block)
    stripes = cv.has("lines")
    band = 3.2 * u
    if type_top:
        region = (m + (band + 3 * u if stripes else 0), min(left, right) * h - 3 * u)
    else:
        region = (max(left, right) * h + 3 * u, h - m - (band + 3 * u if stripes else 0))
    ink = _on(pal.bg, pal.ink)
    other = _on(block if split_ground else pal.bg, pal.ink)
    sub = subtitle_block(cv, "sans-black", w * 0.7 - 2 * m, 3.2 * u, 2, 1.2, 0.05, upper=True)
    pad = 1.8 * u
    sub_h = sub.height + 2 * pad + 3 * u if sub else 0.0
    title_room = region[1] - region[0] - sub_h
    title = fit_text(
        cv.copy.title, "condensed", (w - 2 * m, title_room), 4, 0.92, 0.01, max_size=34 * u
    )
    y = region[0] if type_top else region[1] - title.height - sub_h
    cv.reserve((m, y, m + title.width, y + title.height))
    label = None
    if sub:
        sy = y + title.height + 3 * u
        label = (m, sy, m + sub.width + 2 * pad, sy + sub.height + 2 * pad)
        cv.reserve(label)
    body_region = (
        (max(left, right) * h + 3 * u, h - m) if type_top else (m, min(left, right) * h - 3 * u)
    )
    body = details_block(cv, "sans-bold", (w - 2 * m, body_region[1] - body_region[0]), 2.4 * u)
    if body:
        by = body_region[0] if type_top else body_region[1] - body.height
        cv.reserve((m, by, m + body.width, by + body.height))
    if stripes:
        sy0 = m if type_top else h - m - band
        _stripes(cv, (m, sy0, w - m, sy0 + band), pal.accents[1 % len(pal.accents)])
    cv.text(title, (m, y), ink)
    if sub and label:
        cv.draw().rectangle(label, fill=block)
        cv.text(sub, (label[0] + pad, label[1] + pad), _on(block, pal.ink), "subtitle")
    if body:
        cv.text(body, (m, by), other if split_ground else ink, "details")


def _split_ground(cv: Canvas, split: tuple[float, float], *, below: bool, fill: RGB) -> None:
    """Fill the part of the canvas below (or above) the diagonal from `split[0]` (left
    edge) to `split[1]` (right edge), both fractions of the height."""
    w, h = cv.w, cv.h
    left, right = split
    if below:
        cv.draw().polygon([(0, left * h), (w, right * h), (w, h), (0, h)], fill=fill)
    else:
        cv.draw().polygon([(0, 0), (w, 0), (w, right * h), (0, left * h)], fill=fill)


def _on(ground: RGB, preferred: RGB) -> RGB:
    """The preferred ink if it reads on `ground`, else white or near-black."""
    if contrast(preferred, ground) >= 4.5:
        return preferred
    return max(((17, 17, 17), (255, 255, 255)), key=lambda c: contrast(c, ground))


def _stripes(cv: Canvas, box: tuple[float, float, float, float], colour: RGB) -> None:
    """Hazard stripes: slanted bars across `box`, as far as the type leaves room."""
    x0, y0, x1, y1 = box
    d, step = cv.draw(), (y1 - y0) * 1.1
    x = x0
    while x + step < x1:
        if cv.shape((x, y0, x + step, y1)):
            d.polygon(
                [(x, y1), (x + step / 2, y0), (x + step, y0), (x + step / 2, y1)], fill=colour
            )
        x += step
