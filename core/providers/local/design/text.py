"""Type: fitting text to a box in balanced lines (breaks.py), setting and drawing it.

Blocks are measured by their ink rather than the font's line box, so titles can
be placed and stacked by what the eye sees; every run is set in the font the
fallback chain picks (script.py), so no character becomes a box.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from PIL import Image, ImageDraw

from core.providers.local.design.breaks import (
    Token,
    break_lines,
    greedy_lines,
    join_tokens,
    short_last_line,
    tokens,
)
from core.providers.local.design.colours import RGB
from core.providers.local.design.fonts import EMOJI_SIZE, Face, cap_height, font_path, load
from core.providers.local.design.script import (
    Piece,
    base_direction,
    cjk_language,
    clusters,
    segment,
    visual_order,
)

MIN_SIZE = 6


@dataclass
class Run:
    """One face's stretch of a line, measured at its size, in visual order."""

    text: str
    face: Face
    size: float  # pixel size (emoji: the size it is scaled to)
    rtl: bool
    track: float  # extra pixels after each character (simple scripts only)
    width: float = 0.0
    top: float = 0.0  # ink top relative to the baseline (negative)
    bottom: float = 0.0

    def measure(self) -> Run:
        font = load(self.face, round(self.size))
        if self.face.emoji:
            k = self.size / EMOJI_SIZE
            self.width = float(font.getlength(self.text)) * k
            _, y0, _, y1 = font.getbbox(self.text, anchor="ls")
            self.top, self.bottom = y0 * k * 0.9, y1 * k * 0.9
            return self
        direction = "rtl" if self.rtl else "ltr"
        if self.track:
            parts = clusters(self.text)
            self.width = sum(float(font.getlength(c)) for c in parts)
            self.width += self.track * max(0, len(parts) - 1)
        else:
            self.width = float(font.getlength(self.text, direction=direction))
        if self.text.strip():
            _, y0, _, y1 = font.getbbox(self.text, anchor="ls", direction=direction)
            self.top, self.bottom = float(y0), float(y1)
        return self


@dataclass
class Line:
    """One line: its logical text and its runs left to right."""

    text: str
    runs: list[Run]
    width: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    rtl: bool = False


@dataclass
class Block:
    """Lines of text in one role's fonts, measured by their ink (not the font's line box)."""

    lines: list[str]
    key: str
    size: int
    leading: float = 1.1
    tracking: float = 0.0  # extra space between letters, in em
    top: float = 0.0  # ink top relative to the first baseline (negative)
    width: float = 0.0
    height: float = 0.0
    widths: list[float] = field(default_factory=list)
    set_lines: list[Line] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)  # from the first baseline
    dropped: tuple[str, ...] = ()

    @property
    def cap(self) -> float:
        """Cap height of the block's own face, in pixels."""
        return cap_height(Face(font_path(self.key))) * self.size

    @property
    def text(self) -> str:
        """The lines joined with spaces."""
        return " ".join(self.lines)

    def measure(self) -> Block:
        """Set every line in runs, space the baselines, fill in the ink box; returns self."""
        self.set_lines = [set_line(t, self.key, self.size, self.tracking) for t in self.lines]
        self.widths = [ln.width for ln in self.set_lines]
        self.baselines, y = [], 0.0
        for i, ln in enumerate(self.set_lines):
            if i:
                prev = self.set_lines[i - 1]
                # tall scripts (Devanagari, Thai marks) get the room they need
                y += max(self.leading * self.size, prev.bottom - ln.top + 0.06 * self.size)
            self.baselines.append(y)
        inked = [(ln, b) for ln, b in zip(self.set_lines, self.baselines, strict=True) if ln.runs]
        if not inked:
            self.top = self.width = self.height = 0.0
            return self
        self.top = min(ln.top + b for ln, b in inked)
        self.width = max(self.widths, default=0.0)
        self.height = max(ln.bottom + b for ln, b in inked) - self.top
        return self


def _fallback_size(face: Face, key: str, size: float) -> float:
    """Size for a fallback face, matched to the role's cap height (within reason)."""
    if face.emoji:
        return size * 0.95
    own = cap_height(Face(font_path(key)))
    return size * min(1.25, max(0.85, own / max(cap_height(face), 0.3)))


def set_line(text: str, key: str, size: int, tracking: float = 0.0) -> Line:
    """A line's runs in visual order, each in its face and measured."""
    pieces, _ = segment(text, key, cjk_language(text))
    rtl = base_direction(text)
    own = font_path(key)
    runs = []
    for piece, piece_rtl in visual_order(list(pieces), rtl):
        simple = all(ord(c) < 0x530 for c in piece.text)
        runs.append(
            Run(
                piece.text,
                piece.face,
                size if piece.face.path == own else _fallback_size(piece.face, key, size),
                piece_rtl,
                tracking * size if simple and not piece.face.emoji else 0.0,
            ).measure()
        )
    inked = [r for r in runs if r.text.strip()]
    return Line(
        text,
        runs,
        sum(r.width for r in runs),
        min((r.top for r in inked), default=0.0),
        max((r.bottom for r in inked), default=0.0),
        rtl,
    )


def dropped_chars(text: str, key: str) -> tuple[str, ...]:
    """Characters of `text` that no font in the role's chain has."""
    return segment(text, key, cjk_language(text))[1]


@lru_cache(maxsize=4096)
def _token_width(text: str, key: str, tracking: float) -> float:
    """Width of a token at size 100 (widths scale with size)."""
    return set_line(text, key, 100, tracking).width


def _widths(toks: list[Token], key: str, tracking: float) -> tuple[list[float], float]:
    words = [_token_width(t.text, key, tracking) for t in toks]
    return words, _token_width("x x", key, tracking) - 2 * _token_width("x", key, tracking)


def fit_text(
    text: str,
    key: str,
    box: tuple[float, float],
    max_lines: int = 4,
    leading: float = 1.1,
    tracking: float = 0.0,
    max_size: float = 1e9,
    min_size: float = MIN_SIZE,
) -> Block:
    """The largest size (≤ max_size) at which `text`, in balanced lines, fits `box`.
    Odd text (nothing drawable, a zero or negative box) gives a small or empty block,
    never an error."""
    toks = tokens(text)
    bw, bh = max(box[0], 1.0), max(box[1], 1.0)
    if not toks:
        return Block([], key, int(max(min_size, MIN_SIZE)), leading, tracking).measure()
    wlen, space = _widths(toks, key, tracking)
    ref = 100.0
    best: tuple[float, float, list[str]] = (0.0, 0.0, [join_tokens(toks)])  # score, size, lines
    for n in range(1, min(max_lines, len(toks)) + 1):
        lines = break_lines(toks, wlen, space, n)
        if lines is None:
            continue
        widest = max(_token_width(ln, key, tracking) for ln in lines)
        tall = leading * (n - 1) + 1.0  # ink of the first line is about one em at most
        size = min(bw / max(widest, 1e-6) * ref, bh / tall, max_size)
        score = size * (0.7 if n > 1 and short_last_line(lines[-1], len(toks)) else 1.0)
        if score > best[0] * 1.04:  # fewer lines unless more are clearly bigger
            best = (score, size, lines)
    size = int(max(min_size, MIN_SIZE, min(best[1], 4000)))
    block = Block(best[2], key, size, leading, tracking).measure()
    while block.size > max(min_size, MIN_SIZE) and (block.width > bw or block.height > bh):
        block = Block(block.lines, key, int(block.size * 0.96), leading, tracking).measure()
    block.dropped = dropped_chars(text, key)
    return block


def body_text(
    text: str,
    key: str,
    box: tuple[float, float],
    size: float,
    leading: float = 1.35,
    min_size: float = 11.0,
) -> Block:
    """Running text filling lines greedily (paragraph style, not balanced), shrinking
    to `min_size` if needed and then ending with "…" where the box runs out."""
    toks = tokens(text)
    bw, bh = max(box[0], 1.0), max(box[1], 1.0)
    if not toks:
        return Block([], key, int(size), leading).measure()
    wlen, space = _widths(toks, key, 0.0)
    s = float(size)
    while True:
        lines = greedy_lines(toks, wlen, space, bw / s * 100)
        fits = (len(lines) - 1) * leading * s + s <= bh
        if fits or s * 0.92 < min_size:
            break
        s *= 0.92
    rows = max(1, int((bh - s) / (leading * s)) + 1)
    if len(lines) > rows:
        lines = lines[:rows]
        lines[-1] = lines[-1].rstrip(" ,.;:") + " …"
    block = Block(lines, key, int(s), leading).measure()
    while block.size > MIN_SIZE and (block.width > bw or block.height > bh):
        block = Block(block.lines, key, int(block.size * 0.96), leading).measure()
    block.dropped = dropped_chars(text, key)
    return block


def block_box(block: Block, xy: tuple[float, float]) -> tuple[float, float, float, float]:
    """The ink box of `block` drawn with its top-left at xy."""
    return (xy[0], xy[1], xy[0] + block.width, xy[1] + block.height)


def draw_block(
    img: Image.Image,
    block: Block,
    xy: tuple[float, float],
    fill: RGB | tuple[int, int, int, int],
    align: Literal["left", "center"] = "left",
    stroke: int = 0,
    stroke_fill: RGB | None = None,
) -> None:
    """Draw with the block's ink box's top-left at xy; lines left-aligned (right-aligned
    for right-to-left text) or centred; colour emoji composited from their bitmaps."""
    draw = ImageDraw.Draw(img)
    for ln, base in zip(block.set_lines, block.baselines, strict=True):
        free = block.width - ln.width
        shift = free / 2 if align == "center" else (free if ln.rtl else 0.0)
        x, y = xy[0] + shift, xy[1] - block.top + base
        for run in ln.runs:
            if run.face.emoji:
                _draw_emoji(img, run, (x, y))
            elif run.track:
                font = load(run.face, round(run.size))
                cx = x
                for cl in clusters(run.text):
                    draw.text(
                        (cx, y),
                        cl,
                        font=font,
                        fill=fill,
                        anchor="ls",
                        stroke_width=stroke,
                        stroke_fill=stroke_fill,
                    )
                    cx += float(font.getlength(cl)) + run.track
            elif run.text.strip():
                draw.text(
                    (x, y),
                    run.text,
                    font=load(run.face, round(run.size)),
                    fill=fill,
                    anchor="ls",
                    direction="rtl" if run.rtl else "ltr",
                    stroke_width=stroke,
                    stroke_fill=stroke_fill,
                )
            x += run.width


@lru_cache(maxsize=256)
def _emoji_bitmap(face: Face, text: str, height: int) -> tuple[Image.Image, int]:
    """Colour emoji drawn at their native size, scaled to `height` pixels; and the
    distance from the bitmap's top to the baseline."""
    font = load(face, EMOJI_SIZE)
    x0, y0, x1, y1 = font.getbbox(text, anchor="ls")
    img = Image.new("RGBA", (max(1, int(x1 - min(0, x0))), max(1, int(y1 - y0))), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((-min(0, x0), -y0), text, font=font, anchor="ls", embedded_color=True)
    k = height / max(1, y1 - y0)
    size = (max(1, round(img.width * k)), max(1, height))
    return img.resize(size, Image.Resampling.LANCZOS), round(-y0 * k)


def _draw_emoji(img: Image.Image, run: Run, at: tuple[float, float]) -> None:
    height = round(run.bottom - run.top)
    if height < 1:
        return
    bitmap, rise = _emoji_bitmap(run.face, run.text, height)
    x, y = round(at[0]), round(at[1] - rise)
    if x >= img.width or y >= img.height or x + bitmap.width <= 0 or y + bitmap.height <= 0:
        return
    img.alpha_composite(bitmap, (max(0, x), max(0, y)), (max(0, -x), max(0, -y)))


def visible(text: str) -> bool:
    """Whether `text` has something to draw (letters, digits, punctuation, symbols)."""
    return any(unicodedata.category(ch)[0] in "LNPS" for ch in text)


__all__ = ["Block", "Piece", "Token", "block_box", "body_text", "draw_block", "fit_text"]
