"""/config set and /config show cover every registry setting, with Discord mentions."""

from __future__ import annotations

from core.guild_config import SETTINGS, ChannelIds, RoleId, Switch, Whole
from tests.bot.conftest import StartStudio, World


async def test_every_setting_round_trips_through_config_set_and_show(
    world: World, studio: StartStudio
) -> None:
    bot = await studio()
    defaults = await bot.engine.guild_config.show(world.guild.id)
    typed: dict[str, tuple[str, str]] = {}  # name -> (value typed, how Discord shows it)
    for name, s in SETTINGS.items():
        if isinstance(s, Switch):
            typed[name] = ("off", "off") if defaults[name] else ("on", "on")
        elif isinstance(s, Whole):
            n = s.hi if defaults[name] != s.hi else s.lo
            typed[name] = (str(n), str(n))
        elif isinstance(s, RoleId):
            mention = f"<@&{world.mod_role.id}>"
            typed[name] = (mention, mention)
        else:
            assert isinstance(s, ChannelIds)
            mentions = f"<#{world.art.id}> <#{world.general.id}>"
            typed[name] = (mentions.replace(" ", ", "), mentions)
    for name, (value, shown) in typed.items():
        ix = await world.slash("config set", {"key": name, "value": value}, member=world.admin)
        assert (await world.fake.reply_to(ix)).content == f"⚙️ `{name}` is now {shown}.", name

    values = await bot.engine.guild_config.show(world.guild.id)
    assert values["moderator_role"] == str(world.mod_role.id)
    assert values["allowed_channels"] == (str(world.art.id), str(world.general.id))

    ix = await world.slash("config show", member=world.admin, channel=world.art)
    embed = (await world.fake.reply_to(ix)).embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    for name, (_value, shown) in typed.items():
        if not name.startswith("tool."):
            assert fields[name] == shown, name
    assert "⛔" in fields["Tools"]
    assert "✅" not in fields["Tools"]


async def test_config_set_offers_exactly_the_registry(world: World, studio: StartStudio) -> None:
    await studio()
    config = next(c for c in world.fake.all_commands() if c["name"] == "config")
    set_cmd = next(o for o in config["options"] if o["name"] == "set")
    key = next(o for o in set_cmd["options"] if o["name"] == "key")
    assert [c["value"] for c in key["choices"]] == list(SETTINGS)
    assert all(c["name"].startswith(f"{c['value']}: ") for c in key["choices"])
