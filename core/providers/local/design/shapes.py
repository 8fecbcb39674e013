"""Outlines the styles decorate with: organic blobs and rotated rectangles."""

from __future__ import annotations

import math
import random


def blob(
    cx: float, cy: float, r: float, rng: random.Random, wobble: float = 0.18
) -> list[tuple[float, float]]:
    """A smooth organic closed outline: a circle whose radius wanders in a few harmonics."""
    harmonics = [
        (k, rng.uniform(-wobble, wobble) / k**0.6, rng.uniform(0, 2 * math.pi))
        for k in (2, 3, 4, 5)
    ]
    pts = []
    for i in range(120):
        t = 2 * math.pi * i / 120
        rr = r * (1 + sum(a * math.sin(k * t + p) for k, a, p in harmonics))
        pts.append((cx + rr * math.cos(t), cy + rr * math.sin(t)))
    return pts


def rotated_rect(cx: float, cy: float, w: float, h: float, deg: float) -> list[tuple[float, float]]:
    """Corners of a w×h rectangle centred on (cx, cy), turned `deg` degrees."""
    a = math.radians(deg)
    ca, sa = math.cos(a), math.sin(a)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in corners]
