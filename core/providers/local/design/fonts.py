"""The design fonts and the fallback chain that covers every script a member types.

Each style's display face ships as a PyPI package (SIL OFL 1.1); the scripts it
lacks come from Debian's Noto packages (`fonts-noto-core`, `fonts-noto-cjk`,
`fonts-noto-color-emoji`, installed by scripts/setup.sh). A character is set in
the first font of its role's chain whose cmap (read with fontTools) has it;
when no font has it, the text layer drops it and says so, so nothing is ever
drawn as an empty box.

Everything is loaded on first use and cached per process: worker processes
import this module at start-up, and most designs never need a fallback.
"""

from __future__ import annotations

import glob
import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

_FONT_FILES = {
    "display": ("font_rhd", "RedHatDisplay-Black.ttf"),
    "display-medium": ("font_rhd", "RedHatDisplay-Medium.ttf"),
    "serif": ("font_source_serif_pro", "SourceSerifPro-Black.ttf"),
    "serif-italic": ("font_source_serif_pro", "SourceSerifPro-It.ttf"),
    "serif-semibold": ("font_source_serif_pro", "SourceSerifPro-Semibold.ttf"),
    "thin": ("font_lato", "Lato-Light.ttf"),
    "regular": ("font_lato", "Lato-Regular.ttf"),
    "sans-bold": ("font_lato", "Lato-Bold.ttf"),
    "sans-black": ("font_lato", "Lato-Black.ttf"),
    "condensed": ("font_fjallaone", "FjallaOne-Regular.ttf"),
    "rounded": ("font_fredoka_one", "FredokaOne-Regular.ttf"),
}
# Which Noto family and weight stands in for each role's missing scripts.
_BOLD = {"display", "serif", "serif-semibold", "sans-bold", "sans-black", "condensed", "rounded"}
_SERIF = {"serif", "serif-italic", "serif-semibold"}
NOTO_DIRS = (
    os.environ.get("LUNEO_NOTO_DIR", ""),
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/opentype/noto",
)
# Scripts in the order they are tried after the role's own face (names without weight).
_SCRIPTS = ("", "Arabic", "Hebrew", "Devanagari", "Thai", "Armenian", "Georgian", "Bengali")
_CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2}  # faces in NotoSansCJK-*.ttc
EMOJI_SIZE = 109  # the only size Noto Color Emoji's bitmaps come in


@dataclass(frozen=True)
class Face:
    """One font file (and face index in a collection) in a fallback chain."""

    path: str
    index: int = 0
    emoji: bool = False

    @property
    def name(self) -> str:
        """The font file's stem, plus "#index" inside a collection."""
        return Path(self.path).stem + (f"#{self.index}" if self.index else "")


@lru_cache(maxsize=16)
def font_path(key: str) -> str:
    """The file for a font role ("display", "serif", ...), found in its package."""
    package, filename = _FONT_FILES[key]
    module = importlib.import_module(package)
    return str(Path(module.font_directory) / filename)


def _noto(name: str) -> str | None:
    for folder in NOTO_DIRS:
        if folder:
            for ext in (".ttf", ".otf", ".ttc"):
                path = os.path.join(folder, name + ext)
                if os.path.exists(path):
                    return path
    return None


@lru_cache(maxsize=64)
def chain(role: str, cjk: str = "ja") -> tuple[Face, ...]:
    """The role's own face, then Noto faces for other scripts, CJK, symbols and emoji."""
    weight = "Bold" if role in _BOLD else "Regular"
    family = "NotoSerif" if role in _SERIF else "NotoSans"
    faces = [Face(font_path(role))]
    for script in _SCRIPTS:
        path = _noto(f"{family}{script}-{weight}") or _noto(f"NotoSans{script}-{weight}")
        path = path or _noto(f"NotoSans{script}-Regular")
        if path:
            faces.append(Face(path))
    cjk_family = "NotoSerifCJK" if role in _SERIF else "NotoSansCJK"
    if cjk_path := _noto(f"{cjk_family}-{weight}") or _noto(f"NotoSansCJK-{weight}"):
        faces.append(Face(cjk_path, _CJK_INDEX.get(cjk, 0)))
    for name in ("NotoSansSymbols-Regular", "NotoSansSymbols2-Regular", "NotoSansMath-Regular"):
        if path := _noto(name):
            faces.append(Face(path))
    if emoji := _noto("NotoColorEmoji"):
        faces.append(Face(emoji, emoji=True))
    return tuple(dict.fromkeys(faces))


@lru_cache(maxsize=1)
def wide_faces() -> tuple[Face, ...]:
    """Every other Noto face on the machine, for scripts the chain does not name
    (Tamil, Khmer, Ethiopic, ...); scanned only when a character needs it."""
    paths: list[str] = []
    for folder in NOTO_DIRS:
        if folder:
            paths += sorted(glob.glob(os.path.join(folder, "Noto*-Regular.[ot]tf")))
    return tuple(Face(p) for p in paths)


@lru_cache(maxsize=512)
def cmap(face: Face) -> frozenset[int]:
    """The code points the face has glyphs for (its best cmap, read with fontTools)."""
    from fontTools.ttLib import TTFont  # only here: keeps worker start-up light

    try:
        font = TTFont(face.path, fontNumber=face.index, lazy=True)
        try:
            return frozenset(font.getBestCmap() or {})
        finally:
            font.close()
    except Exception:  # an unreadable font file covers nothing
        return frozenset()


@lru_cache(maxsize=64)
def cap_height(face: Face) -> float:
    """Cap height as a fraction of the em (from the OS/2 table), to match fallback sizes."""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(face.path, fontNumber=face.index, lazy=True)
        try:
            os2 = font.get("OS/2")
            cap = getattr(os2, "sCapHeight", 0) or 0.7 * font["head"].unitsPerEm
            return float(cap) / float(font["head"].unitsPerEm)
        finally:
            font.close()
    except Exception:
        return 0.7


@lru_cache(maxsize=1024)
def load(face: Face, size: int) -> ImageFont.FreeTypeFont:
    """A face at a pixel size, shaped with libraqm (HarfBuzz + FriBiDi); cached."""
    size = EMOJI_SIZE if face.emoji else max(1, size)
    return ImageFont.truetype(
        face.path, size, index=face.index, layout_engine=ImageFont.Layout.RAQM
    )


def load_font(key: str, size: int) -> ImageFont.FreeTypeFont:
    """A role's own face at a pixel size (labels that need no fallback)."""
    return load(Face(font_path(key)), size)
