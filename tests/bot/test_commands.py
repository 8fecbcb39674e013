"""Every cog loads; the synced command names and options match PRODUCT.md exactly."""

from __future__ import annotations

import re
from pathlib import Path

from bot.client import COGS
from tests.bot.conftest import StartStudio, World

PRODUCT = Path(__file__).resolve().parents[2] / "docs" / "PRODUCT.md"
MANAGE_GUILD = str(1 << 5)


def product_commands() -> dict[str, dict[str, bool]]:
    """{"credits grant": {"member": True, "amount": True, "reason": False}, ...} from PRODUCT.md."""
    text = PRODUCT.read_text(encoding="utf-8")
    out: dict[str, dict[str, bool]] = {}
    # §1 tool table: | `design` | `/design` | `prompt` (...), `style` (...; default modern) | ...
    for row in re.findall(r"^\| `[\w-]+` \| `/([\w-]+)` \| (.+?) \| .+ \|$", text, re.M):
        name, cell = row
        options: dict[str, bool] = {}
        for opt, detail in re.findall(r"`(\w+)`(?: \(([^)]*)\))?", cell):
            options[opt] = not re.search(r"default|optional", detail or "")
        out[name] = options
    # §2 credits table: | `/credits grant member amount [reason]` | ...
    for usage in re.findall(r"^\| `/(credits [^`]+)` \|", text, re.M):
        words = usage.split()
        out[" ".join(words[:2])] = {w.strip("[]"): not w.startswith("[") for w in words[2:]}
    for name in re.findall(r"`/((?:config \w+)|history|stats)`", text):
        out.setdefault(name, {})
    return out


def synced(world: World) -> dict[str, dict[str, bool]]:
    """What Discord received: {"qualified name": {option: required}}."""
    out: dict[str, dict[str, bool]] = {}

    def walk(prefix: str, node: dict) -> None:
        subs = [o for o in node.get("options", []) if o["type"] in (1, 2)]
        if not subs:
            out[prefix] = {o["name"]: bool(o.get("required")) for o in node.get("options", [])}
        for sub in subs:
            walk(f"{prefix} {sub['name']}", sub)

    for cmd in world.fake.all_commands():
        walk(cmd["name"], cmd)
    return out


async def test_every_cog_loads_and_names_match_product(world: World, studio: StartStudio) -> None:
    bot = await studio()
    assert sorted(bot.extensions) == sorted(COGS)
    names = [c["name"] for c in world.fake.all_commands()]
    assert len(names) == len(set(names)), "top-level command names must be unique"
    expected = product_commands()
    got = synced(world)
    assert set(got) == set(expected) | {"help"}
    for name, options in expected.items():
        if name in ("config set",):  # PRODUCT.md lists what can be set, not option names
            continue
        assert got[name] == options, name
    assert list(got["config set"]) == ["key", "value"]


async def test_option_choices_descriptions_and_permissions(
    world: World, studio: StartStudio
) -> None:
    await studio(extra="[tools.upscale]\ncost = 3")
    cmds = {c["name"]: c for c in world.fake.all_commands()}

    def option(cmd: str, name: str) -> dict:
        return next(o for o in cmds[cmd]["options"] if o["name"] == name)

    assert [c["value"] for c in option("design", "style")["choices"]] == [
        "modern",
        "vintage",
        "minimal",
        "bold",
        "playful",
    ]
    assert [c["value"] for c in option("crop", "ratio")["choices"]] == [
        "1:1",
        "16:9",
        "9:16",
        "4:3",
    ]
    assert [c["value"] for c in option("remove-bg", "mode")["choices"]] == [
        "auto",
        "person",
        "product",
        "animal",
    ]
    assert (
        option("palette", "colors")["min_value"] == 1
    )
    assert (
        option("palette", "colors")["max_value"] == 12
    )
    assert option("design", "prompt")["max_length"] == 1000
    assert option("remove-bg", "image")["type"] == 11
    # descriptions and choices state the cost (bot-wide config)
    assert "(5 credits)" in cmds["design"]["description"]
    assert "(free)" in cmds["palette"]["description"]
    assert "3 credits for 2x, 6 for 4x" in cmds["upscale"]["description"]
    assert [c["name"] for c in option("upscale", "scale")["choices"]] == [
        "2x (3 credits)",
        "4x (6 credits)",
    ]
    # admin commands are hidden by default; everything is server-only
    assert cmds["config"]["default_member_permissions"] == MANAGE_GUILD
    assert cmds["stats"]["default_member_permissions"] == MANAGE_GUILD
    assert cmds["credits"]["default_member_permissions"] is None
    assert all(c["contexts"] == [0] for c in cmds.values())
    assert all(len(c["description"]) <= 100 for c in cmds.values())


def test_product_parser_reads_the_tables() -> None:
    expected = product_commands()
    assert expected["crop"] == {"image": True, "ratio": True, "focus": False}
    assert expected["credits grant"] == {"member": True, "amount": True, "reason": False}
    assert {"config show", "config set", "history", "stats"} <= set(expected)
