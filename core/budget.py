"""What a local job will cost in time and memory, decided before anything is charged.

A small upload can expand to gigabytes: a 126 kB flat PNG decodes to 39 MP, and
a 100-byte 1×30000 strip fed to a tiled network is mostly padding. So every
local tool's work is estimated from the image size before the hold, and a job
that cannot finish within the job deadline, or would need more memory than one
job may have, is refused with a message that names the problem and what would
work instead.

- `estimate(tool, params, width, height, settings)` is pure: it returns a
  Budget (estimated seconds, peak bytes, output pixels, the upscale network)
  or raises InvalidInput.
- The upscale network is chosen by a time budget per output megapixel: the best
  network whose estimated cost (tiles × per-tile cost + pixels the network sees ×
  per-pixel cost) fits `limits.upscale_s_per_out_mp` × the output megapixels, so
  the choice hardly depends on the size and time grows smoothly with the output.
- remove-bg computes its mask at most at `limits.remove_bg_work_mp` and scales
  the mask up (`working_size`), so its memory no longer grows ~80 bytes/pixel.
- `core/slots.py` bounds heavy local work across processes (the bot's workers and
  every `studio run`): `memory_budget_mb // max_job_memory_mb` slots, each a
  lock file taken with portalocker's BoundedSemaphore (flock: the kernel frees
  a slot when its holder dies, even by SIGKILL).

The cost figures are measured on the reference machine (2 cores, no GPU) by
`benchmarks/budget.py`, which writes `benchmarks/results/budget.md`; rounded up
about 20 % so the estimate errs on the safe side. `limits.cpu_factor` scales
every time figure for a slower or faster machine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import InvalidInput
from core.providers.base import RemoteProvider
from core.tools.base import Params, RemoveBgParams, UpscaleParams

if TYPE_CHECKING:
    from PIL import Image

    from core.providers.base import Provider

MB = 1024 * 1024
MIN_NET_SIDE = 16  # the upscale networks pad smaller tiles to 16 px a side
LIGHT_BYTES = 256 * MB  # jobs estimated below this need no memory slot


@dataclass(frozen=True)
class NetworkCost:
    """One Real-ESRGAN network's measured cost on the reference machine.

    Time = tiles × s_per_tile + (pixels the network sees, context and the
    16 px minimum included) × s_per_mp / 1e6. peak_mb: its own working memory
    at its tile size (weights + activations), independent of the image size.
    """

    scale: int
    tile: int
    pad: int
    s_per_mp: float
    s_per_tile: float
    peak_mb: float


# Tile geometry must match core.providers.local.upscale.NETWORKS (a test checks it).
NETWORK_COSTS: dict[str, NetworkCost] = {
    # compact networks: 908 / 1094 MB measured over the loaded model with 512-px tiles
    "realesr-animevideov3-x2": NetworkCost(2, 512, 18, s_per_mp=5.8, s_per_tile=0.004, peak_mb=1000),
    "realesr-animevideov3-x4": NetworkCost(4, 512, 18, s_per_mp=8.8, s_per_tile=0.004, peak_mb=1100),
    "realesrgan-x4plus": NetworkCost(4, 128, 16, s_per_mp=205.0, s_per_tile=0.45, peak_mb=1300),
}
BEST = "realesrgan-x4plus"
FAST = {2: "realesr-animevideov3-x2", 4: "realesr-animevideov3-x4"}

# Per-megapixel costs of the steps around the networks (reference machine).
UPSCALE_S_PER_OUT_MP = 0.35  # fidelity step (back-projection, detail) + PNG encode, per output MP
FALLBACK_S_PER_OUT_MP = 0.3  # Lanczos + unsharp + PNG (benchmarks/upscale.md: 0.22 at load 11)
UPSCALE_BYTES_PER_OUT_PX = 24  # network output, YCrCb copy, float32 planes, RGB result, PNG
UPSCALE_BYTES_PER_IN_PX = 12  # the decoded input, its RGB copy, the pickled request
UPSCALE_ALPHA_BYTES_PER_IN_PX = 48  # transparent input: the premultiplied pull-push fill
# ISNet at 1024² (OpenVINO: ~0.8 s in bfloat16, ~1.6 s in float32 on a CPU without it),
# the decisions and the edge matting, with margin
REMOVE_BG_FIXED_S = 5.0
REMOVE_BG_PERSON_S = 2.5  # person mode always adds the mirrored ISNet pass and selfie
REMOVE_BG_MODEL_MB = 470  # ISNet once compiled (a worker keeps it)
REMOVE_BG_RUN_MB = 720  # ISNet's inference peak over the loaded model; freed after
REMOVE_BG_S_PER_WORK_MP = 0.5  # refinement applied at the working size
REMOVE_BG_BYTES_PER_WORK_PX = 90  # float32 guide, coefficients, masks at the working size
REMOVE_BG_S_PER_MP = 0.35  # full size: mask upsample, RGBA assembly, PNG encode
REMOVE_BG_BYTES_PER_PX = 20  # full size: input copies, alpha, RGBA array, PNG image and bytes
LIGHT_S_PER_MP = 0.3  # palette, crop: decode copies, downscale for analysis, crop encode
LIGHT_FIXED_S = 0.2  # warm palette or crop of a small image
LIGHT_BYTES_PER_PX = 14
LIGHT_FIXED_MB = 150


@dataclass(frozen=True)
class Budget:
    """A local job's estimated cost. `seconds` is on an idle machine (scaled by
    limits.cpu_factor); `peak_bytes` is the job's own memory above a worker's baseline."""

    tool: str
    seconds: float
    peak_bytes: int
    output_pixels: int
    work_pixels: int  # pixels the heavy step processes (after any downscale)
    working_size: tuple[int, int] | None = None  # remove-bg: mask size when downscaled
    network: str | None = None  # upscale: the network the cost rule picked
    notes: tuple[str, ...] = field(default=())

    @property
    def heavy(self) -> bool:
        """True when the job's peak memory puts it in the heavy lane (>= LIGHT_BYTES)."""
        return self.peak_bytes >= LIGHT_BYTES


# --------------------------------------------------------------------------- limits


def time_limit_s(settings: Settings) -> float:
    """Seconds an estimate may take on an idle machine so the job finishes by its
    deadline while every local worker is busy (they share the cores)."""
    return settings.jobs.deadline_s / contention(settings)


def contention(settings: Settings) -> float:
    """How much slower a job runs when all local workers are busy at once."""
    cores = os.cpu_count() or 1
    return max(1.0, settings.limits.local_threads * settings.models.threads / cores)


def memory_slots(settings: Settings) -> int:
    """How many jobs of `limits.max_job_memory_mb` fit in `limits.memory_budget_mb` (at least 1)."""
    lim = settings.limits
    return max(1, lim.memory_budget_mb // lim.max_job_memory_mb)


def working_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most `max_pixels` pixels."""
    if width * height <= max_pixels:
        return width, height
    f = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * f)), max(1, math.floor(height * f))


def working_note(ww: int, wh: int, width: int, height: int) -> str:
    """What a member is told when remove-bg worked on a downscaled copy."""
    return (f"large image: the background was found on a {ww}×{wh} copy and the cut-out "
            f"mask scaled up to {width}×{height}")


# --------------------------------------------------------------------------- estimates


def estimate(
    tool: str, params: Params, width: int, height: int, settings: Settings, *,
    alpha: bool = False, networks: frozenset[str] | None = None,
) -> Budget:
    """The cost of running `tool` locally on a width×height image; InvalidInput when
    it cannot finish by the deadline, needs more memory than a job may have, or
    makes a result larger than allowed. `alpha`: the image has transparency (upscale
    fills the hidden colour and resizes the alpha on its own). `networks`: the
    installed upscale networks (None: all)."""
    if tool == "upscale":
        scale = params.scale if isinstance(params, UpscaleParams) else 2
        return _upscale(scale, width, height, settings, alpha, networks)
    if tool == "remove-bg":
        mode = params.mode if isinstance(params, RemoveBgParams) else "auto"
        return _check(_remove_bg(mode, width, height, settings), width, height, settings)
    if tool in ("palette", "crop"):
        return _check(_light(tool, width, height, settings), width, height, settings)
    return Budget(tool, LIGHT_FIXED_S * settings.limits.cpu_factor, LIGHT_FIXED_MB * MB, 0, 0)


def admit(
    tool: str, params: Params, image: Image.Image, settings: Settings,
    providers: Mapping[str, Provider],
) -> Budget | None:
    """The submit-time check, before any credit moves: when the local provider is the
    only one in the tool's chain that can run, refuse (InvalidInput) what it could not
    finish. With a configured remote provider the job is admitted; should the chain
    fall back to local, the local tool checks the same budget before it starts."""
    chain = settings.tool_chain(tool)
    if "local" not in chain:
        return None
    for name in chain:
        p = providers.get(name)
        if isinstance(p, RemoteProvider) and tool in p.tools and p.available()[0]:
            return None
    alpha = image.mode in ("RGBA", "LA", "PA")
    return estimate(tool, params, image.width, image.height, settings, alpha=alpha)


def network_seconds(name: str, scale: int, width: int, height: int) -> float:
    """Reference-machine seconds for the network `name` to upscale width×height by
    `scale` (the network itself plus the work around it)."""
    net = NETWORK_COSTS[name]
    tiles, seen = network_work(net, width, height)
    out_mp = width * height * scale * scale / 1e6
    net_out_mp = width * height * net.scale * net.scale / 1e6 if net.scale != scale else 0.0
    work = tiles * net.s_per_tile + seen * net.s_per_mp / 1e6
    return work + (out_mp + 0.3 * net_out_mp) * UPSCALE_S_PER_OUT_MP


def network_work(net: NetworkCost, width: int, height: int) -> tuple[int, int]:
    """(tiles, pixels the network sees): each tile with its context, at least 16 px a side."""
    def spans(n: int) -> list[int]:
        return [min(n, s + net.tile + net.pad) - max(0, s - net.pad) for s in range(0, n, net.tile)]

    xs, ys = spans(width), spans(height)
    seen = sum(max(MIN_NET_SIDE, x) for x in xs) * sum(max(MIN_NET_SIDE, y) for y in ys)
    return len(xs) * len(ys), seen


def choose_network(
    scale: int, width: int, height: int, settings: Settings, *,
    networks: frozenset[str] | None = None,
) -> tuple[str | None, str | None]:
    """(network, note): the upscale network by a time budget, never by size alone.

    `fast`: the most detailed installed network that can make `scale` (x4plus,
    then the compact network for the scale, then the compact x4) and whose estimated reference-machine seconds fit
    `limits.upscale_s_per_out_mp` × the output megapixels. Every network's cost
    is close to proportional to the output size, so the same network runs for
    every size of a given shape and the time grows smoothly with the output (the
    default 4 s/MP picks the compact networks, ~1-2 s/MP; x4plus measures about
    14 s/MP at ×4). `best`: x4plus whenever it fits the job's time limit, else the
    compact one, said in the note. In both, a network over the time limit is
    passed over for the next one. None when no network is installed (the caller
    falls back).
    """
    have = frozenset(NETWORK_COSTS) if networks is None else networks
    factor = settings.limits.cpu_factor
    limit = time_limit_s(settings)
    out_mp = width * height * scale * scale / 1e6

    def secs(name: str) -> float:
        return network_seconds(name, scale, width, height) * factor

    order = dict.fromkeys((BEST, FAST[scale], FAST[4]))  # most restored detail first
    usable = [n for n in order if n in have and NETWORK_COSTS[n].scale >= scale]
    compact = [n for n in usable if n != BEST]
    if settings.models.upscale_quality == "best" and BEST in usable:
        if secs(BEST) <= limit:
            return BEST, None
        fast = next((n for n in compact if secs(n) <= limit), compact[0] if compact else None)
        note = (f"{BEST} would take about {_duration(secs(BEST))} for this image: "
                f"used the faster {fast}" if fast else None)
        return fast or BEST, note
    budget = settings.limits.upscale_s_per_out_mp * out_mp
    fits_budget = [n for n in usable
                   if network_seconds(n, scale, width, height) <= budget and secs(n) <= limit]
    if fits_budget:
        return fits_budget[0], None
    cheapest = sorted(usable, key=secs)  # nothing fits: the cheapest (estimate may refuse)
    return (cheapest[0] if cheapest else None), None


def _upscale(
    scale: int, width: int, height: int, settings: Settings, alpha: bool,
    networks: frozenset[str] | None,
) -> Budget:
    lim = settings.limits
    ow, oh = width * scale, height * scale
    what = f"an ×{scale} upscale of a {width}×{height} image"
    if max(ow, oh) > lim.max_output_side:
        raise InvalidInput(
            f"Invalid `image`: {what} would be {ow}×{oh}; a result may be at most "
            f"{lim.max_output_side} px on its longest side. "
            f"{_upscale_hint(scale, width, height, settings, alpha, networks)}",
            field="image")
    if ow * oh > lim.upscale_max_output_mp * 1e6:
        raise InvalidInput(
            f"Invalid `image`: {what} would be {ow}×{oh} ({ow * oh / 1e6:.0f} MP); the limit "
            f"is {lim.upscale_max_output_mp:g} MP. "
            f"{_upscale_hint(scale, width, height, settings, alpha, networks)}",
            field="image")
    b = _upscale_cost(scale, width, height, settings, alpha, networks)
    return _check(b, width, height, settings, what=what,
                  hint=lambda: _upscale_hint(scale, width, height, settings, alpha, networks))


def _upscale_cost(
    scale: int, width: int, height: int, settings: Settings, alpha: bool,
    networks: frozenset[str] | None,
) -> Budget:
    name, note = choose_network(scale, width, height, settings, networks=networks)
    out_px = width * height * scale * scale
    if name is None:  # no network installed: Lanczos + unsharp mask, float32 YCrCb
        secs, net_mb, work = out_px / 1e6 * FALLBACK_S_PER_OUT_MP, 0.0, width * height
        out_bytes = 32 * out_px
    else:
        net = NETWORK_COSTS[name]
        secs = network_seconds(name, scale, width, height)
        net_mb, work = net.peak_mb, network_work(net, width, height)[1]
        out_bytes = UPSCALE_BYTES_PER_OUT_PX * out_px + 3 * width * height * net.scale**2 * (
            net.scale != scale)
    if alpha:  # hidden colour filled (float32 pyramid), alpha resized in float32
        out_bytes += 8 * out_px + UPSCALE_ALPHA_BYTES_PER_IN_PX * width * height
        secs *= 1.0 if name else 2.0  # the resampler runs on colour and on alpha
    peak = int(net_mb * MB + out_bytes + UPSCALE_BYTES_PER_IN_PX * width * height)
    return Budget("upscale", secs * settings.limits.cpu_factor, peak, out_px, work,
                  network=name, notes=(note,) if note else ())


def _remove_bg(mode: str, width: int, height: int, settings: Settings) -> Budget:
    px = width * height
    ww, wh = working_size(width, height, int(settings.limits.remove_bg_work_mp * 1e6))
    work = ww * wh
    secs = (REMOVE_BG_FIXED_S + (REMOVE_BG_PERSON_S if mode == "person" else 0.0)
            + REMOVE_BG_S_PER_WORK_MP * work / 1e6 + REMOVE_BG_S_PER_MP * px / 1e6)
    # the network's peak and the per-pixel steps come one after the other
    peak = int(REMOVE_BG_MODEL_MB * MB + max(
        REMOVE_BG_RUN_MB * MB, REMOVE_BG_BYTES_PER_WORK_PX * work + REMOVE_BG_BYTES_PER_PX * px))
    notes = (working_note(ww, wh, width, height),) if work < px else ()
    return Budget("remove-bg", secs * settings.limits.cpu_factor, peak, px, work,
                  working_size=(ww, wh) if work < px else None, notes=notes)


def _light(tool: str, width: int, height: int, settings: Settings) -> Budget:
    px = width * height
    secs = LIGHT_FIXED_S + LIGHT_S_PER_MP * px / 1e6
    peak = int(LIGHT_FIXED_MB * MB + LIGHT_BYTES_PER_PX * px)
    out = px if tool == "crop" else 0
    return Budget(tool, secs * settings.limits.cpu_factor, peak, out, px)


def _check(
    b: Budget, width: int, height: int, settings: Settings, *, what: str | None = None,
    hint: Callable[[], str] | None = None,
) -> Budget:
    """Refuse a budget over the time or memory limit, naming the problem."""
    what = what or f"{b.tool} on a {width}×{height} image"
    limit_s = time_limit_s(settings)
    limit_b = settings.limits.max_job_memory_mb * MB
    if b.seconds <= limit_s and b.peak_bytes <= limit_b:
        return b
    tip = hint() if hint else _smaller_hint(b.tool, width, height, settings)
    if b.seconds > limit_s:
        problem = (f"would take about {_duration(b.seconds)} on this server; the limit is "
                   f"{_duration(limit_s)}")
    else:
        problem = (f"would need about {b.peak_bytes / MB:,.0f} MB of memory; the limit is "
                   f"{settings.limits.max_job_memory_mb:,} MB")
    raise InvalidInput(f"Invalid `image`: {what} {problem}. {tip}", field="image")


def fits(b: Budget, settings: Settings) -> bool:
    """True when the estimate is within both the time limit (s) and the per-job memory limit."""
    return (b.seconds <= time_limit_s(settings)
            and b.peak_bytes <= settings.limits.max_job_memory_mb * MB)


def _largest_fitting(
    cost: Callable[[int, int], Budget | None], width: int, height: int
) -> tuple[int, int] | None:
    """The largest same-aspect size (binary search on the side factor) whose cost fits."""
    lo, hi, best = 0.0, 1.0, None
    for _ in range(24):
        f = (lo + hi) / 2
        w, h = max(1, math.floor(width * f)), max(1, math.floor(height * f))
        if cost(w, h) is not None:
            lo, best = f, (w, h)
        else:
            hi = f
    return best


def _smaller_hint(tool: str, width: int, height: int, settings: Settings) -> str:
    def cost(w: int, h: int) -> Budget | None:
        b = _remove_bg("auto", w, h, settings) if tool == "remove-bg" else _light(tool, w, h, settings)
        return b if fits(b, settings) else None

    best = _largest_fitting(cost, width, height)
    return (f"Try a smaller image (at most about {best[0]}×{best[1]})." if best
            else "This server cannot run it on any image size; ask an admin.")


def _upscale_hint(
    scale: int, width: int, height: int, settings: Settings, alpha: bool,
    networks: frozenset[str] | None,
) -> str:
    lim = settings.limits

    def cost(s: int, w: int, h: int) -> Budget | None:
        if max(w, h) * s > lim.max_output_side or w * h * s * s > lim.upscale_max_output_mp * 1e6:
            return None
        b = _upscale_cost(s, w, h, settings, alpha, networks)
        return b if fits(b, settings) else None

    tips = []
    if scale == 4 and cost(2, width, height) is not None:
        tips.append("try ×2")
    best = _largest_fitting(lambda w, h: cost(scale, w, h), width, height)
    if best:
        tips.append(f"send a smaller image (at most about {best[0]}×{best[1]} for ×{scale})")
    if not tips:
        return "This image cannot be upscaled on this server."
    text = " or ".join(tips)
    return text[0].upper() + text[1:] + "."


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"
