"""Inputs for the pixel-fidelity tests (issue 8), built in code so CI needs no files.

ICC profiles are written byte by byte from the published constants of each
colour space (D50-adapted colorants and tone curves, as in the profiles that
Apple, Adobe and Kodak ship); littleCMS reads them like any other profile.
No colour conversion happens here: the tests compare what the decoder does
against values read through ImageCms or published sRGB numbers.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageCms, ImageDraw

# D50-adapted colorants (rXYZ, gXYZ, bXYZ columns) and tone curves
# ('para' function type 3: sRGB-style curve; type 0: pure gamma).
_SRGB_CURVE = (3, (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
RGB_SPACES: dict[
    str, tuple[tuple[tuple[float, float, float], ...], tuple[int, tuple[float, ...]]]
] = {
    "Display P3": (
        (
            (0.515102, 0.241196, -0.001053),
            (0.291965, 0.692236, 0.041885),
            (0.157153, 0.066568, 0.784072),
        ),
        _SRGB_CURVE,
    ),
    "Adobe RGB (1998)": (
        (
            (0.609741, 0.311111, 0.019470),
            (0.205276, 0.625671, 0.060867),
            (0.149185, 0.063217, 0.744568),
        ),
        (0, (563 / 256,)),
    ),
    "ProPhoto RGB": (
        (
            (0.797760, 0.288040, 0.000000),
            (0.135190, 0.711874, 0.000000),
            (0.031349, 0.000086, 0.825104),
        ),
        (0, (1.8,)),
    ),
}
D50 = (0.9642, 1.0, 0.8249)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(v: tuple[float, float, float]) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15(c) for c in v)


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", len(ascii_))
        + ascii_
        + b"\0" * 8
        + b"\0" * 3
        + b"\0" * 67
    )


def _para(kind: int, params: tuple[float, ...]) -> bytes:
    return b"para" + b"\0" * 4 + struct.pack(">HH", kind, 0) + b"".join(_s15(p) for p in params)


def _profile(cls: bytes, space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2.1 profile: header, tag table, 4-byte aligned tag data."""
    table = b""
    body = b""
    offset = 128 + 4 + 12 * len(tags)
    for sig, raw in tags:
        data = raw + b"\0" * (-len(raw) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + cls
        + space
        + pcs
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 8
        + b"\0" * 8
        + struct.pack(">I", 0)
        + b"".join(_s15(c) for c in D50)
        + b"\0" * 4
        + b"\0" * 16
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def rgb_profile(name: str) -> bytes:
    """A matrix/TRC RGB display profile for one of RGB_SPACES, described as `name`."""
    (r, g, b), (kind, params) = RGB_SPACES[name]
    curve = _para(kind, params)
    return _profile(
        b"mntr",
        b"RGB ",
        b"XYZ ",
        [
            (b"desc", _desc(name)),
            (b"wtpt", _xyz(D50)),
            (b"rXYZ", _xyz(r)),
            (b"gXYZ", _xyz(g)),
            (b"bXYZ", _xyz(b)),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


# Inks of the test CMYK profile, as the sRGB colour each prints alone at 100 %:
# deliberately unlike a naive 255 - value, so a test can tell the profile was used.
CMYK_INKS = {"c": (0, 160, 224), "m": (224, 0, 124), "y": (255, 236, 0), "k": (35, 31, 32)}


def cmyk_profile() -> bytes:
    """A small printer profile (CMYK -> Lab, lut16 with a 2-point grid) named 'Test CMYK'.

    Corner colours are the product of the inks' sRGB values (a simple
    subtractive model), turned into Lab by ImageCms; littleCMS interpolates
    between the 16 corners.
    """
    inks = {k: np.array(v, np.float64) / 255.0 for k, v in CMYK_INKS.items()}
    corners = []
    for bits in range(16):
        c, m, y, k = ((bits >> s) & 1 for s in (3, 2, 1, 0))
        rgb = np.ones(3)
        for on, ink in zip((c, m, y, k), "cmyk", strict=True):
            if on:
                rgb *= inks[ink]
        corners.append(np.rint(rgb * 255).astype(np.uint8))
    strip = Image.fromarray(np.array(corners, np.uint8)[None], "RGB")
    to_lab = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )
    lab = np.asarray(ImageCms.applyTransform(strip, to_lab))[0]
    clut = b""
    for L, a, b in lab:  # Pillow's LAB bytes: L 0..255 = 0..100, a/b signed (int8)
        enc = (L / 255 * 0xFF00, (int(np.int8(a)) + 128) * 256, (int(np.int8(b)) + 128) * 256)
        clut += struct.pack(">HHH", *(min(0xFFFF, round(v)) for v in enc))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = struct.pack(">HH", 0, 0xFFFF)
    a2b = (
        b"mft2"
        + b"\0" * 4
        + bytes([4, 3, 2, 0])
        + identity
        + struct.pack(">HH", 2, 2)
        + ramp * 4
        + clut
        + ramp * 3
    )
    return _profile(
        b"prtr",
        b"CMYK",
        b"Lab ",
        [
            (b"desc", _desc("Test CMYK")),
            (b"wtpt", _xyz(D50)),
            (b"A2B0", a2b),
        ],
    )


# --------------------------------------------------------------------------- images


def save(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def disc_mask(side: int, radius: float, centre: float | None = None) -> np.ndarray:
    """Boolean side×side mask of a disc (pixel centres within `radius`)."""
    c = (side - 1) / 2 if centre is None else centre
    yy, xx = np.mgrid[0:side, 0:side]
    result: np.ndarray = (xx - c) ** 2 + (yy - c) ** 2 <= radius**2
    return result


def colour_key_png() -> bytes:
    """Case 1: 64×64 truecolour PNG, green made transparent by a tRNS key, red disc."""
    arr = np.zeros((64, 64, 3), np.uint8)
    arr[...] = (0, 255, 0)
    arr[disc_mask(64, 20)] = (255, 0, 0)
    return save(Image.fromarray(arr, "RGB"), transparency=(0, 255, 0))


def red_band_png() -> bytes:
    """Case 2: opaque red disc ringed by a 6 px red band at alpha 128, transparent outside."""
    rgba = np.zeros((128, 128, 4), np.uint8)
    band = disc_mask(128, 46)
    rgba[band] = (220, 20, 20, 128)
    rgba[disc_mask(128, 40)] = (220, 20, 20, 255)
    return save(Image.fromarray(rgba, "RGBA"))


def sticker_png() -> bytes:
    """Case 3: 64×64 yellow disc on transparent black (the hidden RGB is black)."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[disc_mask(64, 24)] = (255, 220, 0, 255)
    return save(Image.fromarray(rgba, "RGBA"))


P3_GREEN = (44, 187, 67)  # stored Display P3 numbers
# The same colour in sRGB, as littleCMS (and the published P3 -> sRGB matrix) gives
# it; red is below 0 in sRGB and clips. The "about (0,185,23)" was measured
# elsewhere; this is the colorimetric value.
P3_GREEN_IN_SRGB = (0, 190, 41)


def p3_png() -> bytes:
    """Case 4: left half P3 green, right half white, tagged Display P3."""
    arr = np.full((64, 64, 3), 255, np.uint8)
    arr[:, :32] = P3_GREEN
    return save(Image.fromarray(arr, "RGB"), icc_profile=rgb_profile("Display P3"))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_16bit(samples: np.ndarray, colour_type: int, trns: tuple[int, ...]) -> bytes:
    """A 16-bit PNG (colour type 0 grey or 2 RGB) with a tRNS key, written by hand.

    `samples`: uint16, H×W (grey) or H×W×3 (RGB). Pillow cannot write these.
    """
    h, w = samples.shape[:2]
    rows = samples.astype(">u2").reshape(h, -1).tobytes()
    stride = len(rows) // h
    raw = b"".join(b"\0" + rows[i * stride : (i + 1) * stride] for i in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"tRNS", b"".join(struct.pack(">H", v) for v in trns))
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def png_low_bit_grey(samples: np.ndarray, depth: int, key: int) -> bytes:
    """A 1-, 2- or 4-bit grey PNG with a tRNS key (in sample units), written by hand.

    `samples`: H×W ints in 0 .. 2^depth − 1, packed most significant bits first.
    """
    h, w = samples.shape
    per_byte = 8 // depth
    raw = b""
    for row in samples:
        padded = np.concatenate([row, np.zeros(-w % per_byte, row.dtype)]).astype(np.uint8)
        groups = padded.reshape(-1, per_byte)
        shifts = np.arange(per_byte - 1, -1, -1) * depth
        raw += b"\0" + (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"tRNS", struct.pack(">H", key))
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def gif_first_frame_inside_canvas(*, with_transparency: bool) -> bytes:
    """A 64×48 GIF whose only frame is 32×24 at (16, 12), red; `with_transparency`: one
    transparent pixel (index 0) at the frame's (0, 0), else no transparency at all.
    Pillow writes the frame; the canvas size and the frame's offset are then set in the
    header and the image descriptor."""
    frame = Image.new("P", (32, 24), 1)
    frame.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (253 * 3))
    if with_transparency:
        frame.putpixel((0, 0), 0)
    kw: dict[str, object] = {"transparency": 0} if with_transparency else {}
    data = bytearray(save(frame, "GIF", background=2, **kw))
    data[6:10] = struct.pack("<HH", 64, 48)  # logical screen width, height
    at = data.index(b"\x2c", 13)  # the image descriptor: left, top, width, height
    data[at + 1 : at + 5] = struct.pack("<HH", 16, 12)
    return bytes(data)


def png_with_big_text() -> bytes:
    """A valid-looking PNG whose 1.5 MB zTXt chunk comes before IDAT (issue 14, finding 6)."""
    good = save(Image.new("RGB", (8, 8), "red"))
    head, rest = good[:33], good[33:]  # signature + IHDR
    text = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"x" * 1_500_000))
    big = _chunk(b"tEXt", b"Comment\0" + b"y" * 1_500_000)
    return head + text + big + rest


def draw_disc(img: Image.Image, box: tuple[int, int, int, int], fill: tuple[int, ...]) -> None:
    ImageDraw.Draw(img).ellipse(box, fill=fill)
