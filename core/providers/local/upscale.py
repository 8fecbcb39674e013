"""Local upscaling: Real-ESRGAN on the CPU through ncnn, tiled, then made faithful.

Why this shape:
- The network is chosen by a time budget per output megapixel
  (core.budget.choose_network): each network's estimated seconds, from its
  measured cost per megapixel, against `limits.upscale_s_per_out_mp` times the
  output size. The choice hardly depends on the size, so time grows smoothly
  with the output (no switch to a 25x heavier network below some size). By
  default that is the compact `realesr-animevideov3` x2/x4; `realesrgan-x4plus`
  runs for `best` quality, or when an operator raises the budget.
- Tiles carry `pad` pixels of real context on each side, at least the
  network's receptive radius (the compact networks are 18 3x3 convolutions), so
  a tiled result equals the whole-image one: tiling leaves no seams.
- GAN super-resolution on photos invents texture and drifts from the input
  (SSIM below bicubic's). `restore_fidelity` makes the result consistent with
  the input: one iterative back-projection step (Irani & Peleg 1991): the
  result's box-downscale is compared with the input and the difference, bicubic-
  upscaled, is added back, so low frequencies follow the input and high ones
  the network; then a small cored high-pass boost of luma sharpens what the
  network restored without amplifying noise. On benchmarks/upscale.py (tuned on
  the scikit-image set, checked on held-out photos) this takes luma SSIM above
  bicubic's and detail past Lanczos + 0.05 at x2 and x4.
- The result is exactly scale x the input: a x4 network used for a 2x request
  is followed by an area downscale.
- Transparent inputs: the colour hidden under alpha 0 never reaches the
  result. The resampler works in premultiplied alpha; the network sees colours
  whose hidden pixels were filled from the visible ones by premultiplied
  averaging, and the alpha is resized with Lanczos. No dark or light fringe
  appears around stickers (see `upscale_with_alpha`).
- With no weights, Lanczos plus an unsharp mask runs instead and the note
  says so: it is a resampler, not super-resolution.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from core.budget import choose_network, estimate, network_seconds, time_limit_s
from core.config import Settings
from core.errors import InvalidInput, PermanentProviderError
from core.models import FETCH_HINT, ModelStore, get_store
from core.providers.base import OutputFile, ProviderRequest, ProviderResult
from core.tools.base import UpscaleParams

BEST = "realesrgan-x4plus"
FAST = {2: "realesr-animevideov3-x2", 4: "realesr-animevideov3-x4"}
# restore_fidelity's luma detail boost (tuned on benchmarks/upscale.py's scikit-image set)
DETAIL_GAIN = 0.3  # high-pass gain
DETAIL_SIGMA = {2: 0.7, 4: 1.5}  # Gaussian sigma (output px) that splits off the high-pass
DETAIL_CORING = 2.0  # high-pass below this (8-bit levels) is left alone: noise, JPEG ringing
FALLBACK = "lanczos+unsharp"
FALLBACK_NOTE = f"model not installed: Lanczos + unsharp-mask resampling, not AI ({FETCH_HINT})"


@dataclass(frozen=True)
class Network:
    """How to run one Real-ESRGAN ncnn model."""

    name: str
    scale: int  # the network's own factor
    tile: int  # input pixels per tile side; bounds memory (x4plus: ~2.5 GB peak at 128)
    pad: int  # context pixels around each tile, cropped away after (>= receptive radius)


NETWORKS: dict[str, Network] = {
    # SRVGGNetCompact: 18 3x3 convolutions, receptive radius 18 px: exact tiles
    "realesr-animevideov3-x2": Network("realesr-animevideov3-x2", 2, 512, 18),
    "realesr-animevideov3-x4": Network("realesr-animevideov3-x4", 4, 512, 18),
    # RRDBNet's radius is far larger; its tiles differ from the whole by rounding only
    "realesrgan-x4plus": Network("realesrgan-x4plus", 4, 128, 16),
}


def run(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """Upscale `req.image` by 2 or 4; the output is exactly scale x the input."""
    if req.image is None:
        raise InvalidInput("upscale needs an image.", field="image")
    scale = req.params.scale if isinstance(req.params, UpscaleParams) else 2
    rgb, alpha = _split(req.image)
    h, w = rgb.shape[:2]
    store = get_store(settings)
    installed = frozenset(n for n in NETWORKS if store.path(n) is not None)
    # the output size, time and memory limits (core/budget.py): InvalidInput if over
    plan = estimate("upscale", req.params, w, h, settings, alpha=alpha is not None,
                    networks=installed)
    req.progress(0.02, "loading model")
    net_spec, net = _pick_network(store, preferred_networks(scale, w, h, settings, installed))
    note: str | None
    if net is None or net_spec is None:
        method, model, note = FALLBACK, None, FALLBACK_NOTE

        def upscale_rgb(x: np.ndarray, tick: Callable[[float], None]) -> np.ndarray:
            return lanczos_unsharp(x, scale)  # fast enough to need no progress ticks
    else:
        method, model = net_spec.name, net_spec.name
        note = "; ".join(plan.notes) if plan.notes and plan.network == method else None

        def upscale_rgb(x: np.ndarray, tick: Callable[[float], None]) -> np.ndarray:
            return super_resolve(net, net_spec, x, scale, tick)

    out, alpha = upscale_with_alpha(
        rgb, alpha, upscale_rgb, _progress_until(req), linear=method == FALLBACK
    )
    req.progress(0.95, "encoding PNG")
    png = _encode_png(out, alpha)
    return ProviderResult(
        files=[OutputFile("upscaled.png", png, "image/png")],
        data={"width": w * scale, "height": h * scale, "scale": scale, "method": method},
        note=note,
        model=model,
    )


def preferred_networks(
    scale: int, width: int, height: int, settings: Settings,
    networks: frozenset[str] | None = None,
) -> list[str]:
    """Networks to try in order, chosen by a time budget, never by size alone.

    First the one core.budget.choose_network picks: the best network whose
    estimated seconds (measured cost per megapixel) fit `limits.upscale_s_per_out_mp`
    per output megapixel (`fast`) or the job's time limit (`best`). Then, should
    that one fail to load, the other networks that can make `scale` and fit the
    time limit, cheapest first.
    """
    have = frozenset(NETWORKS) if networks is None else networks
    first, _ = choose_network(scale, width, height, settings, networks=have)

    def secs(n: str) -> float:
        return network_seconds(n, scale, width, height) * settings.limits.cpu_factor

    rest = sorted((n for n in have if n in NETWORKS and n != first and NETWORKS[n].scale >= scale
                   and secs(n) <= time_limit_s(settings)), key=secs)
    return ([first] if first else []) + rest


def _pick_network(store: ModelStore, names: list[str]) -> tuple[Network | None, object | None]:
    for name in names:
        net = store.ncnn_net(name)
        if net is not None:
            return NETWORKS[name], net
    return None, None


def _progress_until(req: ProviderRequest) -> Callable[[float], None]:
    """Per-tile progress that also stops work once the job's deadline has passed."""

    def tick(fraction: float) -> None:
        if time.monotonic() > req.deadline:
            raise PermanentProviderError(
                "local upscale ran past the job deadline", provider="local"
            )
        req.progress(0.05 + 0.9 * fraction, f"upscaling ({round(100 * fraction)} %)")

    return tick


# --------------------------------------------------------------------------- network


def super_resolve(
    net: object,
    spec: Network,
    rgb: np.ndarray,
    scale: int,
    tick: Callable[[float], None] = lambda _f: None,
    faithful: bool = True,
) -> np.ndarray:
    """The network's upscale of `rgb` (HxWx3 uint8) at exactly `scale`, (sH)x(sW)x3 uint8.

    `faithful`: made consistent with the input by `restore_fidelity` (the product
    path); False gives the raw network output (benchmarks compare both).
    """
    h, w = rgb.shape[:2]
    out = upscale_tiled(net, spec, rgb, tick)
    if spec.scale != scale:
        out = cv2.resize(out, (w * scale, h * scale), interpolation=cv2.INTER_AREA)
    return restore_fidelity(rgb, out, scale) if faithful else out


def restore_fidelity(small: np.ndarray, up: np.ndarray, scale: int) -> np.ndarray:
    """`up` (a network's x`scale` of `small`, uint8 RGB) made consistent with `small`.

    In YCrCb, per channel: one iterative back-projection step (Irani & Peleg,
    "Improving resolution by image registration", 1991): the box (area)
    downscale of `up` is compared with `small` and the difference, bicubic-
    upscaled, is added, so the result's low frequencies are the input's and
    its high frequencies the network's. Then luma gets DETAIL_GAIN x its
    high-pass (Gaussian sigma DETAIL_SIGMA[scale]), cored by DETAIL_CORING so
    flat areas, noise and JPEG ringing are not amplified. Channel by channel in
    float32 (8 bytes per output pixel at a time). Global, so tiling adds no seams.

    Returns the same shape as `up`, uint8 RGB.
    """
    h, w = small.shape[:2]
    if up.shape[:2] != (h * scale, w * scale):
        raise ValueError(f"restore_fidelity: {up.shape[:2]} is not {scale}x {small.shape[:2]}")
    src = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)
    dst = cv2.cvtColor(up, cv2.COLOR_RGB2YCrCb)
    for c in range(3):
        plane = dst[..., c].astype(np.float32)
        err = src[..., c].astype(np.float32) - cv2.resize(plane, (w, h),
                                                          interpolation=cv2.INTER_AREA)
        plane += cv2.resize(err, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        del err
        if c == 0:
            high = plane - cv2.GaussianBlur(plane, (0, 0), DETAIL_SIGMA.get(scale, 0.35 * scale))
            plane += DETAIL_GAIN * np.sign(high) * np.maximum(np.abs(high) - DETAIL_CORING, 0.0)
            del high
        np.clip(plane + 0.5, 0, 255, out=plane)
        dst[..., c] = plane.astype(np.uint8)
    faithful: np.ndarray = cv2.cvtColor(dst, cv2.COLOR_YCrCb2RGB)
    return faithful


def upscale_tiled(
    net: object, spec: Network, rgb: np.ndarray, tick: Callable[[float], None] = lambda _f: None
) -> np.ndarray:
    """Run the network tile by tile; each tile sees `pad` pixels of real context.

    Tiles run grouped by their padded shape, on memory pools of this call's own that
    are emptied whenever the shape changes and at the end. ncnn's pools keep every
    block they ever handed out, so the few different shapes of edge tiles would each
    add a full set of activations (a 2048² ×2 grew to 1.7 GB; now 0.9 GB), and the
    network's shared pool would keep it all after the job. Tiles are independent,
    so the order does not change the result.
    """
    import ncnn

    h, w = rgb.shape[:2]
    s, t, p = spec.scale, spec.tile, spec.pad
    out = np.empty((h * s, w * s, 3), np.uint8)

    def padded(y0: int, x0: int) -> tuple[int, int, int, int]:
        y1, x1 = min(y0 + t, h), min(x0 + t, w)
        return max(0, y0 - p), max(0, x0 - p), min(h, y1 + p), min(w, x1 + p)

    def shape(box: tuple[int, int, int, int]) -> tuple[int, int]:
        return box[2] - box[0], box[3] - box[1]

    tiles = sorted(((y, x, padded(y, x)) for y in range(0, h, t) for x in range(0, w, t)),
                   key=lambda tile: shape(tile[2]))
    pools = (ncnn.UnlockedPoolAllocator(), ncnn.PoolAllocator())  # blobs, workspace
    last: tuple[int, int] | None = None
    try:
        for i, (y0, x0, box) in enumerate(tiles):
            if last is not None and last != shape(box):
                for pool in pools:
                    pool.clear()
            last = shape(box)
            py0, px0, py1, px1 = box
            tile = run_network(net, rgb[py0:py1, px0:px1], pools)
            y1, x1 = min(y0 + t, h), min(x0 + t, w)
            oy, ox = (y0 - py0) * s, (x0 - px0) * s
            out[y0 * s : y1 * s, x0 * s : x1 * s] = tile[
                oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s
            ]
            tick((i + 1) / len(tiles))
    finally:
        for pool in pools:
            pool.clear()
    return out


def run_network(net: object, rgb: np.ndarray, pools: tuple[object, object] | None = None
                ) -> np.ndarray:
    """One forward pass: RGB uint8 HxWx3 in, RGB uint8 (sH)x(sW)x3 out.

    Tiny inputs are edge-padded to 16 px first (the network's convolutions
    need some room) and cropped back after. `pools`: ncnn (blob, workspace)
    allocators to run on; default the network's own.
    """
    import ncnn

    h, w = rgb.shape[:2]
    ph, pw = max(0, 16 - h), max(0, 16 - w)
    if ph or pw:
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) * (1.0 / 255.0)
    ex = net.create_extractor()  # type: ignore[attr-defined]
    if pools is not None:
        ex.set_blob_allocator(pools[0])
        ex.set_workspace_allocator(pools[1])
    ex.input("data", ncnn.Mat(x))
    ret, y = ex.extract("output")
    if ret != 0:
        raise PermanentProviderError(f"ncnn inference failed (code {ret})", provider="local")
    arr = np.array(y)
    del y, ex  # give the blocks back to the pools before the next tile
    out = np.clip(arr.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    s = out.shape[0] // rgb.shape[0]
    return out[: h * s, : w * s]


# --------------------------------------------------------------------------- fallback


def lanczos_unsharp(rgb: np.ndarray, scale: int) -> np.ndarray:
    """Lanczos resampling, then an unsharp mask on luminance only (no colour fringes).

    The mask's radius grows with the scale (the blur a resampler leaves does
    too); a small threshold keeps flat areas and noise from being amplified.
    """
    h, w = rgb.shape[:2]
    up = cv2.resize(rgb, (w * scale, h * scale), interpolation=cv2.INTER_LANCZOS4)
    ycc = cv2.cvtColor(up, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    y = ycc[..., 0]
    detail = y - cv2.GaussianBlur(y, (0, 0), 0.5 * scale)
    detail = np.where(np.abs(detail) > 2.0, detail, 0.0)
    ycc[..., 0] = y + 0.8 * detail
    sharpened: np.ndarray = cv2.cvtColor(
        np.clip(ycc + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB
    )
    return sharpened


# --------------------------------------------------------------------------- image I/O


def _split(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3]
        return np.ascontiguousarray(rgba[..., :3]), (alpha.copy() if alpha.min() < 255 else None)
    return np.asarray(image.convert("RGB")), None


def upscale_with_alpha(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    upscale_rgb: Callable[[np.ndarray, Callable[[float], None]], np.ndarray],
    tick: Callable[[float], None] = lambda _f: None,
    linear: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Upscale straight-alpha RGB (HxWx3 uint8) and alpha (HxW uint8 or None).

    The colour hidden under alpha 0 never reaches the output or its edges:
    - a `linear` resampler runs on premultiplied colour and on the alpha alike,
      un-premultiplied after (exact: an edge pixel's colour is the
      alpha-weighted mean of the visible pixels around it);
    - a network is not linear: on premultiplied colour it draws the alpha edge
      into the colour as a dark outline. It runs on straight colour whose
      hidden pixels were first filled from the visible ones (`fill_hidden`, a
      premultiplied average), so there is no edge in the colour to draw; the
      alpha is resized with Lanczos, which keeps soft gradients exact.
    `upscale_rgb(image, tick)` reports its own progress 0..1 through `tick`.
    Returns (RGB uint8, alpha uint8 or None) at the upscaled size.
    """
    if alpha is None:
        return upscale_rgb(rgb, tick), None
    if not linear:
        colour = upscale_rgb(fill_hidden(rgb, alpha), tick)
        return colour, _resize_lanczos(alpha, colour.shape[1], colour.shape[0])
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    premultiplied = np.ascontiguousarray(np.asarray(rgba.convert("RGBa"))[..., :3])
    colour = upscale_rgb(premultiplied, tick)
    grey = np.ascontiguousarray(np.repeat(alpha[..., None], 3, axis=2))
    alpha_up = np.clip(upscale_rgb(grey, tick).mean(axis=2) + 0.5, 0, 255).astype(np.uint8)
    straight = np.asarray(Image.fromarray(np.dstack([colour, alpha_up]), "RGBa").convert("RGBA"))
    return np.ascontiguousarray(straight[..., :3]), alpha_up


def _resize_lanczos(channel: np.ndarray, w: int, h: int) -> np.ndarray:
    up = cv2.resize(channel.astype(np.float32), (w, h), interpolation=cv2.INTER_LANCZOS4)
    resized: np.ndarray = np.clip(up + 0.5, 0, 255).astype(np.uint8)
    return resized


def _encode_png(rgb: np.ndarray, alpha: np.ndarray | None) -> bytes:
    img = (
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
        if alpha is not None
        else Image.fromarray(rgb, "RGB")
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)  # 3x faster than 6, ~14 % bigger
    return buf.getvalue()


def fill_hidden(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`rgb` (HxWx3 uint8) with the colour under alpha 0 replaced from visible pixels.

    Pull-push in premultiplied alpha: each coarser level is the alpha-weighted
    mean of the finer one, and every fully transparent pixel takes the colour
    of the level above, so it gets the colours of the nearest visible pixels
    and none of its own hidden colour. Visible pixels keep their colour.
    """
    a = alpha.astype(np.float32) / 255.0
    filled = _pull_push(rgb.astype(np.float32) * a[..., None], a)
    out = np.where(alpha[..., None] > 0, rgb, np.clip(filled + 0.5, 0, 255).astype(np.uint8))
    return np.ascontiguousarray(out)


def _pull_push(premultiplied: np.ndarray, weight: np.ndarray) -> np.ndarray:
    h, w = weight.shape
    if h <= 2 and w <= 2:
        total = float(weight.sum())
        mean = premultiplied.sum(axis=(0, 1)) / total if total > 0 else np.zeros(3)
        return np.broadcast_to(mean.astype(np.float32), (h, w, 3))
    size = (max(1, (w + 1) // 2), max(1, (h + 1) // 2))
    coarse = _pull_push(
        cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA),
        cv2.resize(weight, size, interpolation=cv2.INTER_AREA),
    )
    up = cv2.resize(np.ascontiguousarray(coarse), (w, h), interpolation=cv2.INTER_LINEAR)
    seen = weight[..., None] > 1e-4
    straight = premultiplied / np.maximum(weight[..., None], 1e-4)
    return np.where(seen, straight, up)
