"""What Studio messages look like: status lines, result embeds, cost labels.

Pure functions from core objects to text and embeds, so the look of every
message is in one file and can be tested without Discord.
"""

from __future__ import annotations

from typing import Any

import discord
from discord.app_commands import Choice

from core.config import Settings
from core.jobs import JobEvent, JobResult
from core.swatches import hex_block
from core.tools.base import TOOLS, choices, option_costs

LABELS = {
    "design": "Design",
    "remove-bg": "Remove background",
    "upscale": "Upscale",
    "palette": "Palette",
    "crop": "Crop",
}
COLOUR_OK = discord.Colour(0x7C5CFF)


def credits(n: int) -> str:
    return f"{n} credit{'s' if n != 1 else ''}"


def choice_name(option: str, value: Any) -> str:
    """How a tool option's value reads in a choice list: `2x` for a scale."""
    return f"{value}x" if option == "scale" else str(value)


def option_choices(tool: str, option: str) -> list[Choice[Any]]:
    """A slash-command option's choices, from the tool's declared values."""
    return [Choice(name=choice_name(option, v), value=v) for v in choices(tool, option)]


def cost_label(tool: str, cost: int) -> str:
    """'5 credits', 'free', or per choice of a priced option: '2 credits for 2x, 4 for 4x'."""
    if not cost:
        return "free"
    option = TOOLS[tool].priced_option
    prices = list(option_costs(tool, cost).items())
    if option is None or not prices:
        return credits(cost)
    (first, n), *rest = prices
    return f"{credits(n)} for {choice_name(option, first)}" + "".join(
        f", {m} for {choice_name(option, v)}" for v, m in rest
    )


def command_description(tool: str, settings: Settings) -> str:
    """The slash command's description, stating the bot-wide cost."""
    return f"{TOOLS[tool].description} ({cost_label(tool, settings.tool_cost(tool))})"[:100]


def bar(fraction: float, width: int = 12) -> str:
    n = max(0, min(width, round(fraction * width)))
    return "▰" * n + "▱" * (width - n)


def status_line(event: JobEvent) -> str | None:
    """The status message's second line for an in-flight event, or None to ignore it."""
    if event.kind == "queued":
        return f"⏳ Queued — position **{event.position}**"
    if event.kind == "started":
        return "⚙️ Starting…"
    if event.kind == "attempt":
        again = f" (attempt {event.attempt})" if (event.attempt or 1) > 1 else ""
        return f"⚙️ Running on `{event.provider}`{again}…"
    if event.kind == "retrying":
        return f"🔁 `{event.provider}` hiccuped; retrying in {event.delay_s or 0:.0f} s…"
    if event.kind == "fallback":
        return f"↪️ `{event.provider}` gave up ({event.message}); trying the next provider…"
    if event.kind == "progress":
        pct = round((event.fraction or 0) * 100)
        msg = f" — {event.message}" if event.message else ""
        return f"⚙️ {bar(event.fraction or 0)} {pct}%{msg}"
    return None


def status_text(owner_id: str, tool: str, line: str) -> str:
    return f"<@{owner_id}> · **{LABELS[tool]}**\n{line}"


def initial_line(position: int) -> str:
    return f"⏳ Queued — position **{position}**" if position else "⚙️ Starting…"


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def result_line(result: JobResult) -> str:
    """Tool, provider, credits charged, new balance, time (+ provider note)."""
    provider = f"`{result.provider}`"
    if result.note:
        provider += f" ({result.note})"
    return (
        f"**{LABELS[result.tool]}** · provider {provider} · charged **{credits(result.credits_charged)}**"
        f" · balance **{result.balance}** · {seconds(result.elapsed_ms)}"
    )


def _palette_fields(data: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for c in data.get("colors", []):
        r, g, b = c["rgb"]
        h, s, lum = c["hsl"]
        lines.append(
            f"`{c['hex']}` **{c['name']}** {c['percent']:.1f}% · rgb({r}, {g}, {b}) · "
            f"hsl({h:.0f}, {s:.0f}%, {lum:.0f}%)"
        )
    return [("Colours", "\n".join(lines)[:1024] or "—"),
            ("Hex codes", hex_block(data.get("colors", []))[:1024])]


def _details(result: JobResult) -> list[tuple[str, str]]:
    d = result.data or {}
    if result.tool == "palette":
        return _palette_fields(d)
    fields: list[tuple[str, str]] = []
    if result.tool == "design" and d.get("prompt_used"):
        fields.append(("Prompt used", str(d["prompt_used"])[:1024]))
    if result.tool == "crop" and "box" in d:
        b = d["box"]
        fields.append(("Crop box", f"x {b['x']}, y {b['y']}, {b['width']}×{b['height']} px"))
        if d.get("reasons"):
            reasons = d["reasons"]
            text = ", ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
            fields.append(("Why", text[:1024]))
    if "width" in d and "height" in d:
        fields.append(("Size", f"{d['width']}×{d['height']} px"))
    return fields


def result_embed(result: JobResult, notes: list[str], filename: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=LABELS[result.tool], description=result_line(result), colour=COLOUR_OK
    )
    for name, value in _details(result):
        embed.add_field(name=name, value=value, inline=name not in ("Colours", "Hex codes"))
    extra = list(notes)
    if result.fallback_reason:
        extra.insert(0, f"Fell back after: {result.fallback_reason}")
    if result.cached:
        extra.insert(0, "Served from the cache.")
    if extra:
        embed.add_field(name="Notes", value="\n".join(f"• {n}" for n in extra)[:1024], inline=False)
    if filename:
        embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"job {result.job_id}")
    return embed
