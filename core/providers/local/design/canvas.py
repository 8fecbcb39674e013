"""The canvas every style draws on, and the grounds and textures under the type.

Styles get one `Canvas` (image, seeded random source, palette, avoid, words) so
they share a layout unit and a single way to ask whether an element is allowed.
The canvas also keeps the layout's record: every text box drawn, every shape
box (decorations, not the ground) and the plates text sits on. Styles set their
type first and reserve its boxes, then place decorations only where they are
clear of it, so text never overlaps a decoration at any size or aspect.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw

from core.providers.local.design.avoid import Avoid
from core.providers.local.design.colours import RGB
from core.providers.local.design.palette import Palette
from core.providers.local.design.text import Block, block_box, body_text, draw_block, fit_text
from core.providers.local.design.words import Copy

Box = tuple[float, float, float, float]


def intersects(a: Box, b: Box, pad: float = 0.0) -> bool:
    """Whether two boxes overlap (or come within `pad` of each other)."""
    return a[0] - pad < b[2] and b[0] - pad < a[2] and a[1] - pad < b[3] and b[1] - pad < a[3]


@dataclass
class Canvas:
    """One design in progress: the image and everything a style needs to draw on it."""

    img: Image.Image  # RGBA at SS× the output size
    rng: random.Random
    pal: Palette
    avoid: Avoid
    copy: Copy
    texts: list[tuple[str, Box, Block]] = field(default_factory=list)  # role, ink box, block
    shapes: list[Box] = field(default_factory=list)
    reserved: list[Box] = field(default_factory=list)  # text to come, and plates under text

    @property
    def w(self) -> int:
        """Width in px."""
        return self.img.size[0]

    @property
    def h(self) -> int:
        """Height in px."""
        return self.img.size[1]

    @property
    def u(self) -> float:
        """Layout unit: 1 % of the geometric mean side (the same for 16:9 and 9:16)."""
        return math.sqrt(self.w * self.h) / 100

    @property
    def portrait(self) -> bool:
        """Taller than wide (9:16), where styles stack instead of spreading."""
        return self.h > self.w * 1.1

    def has(self, element: str) -> bool:
        """Whether `avoid` allows this element ("shapes", "gradient", ...)."""
        return element not in self.avoid.elements

    def layer(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        """A transparent layer and its drawer, for shapes that need opacity."""
        lay = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        return lay, ImageDraw.Draw(lay)

    def put(self, lay: Image.Image, opacity: float = 1.0) -> None:
        """Composite a layer onto the image at `opacity`."""
        if opacity < 1.0:
            alpha = lay.getchannel("A").point(lambda v: round(v * opacity))
            lay.putalpha(alpha)
        self.img.alpha_composite(lay)

    def draw(self) -> ImageDraw.ImageDraw:
        """A drawer straight onto the image."""
        return ImageDraw.Draw(self.img)

    @property
    def margin(self) -> float:
        """The safe margin no text crosses: 5 % of the shorter side."""
        return 0.05 * min(self.w, self.h)

    def reserve(self, box: Box) -> Box:
        """Keep `box` free of decorations (text to be drawn there, or its plate)."""
        self.reserved.append(box)
        return box

    def clear(self, box: Box, pad: float | None = None) -> bool:
        """Whether a decoration at `box` stays clear of every reserved and drawn text box."""
        pad = 1.2 * self.u if pad is None else pad
        boxes = self.reserved + [b for _, b, _ in self.texts]
        return not any(intersects(box, b, pad) for b in boxes)

    def shape(self, box: Box) -> bool:
        """Record a decoration's bounding box if it is clear; False (draw nothing) if not."""
        if not self.clear(box):
            return False
        self.shapes.append(box)
        return True

    def largest_clear(self, cx: float, cy: float, r: float, r_min: float) -> float:
        """The largest radius ≤ r (down to r_min, else 0) of a disc at (cx, cy) whose box
        is clear of the type."""
        while r >= r_min:
            if self.clear((cx - r, cy - r, cx + r, cy + r)):
                return r
            r *= 0.9
        return 0.0

    def text(
        self,
        block: Block,
        xy: tuple[float, float],
        fill: RGB | tuple[int, int, int, int],
        role: str = "title",
        align: Literal["left", "center"] = "left",
        stroke: int = 0,
        stroke_fill: RGB | None = None,
    ) -> Box:
        """Draw a block with its ink box's top-left at xy and record the box."""
        box = block_box(block, xy)
        if block.set_lines:
            draw_block(self.img, block, xy, fill, align, stroke, stroke_fill)
            self.texts.append((role, box, block))
        return box


def subtitle_block(
    cv: Canvas,
    key: str,
    width: float,
    size: float,
    lines: int,
    leading: float,
    tracking: float = 0.0,
    upper: bool = False,
) -> Block | None:
    """The tagline set for a style, or None when there is none or `avoid` drops it."""
    text = cv.copy.subtitle.upper() if upper else cv.copy.subtitle
    if not text or not cv.has("subtitle"):
        return None
    block = fit_text(
        text,
        key,
        (width, size * (leading * (lines - 1) + 1.3)),
        lines,
        leading,
        tracking,
        max_size=size,
        min_size=min(size, 1.6 * cv.u),
    )
    return block if block.set_lines else None


def details_block(cv: Canvas, key: str, box: tuple[float, float], size: float) -> Block | None:
    """The details (what is left of a long prompt) as running text in `box`, or None."""
    if not cv.copy.details or box[0] < 10 * cv.u or box[1] < 1.4 * size:
        return None
    block = body_text(cv.copy.details, key, box, size, min_size=min(size, 1.5 * cv.u))
    return block if block.set_lines else None


def linear_gradient(
    size: tuple[int, int], c1: RGB, c2: RGB, angle: float, inset: float = 0.0
) -> Image.Image:
    """c1 → c2 along `angle` (degrees), eased; pure colours reached `inset` from each end."""
    w, h = size
    sw, sh = max(2, w // 4), max(2, h // 4)  # smooth: compute small, enlarge linearly
    a = math.radians(angle)
    x = np.linspace(0, math.cos(a) * w / max(w, h), sw, dtype=np.float32)[None, :]
    y = np.linspace(0, math.sin(a) * h / max(w, h), sh, dtype=np.float32)[:, None]
    t = x + y
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-9)
    t = np.clip((t - inset) / (1 - 2 * inset), 0, 1)
    t = t * t * (3 - 2 * t)  # smoothstep: softer ends
    start = np.array(c1, np.float32)
    rgb = start + t[..., None] * (np.array(c2, np.float32) - start)
    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    return Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB").convert("RGBA")


def background(cv: Canvas, angle: float) -> None:
    """The ground: a gradient at `angle` when allowed and the palette has one, else flat."""
    if cv.has("gradient") and cv.pal.bg != cv.pal.bg2:
        cv.img.paste(linear_gradient(cv.img.size, cv.pal.bg, cv.pal.bg2, angle))
    else:
        cv.img.paste(Image.new("RGBA", cv.img.size, (*cv.pal.bg, 255)))


def grain(img: Image.Image, rng: random.Random, amount: float, blur: float = 0.0) -> Image.Image:
    """Monochrome film/paper grain, multiplied in (amount = std-dev as a fraction)."""
    gen = np.random.default_rng(rng.randrange(2**32))
    w, h = img.size
    if blur:  # mottling: smooth noise, made small and enlarged with a cubic filter
        small = (max(2, round(w / blur)), max(2, round(h / blur)))
        coarse = gen.normal(0.0, 1.0, (small[1], small[0])).astype(np.float32)
        noise = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
        noise = noise / max(float(noise.std()), 1e-6)
    else:
        noise = gen.normal(0.0, 1.0, (h, w)).astype(np.float32)
    arr = np.asarray(img.convert("RGB"), np.float32) * (1 + amount * noise[..., None])
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").convert("RGBA")
