"""Tool registry and parameter validation.

Each tool declares a pydantic model for its parameters, whether it takes an
input image, and how its cost depends on parameters. Validation errors become
`InvalidInput` naming the field, so every caller (bot, CLI) shows the same text.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.colors import parse_color
from core.errors import InvalidInput

Aspect = Literal["1:1", "16:9", "9:16", "4:3"]


class Params(BaseModel):
    """A tool's parameters: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def normalised(self) -> str:
        """Canonical JSON used in the cache key."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class DesignParams(Params):
    """/design: the prompt, style, aspect ratio, colours, things to avoid, seed."""

    prompt: str = Field(min_length=1, max_length=1000)
    style: Literal["modern", "vintage", "minimal", "bold", "playful"] = "modern"
    aspect: Aspect = "1:1"
    colors: tuple[str, ...] = ()
    avoid: str | None = Field(default=None, max_length=500)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)  # variations use a new seed

    @field_validator("prompt")
    @classmethod
    def _strip_prompt(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise ValueError("the prompt is empty")
        if not has_visible_text(v):
            raise ValueError("the prompt has no visible characters (only spaces, zero-width "
                             "or control characters); write a few words")
        return v

    @field_validator("colors", mode="before")
    @classmethod
    def _parse_colors(cls, v: Any) -> tuple[str, ...]:
        if v is None or v == "":
            return ()
        items = [p.strip() for p in v.split(",")] if isinstance(v, str) else list(v)
        items = [p for p in items if p]
        if len(items) > 8:
            raise ValueError("give at most 8 colours")
        out = []
        for item in items:
            rgb = parse_color(item)
            if rgb is None:
                raise ValueError(f"{item!r} is not a hex code (#1a2b3c) or a CSS colour name")
            out.append("#{:02x}{:02x}{:02x}".format(*rgb))
        return tuple(out)

    @field_validator("avoid")
    @classmethod
    def _strip_avoid(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = " ".join(v.split())
        return v if v and has_visible_text(v) else None


def has_visible_text(text: str) -> bool:
    """True if `text` has at least one letter, digit, punctuation mark or symbol (emoji
    included): Unicode general categories L*, N*, P*, S*. Zero-width characters
    (U+200B-U+200D, U+2060, U+FEFF: category Cf), controls and lone combining marks
    draw nothing on their own."""
    return any(unicodedata.category(ch)[0] in "LNPS" for ch in text)


class RemoveBgParams(Params):
    """/remove-bg: what the subject is (auto, person, product, animal)."""

    mode: Literal["auto", "person", "product", "animal"] = "auto"


class UpscaleParams(Params):
    """/upscale: the scale factor, 2x or 4x."""

    scale: Literal[2, 4] = 2


# Tools that read only an image's colours: admission decodes a JPEG for them at reduced
# scale, keeping at least this many pixels (core/imaging.py `draft_pixels`; a 12 MP
# photo at 1/8).
DRAFT_PIXELS = {"palette": 150_000}


def decoded_small(tool: str, width: int, height: int) -> bool:
    """True when a `width`×`height` decode is what admission's reduced decode gives for
    `tool` (at most 4× its DRAFT_PIXELS: libjpeg scales each side by powers of two);
    False for other tools, or for a full-size decode (e.g. a job resumed from the store)."""
    least = DRAFT_PIXELS.get(tool)
    return least is not None and width * height <= 4 * least


class PaletteParams(Params):
    """/palette: how many colours (1..12), and whether greys and near-whites count."""

    colors: int = Field(default=6, ge=1, le=12)
    include_neutral: bool = False


class CropParams(Params):
    """/crop: the target aspect ratio and what to keep in frame."""

    ratio: Aspect
    focus: Literal["auto", "face", "center", "product"] = "auto"


@dataclass(frozen=True)
class ToolSpec:
    """A tool's declaration: id, command name, params class, whether it takes an image, default cost
    and chain."""

    id: str
    command: str
    params: type[Params]
    takes_image: bool
    default_cost: int
    default_providers: tuple[str, ...]
    description: str
    # cost for given params, from the configured base cost
    cost_for: Callable[[int, Params], int] = lambda base, _p: base
    priced_option: str | None = None  # the one option the cost depends on, if any


def _upscale_cost(base: int, p: Params) -> int:
    # the configured cost is for 2x; 4x costs twice as much (2 and 4 by default)
    if not isinstance(p, UpscaleParams):
        raise TypeError(f"expected UpscaleParams, got {type(p).__name__}")
    return base * (p.scale // 2)


TOOLS: dict[str, ToolSpec] = {
    t.id: t
    for t in (
        ToolSpec("design", "design", DesignParams, False, 5, ("openai", "replicate", "local"),
                 "Generate a design from a prompt"),
        ToolSpec("remove-bg", "remove-bg", RemoveBgParams, True, 1,
                 ("replicate", "removebg", "local"), "Remove the background of an image"),
        ToolSpec("upscale", "upscale", UpscaleParams, True, 2, ("replicate", "local"),
                 "Upscale an image 2x or 4x", _upscale_cost, "scale"),
        ToolSpec("palette", "palette", PaletteParams, True, 0, ("local",),
                 "Extract a colour palette"),
        ToolSpec("crop", "crop", CropParams, True, 1, ("local",),
                 "Smart-crop an image to an aspect ratio"),
    )
}

_FIELD_RE = re.compile(r"^Value error, ")


def choices(tool: str, option: str) -> tuple[Any, ...]:
    """The values `option` of `tool` may take, in order; () when it takes any value.

    Read from the params model's `Literal`, so the bot's choices, the CLI's help and
    validation cannot disagree."""
    annotation = TOOLS[tool].params.model_fields[option].annotation
    return get_args(annotation) if get_origin(annotation) is Literal else ()


def default(tool: str, option: str) -> Any:
    """The value `option` of `tool` takes when it is left out (None when required)."""
    field = TOOLS[tool].params.model_fields[option]
    return None if field.is_required() else field.get_default()


def bounds(tool: str, option: str) -> tuple[int | None, int | None]:
    """The inclusive range of a number option, or of a text option's length (None:
    no limit on that side)."""
    lo: int | None = None
    hi: int | None = None
    for rule in TOOLS[tool].params.model_fields[option].metadata:
        for name in ("ge", "min_length"):
            lo = getattr(rule, name, None) if getattr(rule, name, None) is not None else lo
        for name in ("le", "max_length"):
            hi = getattr(rule, name, None) if getattr(rule, name, None) is not None else hi
    return lo, hi


def option_costs(tool: str, base: int) -> dict[Any, int]:
    """What each choice of the tool's priced option costs from the configured base
    cost ({} when the cost is flat): the prices the bot and help text state."""
    spec = TOOLS[tool]
    if spec.priced_option is None:
        return {}
    return {
        value: spec.cost_for(base, spec.params.model_validate({spec.priced_option: value}))
        for value in choices(tool, spec.priced_option)
    }


def aspect_ratio(aspect: str) -> tuple[int, int]:
    """`"16:9"` -> `(16, 9)`: the exact ratio an `Aspect` value names."""
    w, h = aspect.split(":")
    return int(w), int(h)


def parse_params(tool: str, raw: dict[str, Any]) -> Params:
    """Validate raw options into the tool's params; InvalidInput names the field."""
    spec = TOOLS.get(tool)
    if spec is None:
        raise InvalidInput(f"Unknown tool {tool!r}; choose one of {', '.join(TOOLS)}.", field="tool")
    clean = {k: v for k, v in raw.items() if v is not None}
    try:
        return spec.params.model_validate(clean)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "parameters"
        msg = _FIELD_RE.sub("", err["msg"])
        if err["type"] == "extra_forbidden":
            msg = f"{tool} has no option named {field!r}"
        elif err["type"] == "missing":
            msg = "this option is required"
        raise InvalidInput(f"Invalid `{field}`: {msg}.", field=field) from None
