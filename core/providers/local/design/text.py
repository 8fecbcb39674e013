"""Type: breaking words into balanced lines, fitting them to a box, and drawing them.

Lines break only where a reader would: between words or CJK characters, after
the slashes and dots of a long URL, never inside a phrase that belongs together
("this Saturday", "50 customers", "8 pm"), and never leaving a one- or
two-word last line when another break does better. Blocks are measured by
their ink rather than the font's line box, so titles can be placed and stacked
by what the eye sees; every run is set in the font the fallback chain picks
(script.py), so no character becomes a box.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from PIL import Image, ImageDraw

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
# A line never ends on these words: they lead into the word after them.
_LEAD_IN = frozenset(
    """a an the this that these those next last every each of at on in for to by from with
    into onto no free de la le les du des un une au aux el los
    las del der die das ein eine im am und и в на с к по""".split()
)
_MONTHS = frozenset(
    """jan feb mar apr jun jul aug sep sept oct nov dec january february march april may june
    july august september october november december""".split()
)
_UNITS = re.compile(r"^(am|pm|a\.m\.|p\.m\.|h|%|st|nd|rd|th|km|kg|min|mins|€|\$)[.,;:!?]?$", re.I)
_CLOSE = set("、。，．！？：；）」』】〕〉》’”!?,.;:)]}%")
_OPEN = set("（「『【〔〈《‘“([{")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # kana
        or 0x3400 <= cp <= 0x9FFF  # ideographs
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x3FFFF
        or 0x3000 <= cp <= 0x303F  # CJK punctuation
        or 0xFF00 <= cp <= 0xFFEF  # full-width forms
    )


@dataclass(frozen=True)
class Token:
    """A piece of text between break opportunities, and how it joins the one before."""

    text: str
    space: bool  # a space before it (else it touches the previous token)
    glue: bool  # no line break allowed before it


def tokens(text: str) -> list[Token]:
    """Words, CJK characters and URL pieces, with the breaks a reader would accept."""
    out: list[Token] = []
    for word in text.split():
        parts = _split_word(word)
        for k, part in enumerate(parts):
            space = k == 0 and bool(out)
            glue = bool(out) and (
                (k > 0 and (part[0] in _CLOSE or parts[k - 1][-1] in _OPEN))
                or (k == 0 and _glued(out[-1].text, part))
            )
            out.append(Token(part, space, glue))
    return out


def _split_word(word: str) -> list[str]:
    """A word's own break points: between CJK characters, after URL separators."""
    parts: list[str] = []
    for cl in clusters(word):
        prev = parts[-1][-1] if parts else ""
        same_kana = bool(prev) and bool(_kana(cl[0])) and (
            _kana(cl[0]) == _kana(prev) or (_kana(cl[0]) == "h" and _is_cjk(prev))
        )  # kana words stay whole; okurigana stay with their kanji
        if parts and (_is_cjk(cl[0]) or _is_cjk(parts[-1][-1])) and cl[0] not in _CLOSE:
            if parts[-1][-1] not in _OPEN and not same_kana:
                parts.append(cl)
                continue
        if not parts:
            parts.append(cl)
        else:
            parts[-1] += cl
    if len(word) > 14 and not any(_is_cjk(c) for c in word):  # URLs, paths, long compounds
        split: list[str] = []
        for part in parts:
            split += [p for p in re.split(r"(?<=[/.\-_?&=])(?=[^/.\-_?&=])", part) if p]
        parts = split
    return parts or [word]


def _kana(ch: str) -> str:
    """"k" for katakana (with the long-vowel mark), "h" for hiragana, else "": a kana word
    is never split."""
    cp = ord(ch)
    if 0x30A0 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF:
        return "k"
    return "h" if 0x3040 <= cp <= 0x309F else ""


def _glued(prev: str, word: str) -> bool:
    """Whether a break between `prev` and `word` would split a phrase."""
    p = prev.lower().strip("\"'“”‘’(")
    w = word.lower().strip("\"'“”‘’),.;:!?")
    if p in _LEAD_IN and not re.search(r"[,.;:!?]$", prev):
        return True
    if re.fullmatch(r"[\d.,:]+", p) and (_UNITS.match(w) or w.isalpha()):
        return True  # "50 customers", "8 pm", "12 March"
    if p.rstrip(".") in _MONTHS and re.fullmatch(r"\d{1,2}(st|nd|rd|th)?[,.]?", w):
        return True  # "March 12"
    return not any(c.isalnum() for c in word)  # a lone dash or "&" stays with its line


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


def _line_widths(toks: list[Token], wlen: list[float], space: float) -> list[list[float]]:
    """width[i][j]: tokens i..j-1 on one line (at size 100)."""
    m = len(toks)
    out = [[0.0] * (m + 1) for _ in range(m + 1)]
    for i in range(m):
        w = 0.0
        for j in range(i, m):
            w += wlen[j] + (space if j > i and toks[j].space else 0.0)
            out[i][j + 1] = w
    return out


def break_lines(toks: list[Token], wlen: list[float], space: float, n: int) -> list[str] | None:
    """The best n lines: the narrowest widest line, then the most even lines with no short
    last line (penalised when the text has enough words to avoid one); None if n lines
    cannot be made without breaking a phrase."""
    m = len(toks)
    ok = [True] + [not t.glue for t in toks[1:]] + [True]  # ok[i]: a line may start at i
    width = _line_widths(toks, wlen, space)
    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]  # narrowest widest line
    best[0][0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            if ok[j]:
                for i in range(k - 1, j):
                    if ok[i] and best[k - 1][i] < inf:
                        best[k][j] = min(best[k][j], max(best[k - 1][i], width[i][j]))
    limit = best[n][m]
    if limit == inf:
        return None
    limit *= 1.04  # a little wider than the minimum buys much better shapes
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    cut = [[0] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            if not ok[j]:
                continue
            for i in range(k - 1, j):
                if not ok[i] or cost[k - 1][i] == inf or width[i][j] > limit:
                    continue
                c = cost[k - 1][i] + _badness(toks[i:j], width[i][j], limit, j == m, m)
                if c < cost[k][j]:
                    cost[k][j], cut[k][j] = c, i
    lines, j = [], m
    for k in range(n, 0, -1):
        i = cut[k][j]
        lines.append(_join(toks[i:j]))
        j = i
    return lines[::-1]


def _badness(line: list[Token], w: float, limit: float, last: bool, total: int) -> float:
    slack = (limit - w) / max(limit, 1e-9)
    if last:
        return (4.0 if _short_last(_join(line), total) else 0.0) + 0.3 * slack * slack
    return slack * slack


def _short_last(line: str, total: int) -> bool:
    """A last line of one or two words, in a text long enough to avoid one."""
    words = [w for w in line.split() if any(c.isalnum() for c in w)]
    return total >= 5 and len(words) <= 2 and not any(_is_cjk(c) for c in line)


def _join(toks: list[Token]) -> str:
    return "".join((" " if t.space and k else "") + t.text for k, t in enumerate(toks))


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
    best: tuple[float, float, list[str]] = (0.0, 0.0, [_join(toks)])  # score, size, lines
    for n in range(1, min(max_lines, len(toks)) + 1):
        lines = break_lines(toks, wlen, space, n)
        if lines is None:
            continue
        widest = max(_token_width(ln, key, tracking) for ln in lines)
        tall = leading * (n - 1) + 1.0  # ink of the first line is about one em at most
        size = min(bw / max(widest, 1e-6) * ref, bh / tall, max_size)
        score = size * (0.7 if n > 1 and _short_last(lines[-1], len(toks)) else 1.0)
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
        lines = _greedy(toks, wlen, space, bw / s * 100)
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


def _greedy(toks: list[Token], wlen: list[float], space: float, limit: float) -> list[str]:
    lines: list[list[Token]] = [[]]
    w = 0.0
    for t, tw in zip(toks, wlen, strict=True):
        add = tw + (space if t.space and lines[-1] else 0.0)
        if lines[-1] and w + add > limit and not t.glue:
            lines.append([])
            w, add = 0.0, tw
        lines[-1].append(t)
        w += add
    return [_join(ln) for ln in lines if ln]


def block_box(
    block: Block, xy: tuple[float, float]
) -> tuple[float, float, float, float]:
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
                    draw.text((cx, y), cl, font=font, fill=fill, anchor="ls",
                              stroke_width=stroke, stroke_fill=stroke_fill)
                    cx += float(font.getlength(cl)) + run.track
            elif run.text.strip():
                draw.text((x, y), run.text, font=load(run.face, round(run.size)), fill=fill,
                          anchor="ls", direction="rtl" if run.rtl else "ltr",
                          stroke_width=stroke, stroke_fill=stroke_fill)
            x += run.width


@lru_cache(maxsize=256)
def _emoji_bitmap(face: Face, text: str, height: int) -> tuple[Image.Image, int]:
    """Colour emoji drawn at their native size, scaled to `height` pixels; and the
    distance from the bitmap's top to the baseline."""
    font = load(face, EMOJI_SIZE)
    x0, y0, x1, y1 = font.getbbox(text, anchor="ls")
    img = Image.new("RGBA", (max(1, int(x1 - min(0, x0))), max(1, int(y1 - y0))), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((-min(0, x0), -y0), text, font=font, anchor="ls",
                             embedded_color=True)
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
