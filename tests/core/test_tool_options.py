"""Tool options are declared once, in core/tools/base.py, and everything else follows."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from core import cli, cli_run
from core.providers import _remote, openai
from core.providers.local import crop
from core.providers.local.design import palette as design_palette
from core.providers.local.design import render as design_render
from core.providers.local.design.styles import RENDERERS
from core.tools.base import (
    TOOLS,
    UpscaleParams,
    aspect_ratio,
    bounds,
    choices,
    default,
    option_costs,
)


def test_choices_come_from_the_params_models() -> None:
    assert choices("design", "style") == ("modern", "vintage", "minimal", "bold", "playful")
    assert choices("design", "aspect") == choices("crop", "ratio") == ("1:1", "16:9", "9:16", "4:3")
    assert choices("remove-bg", "mode") == ("auto", "person", "product", "animal")
    assert choices("crop", "focus") == ("auto", "face", "center", "product")
    assert choices("upscale", "scale") == (2, 4)
    assert choices("palette", "colors") == ()  # a number, not a choice
    assert (default("design", "style"), default("crop", "ratio")) == ("modern", None)
    assert bounds("palette", "colors") == (1, 12)
    assert bounds("design", "avoid") == (None, 500)
    assert aspect_ratio("9:16") == (9, 16)


def test_every_provider_table_covers_exactly_the_declared_values() -> None:
    aspects = set(choices("design", "aspect"))
    styles = set(choices("design", "style"))
    for table in (openai.SIZES, openai.EXACT_SIZES, _remote.ASPECTS, design_render.SIZES):
        assert set(table) == aspects
    assert set(crop.RATIOS) == set(choices("crop", "ratio"))
    for by_style in (_remote.STYLE_HINTS, RENDERERS, design_palette._STYLE_PALETTES):
        assert set(by_style) == styles


def test_upscale_cost_rule_is_the_tools_own() -> None:
    spec = TOOLS["upscale"]
    assert option_costs("upscale", 3) == {
        n: spec.cost_for(3, UpscaleParams(scale=n)) for n in choices("upscale", "scale")
    } == {2: 3, 4: 6}
    assert option_costs("crop", 1) == {}


def test_run_help_lists_every_tool_and_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(TOOLS) + "}" in text
    for tool in TOOLS:
        for option in TOOLS[tool].params.model_fields:
            values = choices(tool, option)
            if values:
                flag = "--" + option.replace("_", "-")
                assert f"{flag} {{{','.join(map(str, values))}}}" in text, (tool, option)


def _run_args(argv: list[str]) -> argparse.Namespace:
    return cli._parser().parse_args(["run", *argv])


@pytest.mark.parametrize(("argv", "expected"), [
    (["design", "a harbour at night", "--style", "bold", "--seed", "3"],
     {"prompt": "a harbour at night", "style": "bold", "aspect": None, "colors": None,
      "avoid": None, "seed": 3}),
    (["palette", "x.png", "--colors", "4", "--include-neutral"],
     {"colors": "4", "include_neutral": True}),
    (["upscale", "x.png", "--scale", "4"], {"scale": 4}),
    (["crop", "x.png", "--ratio", "4:3"], {"ratio": "4:3", "focus": None}),
    (["remove-bg", "x.png"], {"mode": None}),
])
def test_every_tool_parameter_has_a_run_option(argv: list[str], expected: dict[str, Any]) -> None:
    a = _run_args(argv)
    assert cli_run.tool_params(a.tool, a) == expected
    assert set(expected) == set(TOOLS[a.tool].params.model_fields)


def test_no_option_value_is_written_again_in_the_cogs_or_the_cli() -> None:
    """The cogs and the CLI take option values from core/tools, never as literals."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    values = {v for t in TOOLS for o in TOOLS[t].params.model_fields
              for v in choices(t, o) if isinstance(v, str)}
    for path in [*sorted((root / "cogs").glob("*.py")), root / "core" / "cli.py",
                 root / "core" / "cli_run.py"]:
        literals = {n.value for n in ast.walk(ast.parse(path.read_text()))
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not literals & values, (path.name, literals & values)
