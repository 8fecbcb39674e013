"""A fast scripted provider for every tool, with knobs for timing.

Outputs are real images with the properties the product promises (exact
ratio, exact scale, a real alpha channel, palette shares summing to 100) so
the end-to-end tests can check the files the bot delivers. Knobs: a gate to
hold jobs running, progress reports at an interval, CPU burned in a thread,
an exception to raise.
"""

from __future__ import annotations

import asyncio
import colorsys
import io
import time
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from core.providers.base import Attempt, OutputFile, Provider, ProviderRequest, ProviderResult
from core.tools.base import TOOLS

ASPECT_SIZES = {"1:1": (192, 192), "16:9": (320, 180), "9:16": (180, 320), "4:3": (256, 192)}


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def ratio_box(w: int, h: int, ratio: str) -> tuple[int, int, int, int]:
    rw, rh = map(int, ratio.split(":"))
    cw = min(w, h * rw // rh)
    cw -= cw % rw
    ch = cw * rh // rw
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def burn_cpu(seconds: float) -> int:
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += sum(i * i for i in range(2000))
    return n


def render(req: ProviderRequest, noisy: bool = False) -> ProviderResult:
    p: Any = req.params
    img = req.image
    if req.tool == "design":
        w, h = ASPECT_SIZES[p.aspect]
        out = Image.new("RGB", (w, h), (30 + p.seed % 200, 90, 160))
        return ProviderResult(
            [OutputFile("design.png", png(out))],
            {"prompt_used": p.prompt, "width": w, "height": h},
            note="scripted renderer",
        )
    assert img is not None
    if req.tool == "remove-bg":
        out = img.convert("RGBA")
        alpha = np.full((out.height, out.width), 255, np.uint8)
        alpha[:, : out.width // 2] = 0
        out.putalpha(Image.fromarray(alpha))
        return ProviderResult(
            [OutputFile("cutout.png", png(out))], {"width": out.width, "height": out.height}
        )
    if req.tool == "upscale":
        out = img.resize((img.width * p.scale, img.height * p.scale))
        if noisy:
            arr = np.random.default_rng(1).integers(0, 255, (out.height, out.width, 3), np.uint8)
            out = Image.fromarray(arr)
        return ProviderResult(
            [OutputFile("upscaled.png", png(out))], {"width": out.width, "height": out.height}
        )
    if req.tool == "crop":
        x, y, cw, ch = ratio_box(img.width, img.height, p.ratio)
        out = img.crop((x, y, x + cw, y + ch))
        return ProviderResult(
            [OutputFile("crop.png", png(out))],
            {
                "box": {"x": x, "y": y, "width": cw, "height": ch},
                "reasons": ["centre"],
                "width": cw,
                "height": ch,
            },
        )
    if req.tool == "palette":
        q = img.convert("RGB").quantize(colors=p.colors)
        counts = sorted(q.getcolors() or [], reverse=True)
        pal = q.getpalette() or []
        total = sum(c for c, _ in counts)
        colors = []
        for count, idx in counts:
            r, g, b = pal[idx * 3 : idx * 3 + 3]
            h, lum, s = colorsys.rgb_to_hls(r / 255, g / 255, b / 255)
            colors.append(
                {
                    "hex": f"#{r:02x}{g:02x}{b:02x}",
                    "rgb": [r, g, b],
                    "hsl": [h * 360, s * 100, lum * 100],
                    "percent": round(100 * count / total, 1),
                    "name": "scripted",
                }
            )
        swatch = Image.new("RGB", (40 * len(colors), 40))
        for i, c in enumerate(colors):
            swatch.paste(tuple(c["rgb"]), (40 * i, 0, 40 * i + 40, 40))
        return ProviderResult([OutputFile("palette.png", png(swatch))], {"colors": colors})
    raise AssertionError(req.tool)


class Scripted(Provider):
    """Stands in for `local` (every tool)."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(
        self,
        *,
        gate: asyncio.Event | None = None,
        progress_steps: int = 0,
        step_s: float = 0.0,
        delay_s: float = 0.0,
        cpu_s: float = 0.0,
        error: BaseException | None = None,
        noisy: bool = False,
    ) -> None:
        self.gate = gate
        self.progress_steps = progress_steps
        self.step_s = step_s
        self.delay_s = delay_s
        self.cpu_s = cpu_s
        self.error = error
        self.noisy = noisy
        self.calls: list[ProviderRequest] = []
        self.started = asyncio.Event()

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        self.calls.append(req)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        for i in range(self.progress_steps):
            req.progress(i / self.progress_steps, f"step {i + 1} of {self.progress_steps}")
            await asyncio.sleep(self.step_s)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.cpu_s:
            await asyncio.to_thread(burn_cpu, self.cpu_s)
        if self.error is not None:
            raise self.error
        return await asyncio.to_thread(render, req, self.noisy)
