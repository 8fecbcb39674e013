"""The design renderer with the text members really type: every script and emoji,
phrase-aware line breaks, text clear of decorations, the colours asked for."""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np
import pytest
from PIL import Image

from core.providers.base import ProviderRequest
from core.providers.local import design
from core.providers.local.design import SIZES, render_design, split_prompt
from core.providers.local.design.render import MIN_ANY_CAP, MIN_TITLE_CAP, Layout
from core.providers.local.design.script import clusters, segment, visual_order
from core.providers.local.design.text import body_text, fit_text, tokens
from core.tools.base import DesignParams

STYLES = ("modern", "vintage", "minimal", "bold", "playful")
BAKERY = (
    "Grand opening of our neighbourhood bakery this Saturday, free croissants for the first "
    "50 customers"
)


@lru_cache(maxsize=64)
def _render(
    prompt: str, style: str = "minimal", aspect: str = "1:1", colors: str = "", seed: int = 0
) -> tuple[np.ndarray, Layout]:
    params = DesignParams(prompt=prompt, style=style, aspect=aspect, colors=colors, seed=seed)
    img, layout = render_design(params)
    return np.asarray(img), layout


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("🎮 Game night 🍕 Friday", "🎮 Game night 🍔 Friday"),  # one emoji differs
        ("东京 ラーメン 祭り", "京都 ラーメン 祭り"),  # one CJK character differs
    ],
)
def test_one_character_changes_the_picture(a: str, b: str) -> None:
    img_a, lay_a = _render(a, "bold")
    img_b, _ = _render(b, "bold")
    assert not np.array_equal(img_a, img_b)
    assert lay_a.dropped == ()  # emoji and CJK are drawn, not dropped


def test_private_use_character_is_dropped_not_drawn(make_settings) -> None:  # type: ignore[no-untyped-def]
    img_a, lay_a = _render("Game night \ue000 Friday", "bold")
    img_b, _ = _render("Game night Friday", "bold")
    assert np.array_equal(img_a, img_b)
    assert lay_a.dropped == ("\ue000",)
    params = DesignParams(prompt="Game night \ue000 Friday", style="bold")
    req = ProviderRequest("j", "design", params, None, None, "k", time.monotonic() + 60)
    result = design.run(req, make_settings())
    assert result.note
    assert "U+E000" in result.note
    assert result.data["dropped"] == ["U+E000"]


def test_every_script_has_a_font() -> None:
    text = "Καλημέρα Привет مرحبا שלום नमस्ते สวัสดี 東京 ラーメン 서울 👩‍👩‍👧‍👦 🇫🇷 👍🏽"
    pieces, dropped = segment(text, "condensed", "ja")
    assert dropped == ()
    fonts = {p.face.name.split("-")[0].split("#")[0] for p in pieces}
    assert {
        "NotoSansArabic",
        "NotoSansHebrew",
        "NotoSansDevanagari",
        "NotoSansThai",
        "NotoSansCJK",
        "NotoColorEmoji",
    } <= fonts
    assert "👩‍👩‍👧‍👦" in clusters(text)
    assert "🇫🇷" in clusters(text)
    assert "👍🏽" in clusters(text)


def test_right_to_left_runs_are_reordered() -> None:
    pieces, _ = segment("Hello שלום עולם world", "regular")
    order = [p.text for p, _ in visual_order(list(pieces), base_rtl=False)]
    assert order[0].startswith("Hello")
    assert order[-1].endswith("world")
    pieces, _ = segment("שלום Hello עולם", "regular")
    order = [p.text for p, _ in visual_order(list(pieces), base_rtl=True)]
    assert order[0] == "עולם"
    assert order[-1] == "שלום"


def test_bakery_title_and_breaks() -> None:
    copy = split_prompt(BAKERY)
    assert copy.title == "Grand Opening of Our Neighbourhood Bakery"
    assert not copy.title.lower().endswith("this")
    assert copy.subtitle == "This Saturday"
    assert copy.details.startswith("Free croissants")
    for style in STYLES:
        _, layout = _render(BAKERY, style, "16:9")
        title = next(t for t in layout.texts if t.role == "title")
        assert title.lines[-1].split()[-1].lower() != "this", (style, title.lines)


def test_phrases_are_never_split() -> None:
    text = "Bake sale this Saturday at 8 pm for the first 50 customers"
    for width in (150, 250, 400, 700):
        block = fit_text(text, "regular", (width, 1000), 6, 1.1)
        for line in block.lines[:-1]:
            assert line.split()[-1].lower() not in ("this", "at", "8", "the", "for", "50")
    assert [t.text for t in tokens("東京ラーメン")] == ["東", "京", "ラーメン"]


def test_odd_text_never_crashes() -> None:
    for text in ("", "\u200b\u200d", "\ue000\ue001", "x" * 1000, "🏳️‍🌈" * 40, "a\u0301" * 9):
        for box in ((0, 0), (-5, 10), (1, 1), (800, 300)):
            fit_text(text, "condensed", box)
            body_text(text, "regular", box, 20)
    _render("\ue000 \U000f0000 ok", "playful", "9:16")


@pytest.mark.parametrize("style", STYLES)
def test_text_clear_of_shapes_and_margins_everywhere(style: str) -> None:
    for aspect, (w, h) in SIZES.items():
        for prompt in (BAKERY, "Hi") if aspect == "9:16" else (BAKERY,):
            _, layout = _render(prompt, style, aspect)
            need = MIN_TITLE_CAP[aspect] if len(layout.copy.title) <= 24 else MIN_ANY_CAP
            assert layout.texts, (aspect, prompt)
            assert layout.title_cap >= need * h, (aspect, prompt)
            m = 0.04 * min(w, h) - 0.5
            for t in layout.texts:
                x0, y0, x1, y1 = t.box
                assert m <= x0, (aspect, t)
                assert m <= y0, (aspect, t)
                assert x1 <= w - m, (aspect, t)
                assert y1 <= h - m, (aspect, t)
                for s in layout.shapes:
                    apart = x1 <= s[0] or s[2] <= x0 or y1 <= s[1] or s[3] <= y0
                    assert apart, (aspect, prompt, t.role, t.box, s)


@pytest.mark.parametrize("style", STYLES)
def test_new_seed_new_layout(style: str) -> None:
    boxes = {
        tuple(round(v) for t in _render(BAKERY, style, seed=seed)[1].texts for v in t.box)
        for seed in range(3)
    }
    assert len(boxes) >= 2


def test_black_and_white_request_adds_no_colour() -> None:
    for style in STYLES:
        arr, _ = _render("Game night Friday at 8pm", style, colors="black,white")
        hsv = np.asarray(Image.fromarray(arr).convert("HSV")).astype(float) / 255
        saturated = (hsv[..., 1] > 0.25) & (hsv[..., 2] > 0.2)
        assert saturated.mean() < 0.002, (style, saturated.mean())
