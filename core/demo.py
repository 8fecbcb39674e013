"""`studio demo`: every tool on bundled sample images, offline, through the real engine.

Sample photos come from scikit-image's bundled data (public-domain / CC0 images
that ship inside the package), written as JPEG/PNG files so the run exercises
the same decode path as an upload.
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from core.config import Settings
from core.errors import UserError


def _sample(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


def write_samples(folder: Path) -> dict[str, Path]:
    """Write the bundled sample images as files; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    specs: list[tuple[str, str, Any]] = [
        ("astronaut.jpg", "astronaut", None),
        ("coffee.jpg", "coffee", None),
        ("chelsea.jpg", "chelsea", None),
        ("rocket.jpg", "rocket", None),
        ("chelsea-small.png", "chelsea", (226, 150)),
    ]
    for filename, name, size in specs:
        img = _sample(name).convert("RGB")
        if size:
            img = img.resize(size, Image.Resampling.LANCZOS)
        path = folder / filename
        buf = io.BytesIO()
        img.save(buf, "JPEG" if filename.endswith(".jpg") else "PNG", quality=92)
        path.write_bytes(buf.getvalue())
        out[filename] = path
    return out


@dataclass(frozen=True)
class DemoStep:
    """One step of `studio demo`: a tool, its sample input (None for design), params, a label."""

    tool: str
    input: str | None  # sample filename, or None for design
    params: dict[str, Any]
    label: str


DEMO_STEPS = [
    DemoStep("design", None, {"prompt": "Summer jazz night at the harbour, live music",
                              "style": "bold", "aspect": "16:9"}, "design-bold-16x9"),
    DemoStep("design", None, {"prompt": "Handmade ceramics studio open house",
                              "style": "vintage", "aspect": "1:1"}, "design-vintage-1x1"),
    DemoStep("remove-bg", "astronaut.jpg", {"mode": "person"}, "remove-bg-astronaut"),
    DemoStep("remove-bg", "chelsea.jpg", {"mode": "animal"}, "remove-bg-chelsea"),
    DemoStep("upscale", "chelsea-small.png", {"scale": 4}, "upscale-chelsea-x4"),
    DemoStep("palette", "coffee.jpg", {"colors": 6}, "palette-coffee"),
    DemoStep("crop", "astronaut.jpg", {"ratio": "16:9", "focus": "face"}, "crop-astronaut-16x9"),
    DemoStep("crop", "rocket.jpg", {"ratio": "9:16", "focus": "auto"}, "crop-rocket-9x16"),
]


async def run_demo(settings: Settings, out: Path, *, guild: str, member: str,
                   fetch: bool = True) -> int:
    """Run every demo step as `member` of `guild` (the CLI's operator wallet)."""
    from core.engine import Engine, JobRequest
    from core.operator import run_as_operator

    if fetch:
        _fetch_models(settings)
    samples = write_samples(out / "inputs")  # creates `out` too
    engine = await Engine.create(settings, rate_limits=False)  # the operator's own machine
    await engine.start()
    rows: list[tuple[str, ...]] = []
    failures = 0
    try:
        for step in DEMO_STEPS:
            image = samples[step.input].read_bytes() if step.input else None
            t0 = time.monotonic()
            try:
                result = await run_as_operator(engine, JobRequest(
                    guild, member, step.tool, step.params, image=image, source="cli"))
            except UserError as exc:
                failures += 1
                rows.append((step.tool, step.input or "-", "-", "-", "-", f"error: {exc}"))
                continue
            secs = f"{time.monotonic() - t0:.2f}s"
            if not result.ok:
                failures += 1
                rows.append((step.tool, step.input or "-", "-", "0", secs,
                             f"failed: {result.error}"))
                continue
            written = []
            for key, name in zip(result.file_keys, result.file_names, strict=True):
                dest = out / f"{step.label}-{name}"
                dest.write_bytes(await engine.store.get_async(key))
                written.append(dest.name)
            detail = _detail(step.tool, result.data)
            rows.append((step.tool, step.input or "-", result.provider or "-",
                         str(result.credits_charged), secs, ", ".join(written) + detail))
    finally:
        await engine.close()
    _print_table(rows, out)
    return 1 if failures else 0


def _detail(tool: str, data: dict[str, Any]) -> str:
    if tool == "palette":
        return " (" + " ".join(c["hex"] for c in data.get("colors", [])) + ")"
    if tool == "crop" and "box" in data:
        b = data["box"]
        return f" (box {b['width']}×{b['height']} at {b['x']},{b['y']})"
    if "width" in data:
        return f" ({data['width']}×{data['height']})"
    return ""


def _fetch_models(settings: Settings) -> None:
    try:
        from core.models import get_store
    except ImportError:
        return
    store = get_store(settings)

    def log(message: str) -> None:  # models already present were listed by setup
        if not message.endswith("present and verified"):
            print(message, file=sys.stderr)

    try:
        store.fetch(None, log=log)
    except Exception as exc:  # offline with nothing cached: tools fall back and say so
        print(f"warning: could not fetch models ({exc}); local tools use their fallbacks",
              file=sys.stderr)


def _print_table(rows: list[tuple[str, ...]], out: Path) -> None:
    head = ("tool", "input", "provider", "credits", "time", "output")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    print(fmt.format(*head))
    print(fmt.format(*("-" * w for w in widths), "-" * 6))
    for r in rows:
        print(fmt.format(*r))
    print(f"\nresults in {out.resolve()}/")
