"""Where lines may break, and the best breaks for a given number of lines.

Lines break only where a reader would: between words or CJK characters (a kana
word or a kanji with its okurigana stays whole), after the slashes and dots of
a long URL, never inside a phrase that belongs together ("this Saturday",
"50 customers", "8 pm", "March 12"), and never leaving a one- or two-word last
line when another break does better. Widths are given (measured by text.py),
so this module knows nothing of fonts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.providers.local.design.script import clusters

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
        same_kana = (
            bool(prev)
            and bool(_kana(cl[0]))
            and (_kana(cl[0]) == _kana(prev) or (_kana(cl[0]) == "h" and _is_cjk(prev)))
        )  # kana words stay whole; okurigana stay with their kanji
        if (
            parts
            and (_is_cjk(cl[0]) or _is_cjk(parts[-1][-1]))
            and cl[0] not in _CLOSE
            and parts[-1][-1] not in _OPEN
            and not same_kana
        ):
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
    """Returns "k" for katakana (with the long-vowel mark), "h" for hiragana, else "": a kana word
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
    limit = _narrowest_widest(ok, width, n)
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
        lines.append(join_tokens(toks[i:j]))
        j = i
    return lines[::-1]


def _narrowest_widest(ok: list[bool], width: list[list[float]], n: int) -> float:
    """The narrowest widest line of any n-line breaking (inf if there is none)."""
    m = len(ok) - 1
    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            if ok[j]:
                for i in range(k - 1, j):
                    if ok[i] and best[k - 1][i] < inf:
                        best[k][j] = min(best[k][j], max(best[k - 1][i], width[i][j]))
    return best[n][m]


def _badness(line: list[Token], w: float, limit: float, last: bool, total: int) -> float:
    slack = (limit - w) / max(limit, 1e-9)
    if last:
        return (4.0 if short_last_line(join_tokens(line), total) else 0.0) + 0.3 * slack * slack
    return slack * slack


def short_last_line(line: str, total: int) -> bool:
    """A last line of one or two words, in a text long enough to avoid one."""
    words = [w for w in line.split() if any(c.isalnum() for c in w)]
    return total >= 5 and len(words) <= 2 and not any(_is_cjk(c) for c in line)


def join_tokens(toks: list[Token]) -> str:
    """The tokens as text, with a space before each one that had one (not the first)."""
    return "".join((" " if t.space and k else "") + t.text for k, t in enumerate(toks))


def greedy_lines(toks: list[Token], wlen: list[float], space: float, limit: float) -> list[str]:
    """Fill each line up to `limit` (width at size 100) before starting the next, never breaking
    glued tokens."""
    lines: list[list[Token]] = [[]]
    w = 0.0
    for t, tw in zip(toks, wlen, strict=True):
        add = tw + (space if t.space and lines[-1] else 0.0)
        if lines[-1] and w + add > limit and not t.glue:
            lines.append([])
            w, add = 0.0, tw
        lines[-1].append(t)
        w += add
    return [join_tokens(ln) for ln in lines if ln]
