"""Text as a member types it, made ready to set: clusters, fonts per run, bidi order.

A string is cut into user-perceived characters (a letter with its marks, an
emoji ZWJ sequence, a flag, a keycap), each cluster gets the first font of the
role's chain that has all its characters, and neighbouring clusters in the same
font become one run, shaped as a whole by libraqm (so Arabic joins and
Devanagari conjuncts form). Runs of a line are put in visual order with the
Unicode bidi rule for levels (L2), so Hebrew and Arabic read right to left
inside left-to-right text and the other way round.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from core.providers.local.design.fonts import Face, chain, cmap, wide_faces

ZWJ, ZWNJ, VS15, VS16, KEYCAP = 0x200D, 0x200C, 0xFE0E, 0xFE0F, 0x20E3
# Default-emoji-presentation characters below U+1F000 (the rest of that block is emoji).
_BMP_EMOJI = frozenset(
    [
        *(0x231A, 0x231B, 0x23E9, 0x23EA, 0x23EB, 0x23EC, 0x23F0, 0x23F3, 0x25FD, 0x25FE),
        *(0x2614, 0x2615, *range(0x2648, 0x2654), 0x267F, 0x2693, 0x26A1, 0x26AA, 0x26AB),
        *(0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2, 0x26F3, 0x26F5),
        *(0x26FA, 0x26FD, 0x2705, 0x270A, 0x270B, 0x2728, 0x274C, 0x274E, 0x2753, 0x2754),
        *(0x2755, 0x2757, 0x2795, 0x2796, 0x2797, 0x27B0, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50),
        0x2B55,
    ]
)


@dataclass(frozen=True)
class Piece:
    """A run of clusters set in one face, in logical order."""

    text: str
    face: Face
    rtl: bool | None  # None: neutral (spaces, punctuation, digits), takes its neighbours'


def _is_ri(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _extends(cp: int) -> bool:
    """Code points that belong to the cluster before them."""
    return (
        unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")
        or cp in (VS15, VS16, KEYCAP, ZWNJ)
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tones
        or 0xE0020 <= cp <= 0xE007F  # tag sequences (subdivision flags)
    )


def clusters(text: str) -> list[str]:
    """User-perceived characters: base + marks, ZWJ sequences, flag pairs, keycaps."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        if _is_ri(ord(text[i])) and j < n and _is_ri(ord(text[j])):
            j += 1
        while j < n:
            cp = ord(text[j])
            if _extends(cp):
                j += 1
            elif cp == ZWJ:
                j += 2 if j + 1 < n else 1
            else:
                break
        out.append(text[i:j])
        i = j
    return out


def is_emoji(cluster: str) -> bool:
    """Whether the cluster is shown as a colour emoji."""
    cps = [ord(c) for c in cluster]
    if VS15 in cps:
        return False
    base = cps[0]
    if VS16 in cps or KEYCAP in cps or (ZWJ in cps and base >= 0x2000):
        return True
    return (base >= 0x1F000 and base not in range(0x1F100, 0x1F1E6)) or base in _BMP_EMOJI


def _silent(ch: str) -> bool:
    """Format characters that draw nothing (bidi marks, zero widths, joiners on their own)."""
    return unicodedata.category(ch) == "Cf" and ord(ch) not in (ZWJ, ZWNJ)


def _droppable(ch: str) -> bool:
    """Characters never drawn: private use, unassigned, surrogates, controls."""
    return unicodedata.category(ch) in ("Co", "Cn", "Cs", "Cc")


def _neutral(cluster: str) -> bool:
    return all(unicodedata.category(c)[0] in "ZPNS" for c in cluster if not _extends(ord(c)))


def _direction(text: str) -> bool | None:
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return None


def cjk_language(text: str) -> str:
    """Which CJK face suits the text: Japanese with kana, Korean with hangul, else Chinese."""
    if any(0x3040 <= ord(c) <= 0x30FF for c in text):
        return "ja"
    if any(0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF for c in text):
        return "ko"
    return "zh"


def _needs(cluster: str) -> list[int]:
    """The code points a face must have to draw the cluster (joiners and selectors are
    handled by shaping)."""
    return [ord(c) for c in cluster if ord(c) not in (ZWJ, ZWNJ, VS15, VS16)] or [ord(cluster[0])]


def _face_for(cluster: str, faces: tuple[Face, ...], prev: Face | None) -> Face | None:
    need = _needs(cluster)
    if is_emoji(cluster):
        emoji = [f for f in faces if f.emoji and need[0] in cmap(f)]
        if emoji:
            return emoji[0]
    if (
        prev is not None
        and not prev.emoji
        and _neutral(cluster)
        and all(c in cmap(prev) for c in need)
    ):
        return prev  # spaces and punctuation stay with the run they sit in
    for face in faces:
        if not face.emoji and all(c in cmap(face) for c in need):
            return face
    for face in wide_faces():
        if all(c in cmap(face) for c in need):
            return face
    return None


@lru_cache(maxsize=4096)
def segment(text: str, role: str, cjk: str = "ja") -> tuple[tuple[Piece, ...], tuple[str, ...]]:
    """Runs of one face each (logical order), and the characters no font has."""
    faces = chain(role, cjk)
    pieces: list[tuple[str, Face]] = []
    dropped: list[str] = []
    prev: Face | None = None
    for raw in clusters(text):
        dropped += [c for c in raw if _droppable(c)]
        cluster = "".join(c for c in raw if not _droppable(c) and not _silent(c))
        if not cluster:
            continue
        face = _face_for(cluster, faces, prev)
        if face is None:  # keep the base if some font has it, else drop the cluster
            face = _face_for(cluster[0], faces, prev)
            if face is None:
                dropped.append(cluster)
                continue
            dropped += list(cluster[1:])
            cluster = cluster[0]
        if pieces and pieces[-1][1] == face:
            pieces[-1] = (pieces[-1][0] + cluster, face)
        else:
            pieces.append((cluster, face))
        prev = face
    return tuple(_split_spaces(pieces)), tuple(dropped)


def _split_spaces(pieces: list[tuple[str, Face]]) -> list[Piece]:
    """Runs with a direction; spaces at the edges of a right-to-left run become their
    own neutral run, so they land between the words after reordering."""
    out: list[Piece] = []
    for text, face in pieces:
        rtl = _direction(text)
        if rtl and not face.emoji:
            core = text.strip(" ")
            lead, trail = text[: len(text) - len(text.lstrip(" "))], text[len(text.rstrip(" ")) :]
            if lead:
                out.append(Piece(lead, face, None))
            out.append(Piece(core, face, True))
            if trail:
                out.append(Piece(trail, face, None))
        else:
            out.append(Piece(text, face, rtl))
    return out


def visual_order(pieces: list[Piece], base_rtl: bool) -> list[tuple[Piece, bool]]:
    """Runs left to right with each run's direction (bidi levels, rule L2)."""
    dirs: list[bool | None] = [p.rtl for p in pieces]
    for i, d in enumerate(dirs):
        if d is None:  # a neutral takes its neighbours' direction when they agree
            before = next((x for x in reversed(dirs[:i]) if x is not None), base_rtl)
            after = next((x for x in dirs[i + 1 :] if x is not None), base_rtl)
            dirs[i] = before if before == after else base_rtl
    levels = [(2 if base_rtl else 0) if not d else 1 for d in dirs]
    order = list(range(len(pieces)))
    for level in range(max(levels, default=0), 0, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = order[i:j][::-1]
                i = j
            else:
                i += 1
    return [(pieces[k], bool(dirs[k])) for k in order]


def base_direction(text: str) -> bool:
    """Right to left when the first strong character is Hebrew or Arabic."""
    return bool(_direction(text))
