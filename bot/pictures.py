"""Pictures the bot answers with: the /stats chart (matplotlib) and the /history grid
(Pillow). Both are plain functions from data to PNG bytes; the cogs call them with
`asyncio.to_thread`, so drawing never blocks the event loop."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

BACKGROUND = "#1e1f22"  # Discord's dark theme, so the pictures sit well in a message
PANEL = "#2b2d31"
TEXT = "#f2f3f5"
MUTED = "#b5bac1"
ACCENT = (124, 92, 255)  # COLOUR_OK in bot/render.py
TOOL_COLOURS = {"design": "#7c5cff", "remove-bg": "#23a55a", "upscale": "#f0b232",
                "palette": "#eb459f", "crop": "#00a8fc"}
OUTCOME_COLOURS = {"transient": "#f0b232", "timeout": "#fa777c", "permanent": "#da373c",
                   "rejected": "#949ba4"}


def stats_chart_png(figures: dict[str, Any]) -> bytes:
    """The /stats chart: runs and credits per tool per day (stacked bars) and failed
    provider attempts by provider and outcome, from `core.stats.daily_figures`."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in a worker thread
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    days = [d[5:] for d in figures["days"]]  # MM-DD
    fig = Figure(figsize=(11, 8.5), dpi=100, facecolor=BACKGROUND)
    grid = fig.add_gridspec(3, 1, height_ratios=[3, 3, 2], hspace=0.55)
    for row, (key, title) in enumerate((("runs", "Runs per tool per day"),
                                        ("credits", "Credits spent per tool per day"))):
        ax = fig.add_subplot(grid[row])
        _style(ax, title)
        bottom = [0] * len(days)
        for tool in sorted(figures[key]):
            values = figures[key][tool]
            ax.bar(days, values, bottom=bottom, label=tool,
                   color=TOOL_COLOURS.get(tool, MUTED), width=0.7)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylim(0, max([*bottom, 1]) * 1.3)  # room for the legend above the bars
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if figures[key]:
            ax.legend(loc="upper left", ncols=5, frameon=False, labelcolor=TEXT, fontsize=9)
        else:  # the days still on the axis, the bars absent
            ax.set_xticks(range(len(days)), days)
            ax.set_xlim(-0.5, len(days) - 0.5)
            ax.text(0.5, 0.5, "no runs in these 14 days", transform=ax.transAxes, ha="center",
                    va="center", color=MUTED)
    ax = fig.add_subplot(grid[2])
    _style(ax, "Failed provider attempts by provider (14 days)")
    failures = figures["failures"]
    providers = sorted(failures)
    left = [0] * len(providers)
    for outcome, colour in OUTCOME_COLOURS.items():
        values = [failures[p].get(outcome, 0) for p in providers]
        if any(values):
            ax.barh(providers, values, left=left, label=outcome, color=colour, height=0.6)
            left = [a + v for a, v in zip(left, values, strict=True)]
    if providers:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncols=4, frameon=False,
                  labelcolor=TEXT, fontsize=9)
        for y, total in enumerate(left):
            ax.text(total, y, f" {total}", va="center", color=TEXT, fontsize=9)
    else:
        ax.set_yticks([])
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no failed provider attempts", transform=ax.transAxes, ha="center",
                va="center", color=MUTED)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor=BACKGROUND, bbox_inches="tight")
    return buf.getvalue()


def _style(ax: Any, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, loc="left", fontsize=12, fontweight="bold")
    ax.tick_params(colors=MUTED, labelsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
    ax.grid(axis="y", color="#3f4147", linewidth=0.6)
    ax.set_axisbelow(True)


@dataclass
class Tile:
    """One job in the /history grid: its number, caption, and result image (if any)."""

    number: int
    caption: str
    image: bytes | Path | None  # the picture's bytes (or file)
    mark: str = ""  # shown instead of a picture: "failed", "canceled", "running", ...


TILE, GAP, CAPTION_H, COLUMNS = 192, 12, 30, 5


@lru_cache(maxsize=8)
def _font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    import font_lato  # OFL-1.1 Lato, shipped as a PyPI package

    return ImageFont.truetype(str(Path(font_lato.font_directory) / f"Lato-{weight}.ttf"), size)


def history_grid_png(tiles: list[Tile]) -> bytes:
    """A grid of numbered thumbnails, `COLUMNS` a row, one tile per job, newest first;
    a job without a picture gets a grey tile saying why."""
    rows = max(1, -(-len(tiles) // COLUMNS))
    cols = max(1, min(COLUMNS, len(tiles)))
    width = GAP + cols * (TILE + GAP)
    height = GAP + rows * (TILE + CAPTION_H + GAP)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, tile in enumerate(tiles):
        x = GAP + (i % COLUMNS) * (TILE + GAP)
        y = GAP + (i // COLUMNS) * (TILE + CAPTION_H + GAP)
        draw.rectangle((x, y, x + TILE - 1, y + TILE - 1), fill=PANEL)
        thumb = _thumbnail(tile.image) if tile.image is not None else None
        if thumb is not None:
            canvas.paste(thumb, (x + (TILE - thumb.width) // 2, y + (TILE - thumb.height) // 2),
                         thumb if thumb.mode == "RGBA" else None)
        else:
            draw.text((x + TILE // 2, y + TILE // 2), tile.mark or "no picture", fill=MUTED,
                      font=_font("Regular", 18), anchor="mm")
        badge = str(tile.number)
        draw.rounded_rectangle((x + 6, y + 6, x + 6 + 14 + 11 * len(badge), y + 34), radius=8,
                               fill=ACCENT)
        draw.text((x + 13 + 11 * len(badge) // 2, y + 20), badge, fill="white",
                  font=_font("Black", 18), anchor="mm")
        draw.text((x + TILE // 2, y + TILE + CAPTION_H // 2), tile.caption, fill=TEXT,
                  font=_font("Bold", 15), anchor="mm")
    buf = io.BytesIO()
    canvas.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _thumbnail(image: bytes | Path) -> Image.Image | None:
    """The picture shrunk to fit a tile, transparency over a checkerboard; None if it
    cannot be read (removed from the store, not an image)."""
    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as img:
            img.draft("RGB", (TILE, TILE))
            thumb = ImageOps.contain(img.convert("RGBA"), (TILE - 8, TILE - 8))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    board = Image.new("RGBA", thumb.size, "#4e5058")
    cell = ImageDraw.Draw(board)
    for cy in range(0, thumb.height, 12):
        for cx in range((cy // 12) % 2 * 12, thumb.width, 24):
            cell.rectangle((cx, cy, cx + 11, cy + 11), fill="#6d6f78")
    return Image.alpha_composite(board, thumb)
