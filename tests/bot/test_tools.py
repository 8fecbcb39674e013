"""Each tool end to end: slash command with an attachment in, a correct file out.

Flow checked on every run: an ephemeral defer within the deadline, an
ephemeral receipt, a public status message with a Cancel button, then a
public result (embed with the result line, the file, follow-on buttons) and
the status message gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from tests.bot.conftest import StartStudio, World, image_bytes, open_image
from tests.bot.fake_discord import EPHEMERAL, FakeMessage


def check_design(img: Image.Image, msg: FakeMessage) -> None:
    assert abs(img.width / img.height - 16 / 9) < 0.01
    assert "Prompt used: a lighthouse at dusk" in msg.text


def check_remove_bg(img: Image.Image, msg: FakeMessage) -> None:
    assert img.mode == "RGBA"
    assert img.size == (64, 48)
    alpha = img.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # a real alpha channel: transparent and opaque


def check_upscale(img: Image.Image, msg: FakeMessage) -> None:
    assert img.size == (64 * 4, 48 * 4)
    assert "Size: 256×192 px" in msg.text


def check_palette(img: Image.Image, msg: FakeMessage) -> None:
    colours = next(f for f in msg.embeds[0]["fields"] if f["name"] == "Colours")["value"]
    lines = colours.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("`#") for line in lines)
    shares = [float(line.split("** ")[1].split("%")[0]) for line in lines]
    assert abs(sum(shares) - 100) <= 1


def check_crop(img: Image.Image, msg: FakeMessage) -> None:
    assert img.width * 16 == img.height * 9
    assert "Crop box: x " in msg.text


CASES: list[tuple[str, dict[str, Any], int, tuple[str, ...], Callable[..., None]]] = [
    (
        "design",
        {"prompt": "a lighthouse at dusk", "aspect": "16:9", "colors": "navy, #ffcc00"},
        5,
        ("variation", "upscale", "remove-bg", "palette"),
        check_design,
    ),
    ("remove-bg", {"mode": "product"}, 1, ("palette",), check_remove_bg),
    ("upscale", {"scale": 4}, 4, ("remove-bg", "palette"), check_upscale),
    ("palette", {"colors": 4}, 0, (), check_palette),
    ("crop", {"ratio": "9:16", "focus": "center"}, 1, ("remove-bg", "palette"), check_crop),
]


@pytest.mark.parametrize(
    ("tool", "options", "cost", "buttons", "check"), CASES, ids=[c[0] for c in CASES]
)
async def test_tool_end_to_end(
    world: World,
    studio: StartStudio,
    tool: str,
    options: dict[str, Any],
    cost: int,
    buttons: tuple[str, ...],
    check: Callable[..., None],
) -> None:
    bot = await studio()
    if tool != "design":
        options = {"image": world.upload("photo.png", image_bytes(64, 48)), **options}
    ix = await world.slash(tool, options)
    result = await world.result_of(ix)

    first = ix.callbacks[0]
    assert first.type == 5
    assert first.data["flags"] & EPHEMERAL
    assert ix.defer_latency is not None
    assert ix.defer_latency < 1.0
    receipt, status = world.fake.messages_of(ix)[:2]
    assert receipt.ephemeral
    assert "accepted" in receipt.content
    assert not status.ephemeral
    assert status.custom_ids[0].startswith("luneo:cancel:")
    await world.fake.wait_for(lambda: status.deleted)

    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    assert not result.ephemeral
    assert result.content == world.alice.mention
    line = result.embeds[0]["description"]
    assert (
        "provider `local` (scripted renderer)" in line
        if tool == "design"
        else "provider `local`" in line
    )
    assert f"charged **{cost} credit" in line
    assert f"balance **{10 - cost}**" in line
    assert line.endswith(" s")
    assert result.custom_ids == [f"luneo:{b}:{job_id}" for b in buttons]
    name, data = result.attachments[0]
    assert result.embeds[0]["image"]["url"].endswith(f"/{name}")
    check(open_image(data), result)
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 10 - cost


async def test_real_local_tools_through_start_bot(world: World, studio: StartStudio) -> None:
    """The real local provider on tiny images (no scripted provider at all)."""
    await studio(provider=False)
    img = image_bytes(48, 32, seed=3, fmt="JPEG")
    ix = await world.slash(
        "palette", {"image": world.upload("tiny.jpg", img, content_type="image/jpeg"), "colors": 3}
    )
    palette = await world.result_of(ix, within=30)
    assert "provider `local`" in palette.embeds[0]["description"]
    colours = next(f for f in palette.embeds[0]["fields"] if f["name"] == "Colours")["value"]
    assert len(colours.splitlines()) <= 3
    assert colours.startswith("`#")

    ix = await world.slash(
        "crop", {"image": world.upload("tiny.png", image_bytes(60, 40, seed=4)), "ratio": "1:1"}
    )
    cropped = open_image((await world.result_of(ix, within=30)).attachments[0][1])
    assert cropped.width == cropped.height
    assert cropped.width <= 40
