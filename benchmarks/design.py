"""Design benchmark: prompts in every script, every style and aspect, automated checks.

    .venv/bin/python benchmarks/design.py     # writes benchmarks/results/design.md and
                                              # benchmarks/results/design_sheet.png

Each prompt is rendered in all 5 styles, without colours and with a set of
colours; the aspect ratio rotates so that every (style, aspect, colours)
combination is covered (120 designs). Every design goes through the real
command line, `studio run design ... --json` (a fresh database in a temporary
folder), and is rendered again in this process to get the renderer's layout
record; the two images must be identical. The family-picnic prompt ends with a
private-use character (U+E000), which no font has. Checks per design:

- no missing glyph: every character of every text run is in the cmap (read with
  fontTools) of the font the run was set in; characters no font has are dropped
  by the renderer and counted;
- no overlap: no text box intersects a shape box (both recorded by the renderer);
- inside the safe margin: every text box at least 4 % of the shorter side from
  each edge;
- title cap height: at least MIN_TITLE_CAP[aspect] of the canvas height for short
  titles (at most 24 characters), and at least MIN_ANY_CAP for any title (both in
  core/providers/local/design/render.py);
- colour share (designs with colours): the share of non-text pixels within
  CIEDE2000 15 of a requested colour or one of its tints or shades (mixed with
  white or black up to 85 %) is at least 60 %, and the share of saturated
  non-text pixels (chroma > 25) far from all of them is under 2 %;
- time: render + PNG encode (as the provider does) in a warm process (every
  font and fallback loaded once before timing), at most 1.5 s.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.color import deltaE_ciede2000, rgb2lab

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cli import main as studio
from core.colors import parse_color
from core.providers.local.design import SIZES, render_design
from core.providers.local.design.fonts import load_font
from core.providers.local.design.render import MIN_ANY_CAP, MIN_TITLE_CAP, encode_png
from core.tools.base import DesignParams

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STYLES = ("modern", "vintage", "minimal", "bold", "playful")
ASPECTS = ("1:1", "16:9", "9:16", "4:3")
_LONG = (
    "Riverside community garden spring festival. Join us for seed swaps, hands-on workshops "
    "on composting and beekeeping, live music from three local bands, a kids' corner with "
    "face painting and a treasure hunt, and plenty of food trucks serving everything from "
    "tacos to vegan curry and fresh lemonade. "
)
PROMPTS: dict[str, str] = {
    "emoji": "🎮 Game night 🍕🎉 Friday at 8pm 🔥",
    "zwj+flags": "👩‍👩‍👧‍👦 Family picnic 🇫🇷🇯🇵🇧🇷 👍🏽👋🏿 Sunday in the park 🏳️‍🌈 \ue000",
    "cjk": "东京 ラーメン 祭り ramen festival",
    "arabic": "مهرجان الطعام السنوي في الحديقة، يوم السبت القادم",
    "hebrew": "פסטיבל האוכל השנתי בפארק, ביום שבת הקרוב",
    "devanagari": "दिवाली मेला — संगीत, मिठाई और रोशनी",
    "thai": "เทศกาลอาหารริมแม่น้ำ วันเสาร์นี้",
    "cyrillic": "Летний джазовый фестиваль в парке. Вход свободный!",
    "url": "https://luneo.example.com/events/summer-2025?ref=discord",
    "one word": "Hi",
    "1000 chars": (_LONG * 5)[:1000],
    "bakery": "Grand opening of our neighbourhood bakery this Saturday, free croissants for the "
    "first 50 customers",
}
COLOUR_SETS = ("#1b4965,#62b6cb,#fb8500", "black,white", "#e63946,#f1faee", "#2a9d8f", "navy,gold")
MIN_CAP = MIN_TITLE_CAP
ANY_CAP = MIN_ANY_CAP
MAX_SECONDS = 1.5
IGNORABLE = {0x200D, 0x200C, 0xFE0E, 0xFE0F}


def matrix() -> list[tuple[str, str, str, str]]:
    """(prompt key, style, aspect, colours) for every prompt × style × with/without colours."""
    out = []
    for i, key in enumerate(PROMPTS):
        for s, style in enumerate(STYLES):
            for c in (0, 1):
                aspect = ASPECTS[(i + s + 2 * c) % 4]
                colours = COLOUR_SETS[(i + s) % len(COLOUR_SETS)] if c else ""
                out.append((key, style, aspect, colours))
    return out


def run_cli(job: tuple[str, str, str, str], folder: Path, n: int) -> tuple[Path, dict]:
    """`studio run design ... --json` (the `studio` entry point, called in this process so
    120 runs do not pay 120 interpreter start-ups; each run opens and closes its engine)."""
    key, style, aspect, colours = job
    out = folder / f"{n:03d}.png"
    argv = [
        "--config",
        str(folder / "config.toml"),
        "run",
        "design",
        PROMPTS[key],
        "--style",
        style,
        "--aspect",
        aspect,
        "--json",
        "-o",
        str(out),
    ]
    if colours:
        argv += ["--colors", colours]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = studio(argv)
    if status != 0:
        raise SystemExit(f"studio run failed for {job}: {printed.getvalue()}")
    return out, json.loads(printed.getvalue())


@lru_cache(maxsize=64)
def cmap_of(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(path, fontNumber=index, lazy=True).getBestCmap() or {})


def missing_glyphs(layout) -> int:  # type: ignore[no-untyped-def]
    """Characters drawn in a font whose cmap lacks them (should be 0)."""
    bad = 0
    for text_box in layout.texts:
        for text, path, index in text_box.runs:
            cm = cmap_of(path, index)
            bad += sum(
                1
                for c in text
                if ord(c) not in IGNORABLE
                and ord(c) not in cm
                and not (0xE0020 <= ord(c) <= 0xE007F and 0xE0020 in cm)
            )
    return bad


def overlaps(layout) -> int:  # type: ignore[no-untyped-def]
    n = 0
    for t in layout.texts:
        for s in layout.shapes:
            a = t.box
            if a[0] < s[2] and s[0] < a[2] and a[1] < s[3] and s[1] < a[3]:
                n += 1
    return n


def outside_margin(layout, size: tuple[int, int]) -> int:  # type: ignore[no-untyped-def]
    m = 0.04 * min(size) - 0.5
    w, h = size
    return sum(
        1
        for t in layout.texts
        if t.box[0] < m or t.box[1] < m or t.box[2] > w - m or t.box[3] > h - m
    )


def colour_shares(img: Image.Image, layout, colours: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(share of non-text pixels near a requested colour ladder, share of saturated
    non-text pixels far from it), on a quarter-size copy."""
    small = img.reduce(4)
    mask = Image.new("L", small.size, 255)
    d = ImageDraw.Draw(mask)
    for t in layout.texts:
        d.rectangle([v / 4 for v in t.box], fill=0)
    keep = np.asarray(mask) > 0
    lab = rgb2lab(np.asarray(small, np.float64)[keep] / 255.0)
    ladder = []
    for name in colours.split(","):
        rgb = parse_color(name.strip())
        assert rgb is not None
        c = np.array(rgb, np.float64)
        for t in np.linspace(0, 0.85, 18):
            ladder += [c + (255 - c) * t, c * (1 - t)]
    ladder_lab = rgb2lab(np.array(ladder)[None, :, :] / 255.0)[0]
    # nearest ladder colour by plain Lab distance first, then CIEDE2000 to the few nearest
    dist = np.linalg.norm(lab[:, None, :] - ladder_lab[None, :, :], axis=2)
    nearest = np.argsort(dist, axis=1)[:, :4]
    best = np.full(len(lab), np.inf)
    for k in range(nearest.shape[1]):
        best = np.minimum(best, deltaE_ciede2000(lab, ladder_lab[nearest[:, k]]))
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    return float((best <= 15).mean()), float(((best > 15) & (chroma > 25)).mean())


def timed_render(params: DesignParams) -> tuple[Image.Image, object, float]:
    t0 = time.perf_counter()
    img, layout = render_design(params)
    encode_png(img)
    return img, layout, time.perf_counter() - t0


def main() -> None:
    jobs = matrix()
    work = Path(tempfile.mkdtemp(prefix="design-bench-"))
    (work / "config.toml").write_text(
        f'[storage]\ndatabase = "{work}/studio.db"\nresults_dir = "{work}/results"\n'
    )
    t0 = time.perf_counter()
    cli = [run_cli(job, work, n) for n, job in enumerate(jobs)]
    cli_seconds = time.perf_counter() - t0
    for prompt in PROMPTS.values():  # warm this process: every font and fallback loaded once
        render_design(DesignParams(prompt=prompt, style="modern"))
    rows = []
    for job, (path, result) in zip(jobs, cli, strict=True):
        key, style, aspect, colours = job
        params = DesignParams(prompt=PROMPTS[key], style=style, aspect=aspect, colors=colours)
        img, layout, seconds = timed_render(params)
        same = np.array_equal(np.asarray(img), np.asarray(Image.open(path).convert("RGB")))
        cap = layout.title_cap / SIZES[aspect][1]
        short = len(layout.copy.title) <= 24
        share, stray = colour_shares(img, layout, colours) if colours else (None, None)
        rows.append(
            {
                "job": job,
                "img": img,
                "seconds": seconds,
                "same": same,
                "missing": missing_glyphs(layout),
                "dropped": len(layout.dropped),
                "overlap": overlaps(layout),
                "margin": outside_margin(layout, SIZES[aspect]),
                "cap": cap,
                "cap_ok": cap >= (MIN_CAP[aspect] if short else ANY_CAP),
                "short": short,
                "share": share,
                "stray": stray,
                "note": result.get("note", ""),
                "title": layout.copy.title,
            }
        )
    write_sheet(rows)
    write_table(rows, cli_seconds)


def write_sheet(rows: list[dict]) -> None:
    cell, pad, label_h = 165, 6, 40  # keeps the PNG under 2 MB
    cols = len(STYLES) * 2
    keys = list(PROMPTS)
    sheet = Image.new("RGB", (160 + cols * cell, label_h + len(keys) * cell), (245, 245, 245))
    d = ImageDraw.Draw(sheet)
    font = load_font("sans-bold", 15)
    for s, style in enumerate(STYLES):
        for c in (0, 1):
            x = 160 + (2 * s + c) * cell
            d.text(
                (x + pad, 12), f"{style} {'+ colours' if c else ''}", fill=(30, 30, 30), font=font
            )
    for r, key in enumerate(keys):
        d.text((8, label_h + r * cell + cell // 2), key, fill=(30, 30, 30), font=font)
    for row in rows:
        key, style, aspect, colours = row["job"]
        r, col = keys.index(key), 2 * STYLES.index(style) + (1 if colours else 0)
        tile = row["img"].copy()
        tile.thumbnail((cell - 2 * pad, cell - 2 * pad - 16), Image.Resampling.LANCZOS)
        x = 160 + col * cell + (cell - tile.width) // 2
        y = label_h + r * cell + pad
        sheet.paste(tile, (x, y))
        d.text(
            (160 + col * cell + pad, y + tile.height + 2),
            aspect,
            fill=(90, 90, 90),
            font=load_font("regular", 12),
        )
    RESULTS.mkdir(exist_ok=True)
    sheet.save(RESULTS / "design_sheet.png", optimize=True)


def write_table(rows: list[dict], cli_seconds: float) -> None:
    times = [r["seconds"] for r in rows]
    coloured = [r for r in rows if r["share"] is not None]
    lines = [
        "# Design renderer: every script, style and aspect",
        "",
        f"`.venv/bin/python benchmarks/design.py` on {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}. {len(rows)} designs ({len(PROMPTS)} prompts "
        f"× {len(STYLES)} styles × with/without colours; aspect rotating so every style, aspect "
        f"and colours combination appears), each through `studio run design --json` "
        f"({cli_seconds:.0f} s for all, one after another, each opening and closing its engine) and again in "
        "this process for the layout record. Contact sheet: `design_sheet.png`.",
        "",
        "## Totals",
        "",
        "| check | result |",
        "|---|---|",
        f"| CLI image identical to in-process render | {sum(r['same'] for r in rows)}/{len(rows)} |",
        f"| characters drawn in a font without them (fontTools cmap) | "
        f"{sum(r['missing'] for r in rows)} |",
        f"| characters no font has, dropped (U+E000, once per family-picnic design) | "
        f"{sum(r['dropped'] for r in rows)} |",
        f"| designs with a dropped character whose result note names it | "
        f"{sum('U+E000' in r['note'] for r in rows if r['dropped'])}/"
        f"{sum(1 for r in rows if r['dropped'])} |",
        f"| text boxes intersecting shape boxes | {sum(r['overlap'] for r in rows)} |",
        f"| text boxes outside the 4 % safe margin | {sum(r['margin'] for r in rows)} |",
        f"| title cap height under the minimum | {sum(not r['cap_ok'] for r in rows)} |",
        f"| designs with colours under 60 % colour share | "
        f"{sum(r['share'] < 0.6 for r in coloured)}/{len(coloured)} (lowest share "
        f"{min(r['share'] for r in coloured):.0%}) |",
        f"| designs with colours adding > 2 % unrequested saturated colour | "
        f"{sum(r['stray'] > 0.02 for r in coloured)}/{len(coloured)} |",
        f"| warm render + PNG encode, median / max | {statistics.median(times):.2f} s / "
        f"{max(times):.2f} s (limit {MAX_SECONDS} s) |",
        "",
        "## Minimum title cap height by aspect (fraction of canvas height)",
        "",
        "| aspect | required (short titles ≤ 24 chars) | lowest short title | lowest any title "
        f"(required {ANY_CAP:.1%}) |",
        "|---|---|---|---|",
    ]
    for aspect in ASPECTS:
        at = [r for r in rows if r["job"][2] == aspect]
        short = [r["cap"] for r in at if r["short"]]
        lines.append(
            f"| {aspect} | {MIN_CAP[aspect]:.1%} | {min(short):.1%} | "
            f"{min(r['cap'] for r in at):.1%} |"
        )
    lines += [
        "",
        "## Every design",
        "",
        "| prompt | style | aspect | colours | title | missing | dropped | overlaps | "
        "margin | cap | colour share | stray | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        key, style, aspect, colours = r["job"]
        share = f"{r['share']:.0%}" if r["share"] is not None else "–"
        stray = f"{r['stray']:.1%}" if r["stray"] is not None else "–"
        title = r["title"].replace("|", "\\|")[:40]
        lines.append(
            f"| {key} | {style} | {aspect} | {colours or '–'} | {title} | {r['missing']} | "
            f"{r['dropped']} | {r['overlap']} | {r['margin']} | {r['cap']:.1%}"
            f"{'' if r['cap_ok'] else ' ✗'} | {share} | {stray} | {r['seconds']:.2f} |"
        )
    (RESULTS / "design.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:28]))


if __name__ == "__main__":
    main()
