"""Type: fitting words to a box in balanced lines, and drawing them exactly.

Blocks are measured by their ink rather than the font's line box, so titles can
be placed and stacked by what the eye sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import ImageDraw, ImageFont

from core.providers.local.design.colours import RGB
from core.providers.local.design.fonts import load_font


@dataclass
class Block:
    """Lines of text set in one font, measured by their ink (not the font's line box)."""

    lines: list[str]
    key: str
    size: int
    leading: float = 1.1
    tracking: float = 0.0  # extra space between letters, in em
    top: float = 0.0  # ink top relative to the first baseline (negative)
    width: float = 0.0
    height: float = 0.0
    widths: list[float] = field(default_factory=list)

    @property
    def font(self) -> ImageFont.FreeTypeFont:
        """The block's font at its size."""
        return load_font(self.key, self.size)

    def measure(self) -> Block:
        """Fill in the ink box (top, width, height, line widths); returns self."""
        font, adv = self.font, self.leading * self.size
        tops, bottoms, self.widths = [], [], []
        for i, line in enumerate(self.lines):
            _, y0, _, y1 = font.getbbox(line, anchor="ls")
            self.widths.append(_line_width(font, line, self.tracking * self.size))
            tops.append(y0 + i * adv)
            bottoms.append(y1 + i * adv)
        self.top = min(tops) if tops else 0.0
        self.width = max(self.widths, default=0.0)
        self.height = (max(bottoms) - self.top) if bottoms else 0.0
        return self


def _line_width(font: ImageFont.FreeTypeFont, line: str, track: float) -> float:
    """Advance width of `line` with `track` pixels between letters."""
    return float(font.getlength(line)) + track * max(0, len(line) - 1)


def fit_text(
    text: str,
    key: str,
    box: tuple[float, float],
    max_lines: int = 4,
    leading: float = 1.1,
    tracking: float = 0.0,
    max_size: float = 1e9,
) -> Block:
    """The largest size (≤ max_size) at which `text`, broken into balanced lines, fits `box`."""
    words = text.split() or [" "]
    ref = 100
    font = load_font(key, ref)
    wlen = [_line_width(font, w, tracking * ref) for w in words]
    space = float(font.getlength(" ")) + tracking * ref
    ascent, descent = font.getmetrics()
    best: tuple[float, list[str]] = (0.0, [text])
    for n in range(1, min(max_lines, len(words)) + 1):
        lines, widest = _balanced(words, wlen, space, n)
        tall = (leading * (n - 1) + (ascent + descent) / ref) * ref
        size = min(box[0] / widest * ref, box[1] / tall * ref, max_size)
        if size > best[0] * 1.04:  # fewer lines unless more are clearly bigger
            best = (size, lines)
    block = Block(best[1], key, max(6, int(best[0])), leading, tracking).measure()
    while block.size > 6 and (block.width > box[0] or block.height > box[1]):
        block = Block(block.lines, key, int(block.size * 0.96), leading, tracking).measure()
    return block


def _balanced(words: list[str], wlen: list[float], space: float, n: int) -> tuple[list[str], float]:
    """Split words into n lines minimising the widest line (dynamic programming)."""
    m = len(words)
    pre = np.concatenate([[0.0], np.cumsum(wlen)])

    def width(i: int, j: int) -> float:  # words[i:j] on one line
        return float(pre[j] - pre[i]) + space * (j - i - 1)

    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    cut = [[0] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            for i in range(k - 1, j):
                c = max(cost[k - 1][i], width(i, j))
                if c < cost[k][j]:
                    cost[k][j], cut[k][j] = c, i
    lines, j = [], m
    for k in range(n, 0, -1):
        i = cut[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1], cost[n][m]


def draw_block(
    draw: ImageDraw.ImageDraw,
    block: Block,
    xy: tuple[float, float],
    fill: RGB | tuple[int, int, int, int],
    align: Literal["left", "center"] = "left",
    stroke: int = 0,
    stroke_fill: RGB | None = None,
) -> None:
    """Draw with the block's ink box's top-left at xy, each line left or centred."""
    font, adv = block.font, block.leading * block.size
    for i, line in enumerate(block.lines):
        free = block.width - block.widths[i]
        x = xy[0] + (free / 2 if align == "center" else 0)
        y = xy[1] - block.top + i * adv
        if block.tracking:
            track = block.tracking * block.size
            for ch in line:
                draw.text(
                    (x, y),
                    ch,
                    font=font,
                    fill=fill,
                    anchor="ls",
                    stroke_width=stroke,
                    stroke_fill=stroke_fill,
                )
                x += float(font.getlength(ch)) + track
        else:
            draw.text(
                (x, y),
                line,
                font=font,
                fill=fill,
                anchor="ls",
                stroke_width=stroke,
                stroke_fill=stroke_fill,
            )
