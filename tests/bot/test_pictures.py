"""Pictures on Discord (issue 13): the /stats chart, the /history grid, palette swatches."""

from __future__ import annotations

import io
import re
import struct

from PIL import Image

from bot.pictures import COLUMNS, GAP, TILE, Tile, history_grid_png
from core.swatches import ase_bytes, gpl_text, hex_block
from tests.bot.conftest import StartStudio, World, image_bytes


def _png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG"
    return img


async def test_stats_by_an_admin_answers_with_a_chart(world: World, studio: StartStudio) -> None:
    bot = await studio()
    for seed in range(3):
        await world.result_of(await world.slash(
            "palette", {"image": world.upload(f"p{seed}.png", image_bytes(seed=seed))}))
    ix = await world.slash("stats", member=world.admin)
    msg = await world.fake.reply_to(ix, lambda m: bool(m.attachments))
    assert msg.ephemeral
    [(name, data)] = msg.attachments
    assert name == "stats.png"
    chart = _png(data)
    assert chart.width >= 800
    assert chart.height >= 600
    assert msg.embeds[0]["image"]["url"].endswith("/stats.png")  # the uploaded chart
    assert "**palette** · `local` — 3 runs, 3 ok" in msg.text  # the figures stay as text
    assert "held now by running jobs 0" in msg.text
    body = next(b for b in world.fake.sent if b.file_names == ["stats.png"])
    assert body.message["attachments"][0]["filename"] == "stats.png"
    figures = await bot.engine.daily_figures()
    assert len(figures["days"]) == 14
    assert figures["runs"]["palette"][-1] == 3  # today's runs, in the last column


async def test_stats_is_still_refused_to_members(world: World, studio: StartStudio) -> None:
    await studio()
    refused = await world.fake.reply_to(await world.slash("stats"))
    assert "Manage Server" in refused.content
    assert refused.attachments == []


async def test_history_answers_with_a_grid_with_a_tile_per_job(
        world: World, studio: StartStudio) -> None:
    bot = await studio()
    for seed in range(7):
        await world.result_of(await world.slash(
            "crop", {"image": world.upload(f"c{seed}.png", image_bytes(seed=seed)),
                     "ratio": "1:1"}))
    ix = await world.slash("history")
    msg = await world.fake.reply_to(ix, lambda m: bool(m.attachments))
    assert msg.ephemeral
    [(name, data)] = msg.attachments
    assert name == "history.png"
    jobs = await bot.engine.history(world.guild.id, world.alice.id, limit=10)
    assert len(jobs) == 7
    grid = _png(data)
    rows, cols = -(-len(jobs) // COLUMNS), min(COLUMNS, len(jobs))
    assert grid.width == GAP + cols * (TILE + GAP)
    assert grid.height == GAP + rows * (TILE + 30 + GAP)
    lines = msg.embeds[0]["description"].splitlines()
    assert [re.match(r"\*\*(\d+)\.\*\*", line).group(1) for line in lines] == [
        str(n) for n in range(1, 8)]
    assert all("[result](" in line for line in lines)
    for n, job in enumerate(jobs, 1):
        assert f"`{job.id[:8]}`" in lines[n - 1]
    assert msg.embeds[0]["image"]["url"].endswith("/history.png")
    assert any(b.file_names == ["history.png"] for b in world.fake.sent)


async def test_history_without_jobs_is_one_line(world: World, studio: StartStudio) -> None:
    await studio()
    msg = await world.fake.reply_to(await world.slash("history"))
    assert "No jobs yet" in msg.text
    assert msg.attachments == []


async def test_a_palette_result_has_copyable_hex_codes_and_swatch_files(
        world: World, studio: StartStudio) -> None:
    await studio(provider=False)  # the real local palette
    result = await world.result_of(await world.slash(
        "palette", {"image": world.upload("photo.png", image_bytes(96, 64, seed=4)),
                    "colors": 4}), within=30)
    names = [name for name, _ in result.attachments]
    assert names == ["palette.png", "palette.ase", "palette.gpl"]
    fields = {f["name"]: f["value"] for f in result.embeds[0]["fields"]}
    hexes = re.findall(r"`(#[0-9a-f]{6})`", fields["Colours"])
    assert len(hexes) == 4
    block = fields["Hex codes"]
    assert block.startswith("```\n")
    assert block.endswith("\n```")
    assert block.strip("`\n").split() == hexes
    files = dict(result.attachments)
    gpl = files["palette.gpl"].decode()
    assert gpl.startswith("GIMP Palette\n")
    for h in hexes:
        rgb = tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))
        assert "{:3d} {:3d} {:3d}\t".format(*rgb) in gpl
    ase = files["palette.ase"]
    assert ase[:4] == b"ASEF"
    assert struct.unpack(">HHI", ase[4:12]) == (1, 0, 4 + 2)  # group start, 4 colours, end


def test_swatch_formats() -> None:
    colours = [{"hex": "#FF8000", "name": "orange"}, {"hex": "#102030", "name": "navy"}]
    assert hex_block(colours) == "```\n#ff8000 #102030\n```"
    assert gpl_text(colours).splitlines()[-2:] == ["255 128   0\torange #ff8000",
                                                   " 16  32  48\tnavy #102030"]
    ase = ase_bytes(colours, "t")
    # first block: group start named "t"; second: the first colour, RGB floats
    kind, length = struct.unpack(">HI", ase[12:18])
    assert (kind, length) == (0xC001, 2 + 4)
    offset = 18 + length
    kind, length = struct.unpack(">HI", ase[offset:offset + 6])
    assert kind == 0x0001
    body = ase[offset + 6:offset + 6 + length]
    (chars,) = struct.unpack(">H", body[:2])
    assert body[2:2 + 2 * chars].decode("utf-16-be") == "orange #ff8000\0"
    model = body[2 + 2 * chars:6 + 2 * chars]
    assert model == b"RGB "
    r, g, b, kind = struct.unpack(">fffH", body[6 + 2 * chars:])
    assert (round(r * 255), round(g * 255), round(b * 255)) == (255, 128, 0)


def test_grid_tiles_without_a_picture_say_why(tmp_path: object) -> None:
    grid = _png(history_grid_png([Tile(1, "Design", None, mark="failed"),
                                  Tile(2, "Crop", None, mark="canceled")]))
    assert grid.size == (GAP + 2 * (TILE + GAP), GAP + TILE + 30 + GAP)
