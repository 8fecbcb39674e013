"""Palette swatch files that design tools import, from a palette result's colours.

Two formats, because no single one is read everywhere:

* `.ase` (Adobe Swatch Exchange, binary): Photoshop, Illustrator, InDesign,
  Affinity, Procreate and most design apps import it as a named swatch group.
* `.gpl` (GIMP palette, text): GIMP, Inkscape, Krita, Aseprite and Scribus read it.

Both keep the colour names. `hex_block` is the same colours as text to paste anywhere.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

_ASE_GROUP_START, _ASE_GROUP_END, _ASE_COLOUR = 0xC001, 0xC002, 0x0001
_ASE_GLOBAL = 0


def _rgb(colour: dict[str, Any]) -> tuple[int, int, int]:
    hexcode = str(colour["hex"]).lstrip("#")
    return int(hexcode[0:2], 16), int(hexcode[2:4], 16), int(hexcode[4:6], 16)


def _label(colour: dict[str, Any]) -> str:
    return f"{colour.get('name') or colour['hex']} {str(colour['hex']).lower()}"


def _ase_string(text: str) -> bytes:
    """A UTF-16BE string with its length in code units (terminator included)."""
    data = (text + "\0").encode("utf-16-be")
    return struct.pack(">H", len(data) // 2) + data


def _ase_block(kind: int, body: bytes) -> bytes:
    return struct.pack(">HI", kind, len(body)) + body


def ase_bytes(colours: Sequence[dict[str, Any]], title: str = "Luneo palette") -> bytes:
    """An Adobe Swatch Exchange file (version 1.0) with one group named `title` holding
    each colour (`{"hex": "#rrggbb", "name": ...}`) as a global RGB swatch."""
    blocks = [_ase_block(_ASE_GROUP_START, _ase_string(title))]
    for c in colours:
        r, g, b = _rgb(c)
        body = (_ase_string(_label(c)) + b"RGB "
                + struct.pack(">fffH", r / 255, g / 255, b / 255, _ASE_GLOBAL))
        blocks.append(_ase_block(_ASE_COLOUR, body))
    blocks.append(_ase_block(_ASE_GROUP_END, b""))
    return b"ASEF" + struct.pack(">HHI", 1, 0, len(blocks)) + b"".join(blocks)


def gpl_text(colours: Sequence[dict[str, Any]], title: str = "Luneo palette") -> str:
    """A GIMP palette: header, then `R G B<TAB>name` per colour."""
    lines = ["GIMP Palette", f"Name: {title}", f"Columns: {min(len(colours), 8) or 1}", "#"]
    for c in colours:
        r, g, b = _rgb(c)
        lines.append(f"{r:3d} {g:3d} {b:3d}\t{_label(c)}")
    return "\n".join(lines) + "\n"


def hex_block(colours: Sequence[dict[str, Any]]) -> str:
    """The hex codes in a Markdown code block (one line, space separated), to copy
    in one go."""
    return "```\n" + " ".join(str(c["hex"]).lower() for c in colours) + "\n```"
