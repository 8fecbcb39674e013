"""Config: the example documents every key and loads; bad keys stop with one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.config import Settings, load_settings
from core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if field.exclude or name == "tools":
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_keys(ann, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}")
    return out


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        m = re.match(r"^\[([\w.-]+)\]", line)
        if m:
            current = m.group(1)
        km = re.match(r"^#?\s*([a-z_]+)\s*=", line)
        if km:
            sections[f"{current}.{km.group(1)}"] = line
    missing = [k for k in _keys(Settings) if k not in sections]
    assert missing == []
    for key, line in sections.items():
        assert "#" in line, f"{key} has no comment"


def test_example_loads_and_matches_defaults() -> None:
    s = load_settings(EXAMPLE, env={})
    d = load_settings(overrides={}, env={})
    assert s.model_dump(exclude={"tools"}) == d.model_dump(exclude={"tools"})
    for tool in ("design", "remove-bg", "upscale", "palette", "crop"):
        assert s.tool_cost(tool) == d.tool_cost(tool)
        assert s.tool_chain(tool) == d.tool_chain(tool)


@pytest.mark.parametrize(("toml", "needle"), [
    ("[limits]\nper_member_runing = 2\n", "unknown key `limits.per_member_runing`"),
    ("[credits]\nstarting = -1\n", "`credits.starting`"),
    ("[tools.paint]\ncost = 1\n", "tools.paint: unknown tool"),
    ("[models]\nupscale_quality = 'ultra'\n", "`models.upscale_quality`"),
    ("[storage\n", "not valid TOML"),
])
def test_bad_key_is_one_line_naming_it(tmp_path: Path, toml: str, needle: str) -> None:
    p = tmp_path / "config.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(p, env={})
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_secrets_only_from_environment(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text("[secrets]\nopenai_api_key = 'sk-in-file'\n")
    with pytest.raises(ConfigError, match="secrets"):
        load_settings(p, env={})
    s = load_settings(overrides={}, env={"OPENAI_API_KEY": "sk-test-123456"})
    assert s.secrets.openai_api_key is not None
    assert "sk-test-123456" not in repr(s)
    assert "sk-test-123456" not in str(s.model_dump())


def test_relative_paths_resolve_beside_config(tmp_path: Path) -> None:
    p = tmp_path / "conf" / "config.toml"
    p.parent.mkdir()
    p.write_text("[storage]\ndatabase = 'x/s.db'\n")
    assert load_settings(p, env={}).database_path == (tmp_path / "conf" / "x" / "s.db")


def test_a_renamed_key_from_an_older_config_warns_and_still_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[limits]\nupscale_detail_s = 30\n", encoding="utf-8")
    settings = load_settings(cfg, env={})
    assert settings.limits.upscale_s_per_out_mp == 4.0  # the default, not the old value
    assert "`limits.upscale_detail_s` is no longer used" in caplog.text
    assert "limits.upscale_s_per_out_mp" in caplog.text
