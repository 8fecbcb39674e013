"""The remove-bg benchmark set: 1024x1024 composites with exact alpha, built from a seed.

Every case is a foreground with a known alpha pasted over a background, so the
truth is exact by construction (whatever the foreground's mask says is the subject,
the rest of the frame is the new background). `build_cases(seed)` draws, for
each background kind, the same number of cases with the subjects spread over the
five subject groups; a different seed gives different subjects' colours, textures,
sizes, places and different backgrounds, so tuning on one seed and reporting
another measures what the code does on a set it was not tuned on.

Subject groups (what is pasted):
- product: rendered bottle, box, mug, ball, phone, vase (drawn at 4x and
  downsampled, so edges are anti-aliased), coloured, sometimes textured, lit,
  with labels and highlights;
- logo: the scikit-image logo disc, and rendered flat emblems (badge with a
  ring, star, shield with stripes, a bold monogram on a rounded square);
- small: one coin of `coins`, or a rendered product at 8-20 % of the frame;
- animal: the `horse` silhouette filled with real fur/coffee textures, shaded;
- person: the astronaut (Eileen Collins, `data.astronaut()`) and the
  cameraman (`data.camera()`), cut out with the reference masks in
  `tests/data/` (made and checked by eye for the remove-bg tests); they stand
  on the bottom edge of the frame, as a portrait does.

Background kinds and their groups: `white` (with a soft contact shadow),
`gradient` (linear or radial, two random colours, or a grey studio sweep), and
the textured kinds `wood` (procedural grain and planks), `fabric` (procedural
weave, plaid or knit), `foliage` (overlapping leaves in many greens, some
blurred), `noise` (fractal colour noise or coarse speckle) and `photo` (real
photo textures of scikit-image: brick, grass, gravel, moon surface,
immunohistochemistry stain, tinted and scaled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata

ROOT = Path(__file__).resolve().parents[1]
REF_MASKS = ROOT / "tests" / "data"
SIZE = 1024
SS = 4  # supersampling for rendered shapes
KINDS = ("white", "gradient", "wood", "fabric", "foliage", "noise", "photo")
GROUP_OF_KIND = {"white": "white", "gradient": "gradient"} | {
    k: "textured" for k in ("wood", "fabric", "foliage", "noise", "photo")
}
SUBJECT_GROUPS = ("product", "logo", "small", "animal", "person")
Rng = np.random.Generator


@dataclass
class Case:
    """One composite: image (RGB uint8), exact alpha (float32 0..1), and its labels."""

    name: str
    image: np.ndarray
    alpha: np.ndarray
    mode: str
    kind: str  # background kind
    group: str  # subject group

    @property
    def bg_group(self) -> str:
        """white, gradient or textured."""
        return GROUP_OF_KIND[self.kind]


# --------------------------------------------------------------------------- subjects


def _render(size: tuple[int, int], draw: Callable[[np.ndarray], None]) -> np.ndarray:
    """Draw a binary shape at SS x resolution and downsample: exact soft edges."""
    w, h = size
    canvas = np.zeros((h * SS, w * SS), np.uint8)
    draw(canvas)
    return cv2.resize(canvas.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def _gray3(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img[..., :3]


def _texture(name: str, size: tuple[int, int]) -> np.ndarray:
    src = {
        "fur": skdata.chelsea()[40:260, 60:300],
        "coffee": skdata.coffee()[60:340, 140:460],
        "brick": _gray3(skdata.brick()),
        "gravel": _gray3(skdata.gravel()),
        "tabby": skdata.chelsea()[150:300, 150:380],
    }[name]
    return cv2.resize(src, size, interpolation=cv2.INTER_CUBIC)


def _shade(rgb: np.ndarray, alpha: np.ndarray, strength: float = 0.35) -> np.ndarray:
    """Light from the top-left: brighter there, darker towards the far edge."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 + strength * (0.5 - (xx / w + yy / h) / 2.0)
    inner = cv2.GaussianBlur((alpha > 0.5).astype(np.float32), (0, 0), max(2.0, w / 60))
    light *= 0.8 + 0.2 * inner
    return np.clip(rgb.astype(np.float32) * light[..., None], 0, 255).astype(np.uint8)


def _product_alpha(shape: str) -> np.ndarray:
    s = SS

    def bottle(c: np.ndarray) -> None:
        cv2.rectangle(c, (60 * s, 140 * s), (180 * s, 460 * s), 1, -1)
        cv2.ellipse(c, (120 * s, 140 * s), (60 * s, 50 * s), 0, 180, 360, 1, -1)
        cv2.rectangle(c, (100 * s, 30 * s), (140 * s, 100 * s), 1, -1)

    def box(c: np.ndarray) -> None:
        pts = np.array([[40, 120], [220, 60], [380, 120], [380, 400], [200, 470], [40, 400]]) * s
        cv2.fillPoly(c, [pts.astype(np.int32)], 1)

    def mug(c: np.ndarray) -> None:
        cv2.rectangle(c, (50 * s, 80 * s), (300 * s, 400 * s), 1, -1)
        cv2.ellipse(c, (300 * s, 230 * s), (80 * s, 90 * s), 0, -90, 90, 1, 30 * s)

    def ball(c: np.ndarray) -> None:
        cv2.circle(c, (200 * s, 200 * s), 180 * s, 1, -1)

    def phone(c: np.ndarray) -> None:
        r = 30 * s
        x0, y0, x1, y1 = 30 * s, 20 * s, 250 * s, 470 * s
        cv2.rectangle(c, (x0 + r, y0), (x1 - r, y1), 1, -1)
        cv2.rectangle(c, (x0, y0 + r), (x1, y1 - r), 1, -1)
        for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(c, (cx, cy), r, 1, -1)

    def vase(c: np.ndarray) -> None:
        ys = np.arange(20, 460)
        half = 40 + 90 * np.sin((ys - 20) / 440 * np.pi) ** 1.5 + 10 * np.cos(ys / 30)
        left = np.stack([200 - half, ys], 1)
        right = np.stack([200 + half, ys], 1)[::-1]
        cv2.fillPoly(c, [(np.concatenate([left, right]) * s).astype(np.int32)], 1)

    draws = {
        "bottle": (bottle, (240, 480)),
        "box": (box, (420, 500)),
        "mug": (mug, (420, 440)),
        "ball": (ball, (400, 400)),
        "phone": (phone, (280, 490)),
        "vase": (vase, (400, 480)),
    }
    fn, size = draws[shape]
    return _render(size, fn)


PRODUCTS = ("bottle", "box", "mug", "ball", "phone", "vase")


def fg_product(rng: Rng, shape: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A rendered product: random shape, colour, optional texture, label and highlight."""
    shape = shape or str(rng.choice(PRODUCTS))
    alpha = _product_alpha(shape)
    h, w = alpha.shape
    base = np.empty((h, w, 3), np.float32)
    base[:] = rng.integers(15, 240, 3)
    if rng.random() < 0.4:
        tex = _texture(str(rng.choice(["brick", "gravel", "coffee"])), (w, h)).astype(np.float32)
        base = 0.6 * base + 0.4 * tex
    if shape in ("box", "bottle", "mug") and rng.random() < 0.7:  # a printed label
        label = np.zeros((h, w), np.uint8)
        cv2.rectangle(label, (w // 4, h // 2 - h // 10), (3 * w // 4, h // 2 + h // 10), 1, -1)
        base[label == 1] = (245, 240, 230)
        cv2.putText(
            base, "LUNEO", (w // 4 + 6, h // 2 + 8), cv2.FONT_HERSHEY_SIMPLEX, w / 400,
            (30, 30, 30), 2, cv2.LINE_AA,
        )  # fmt: skip
    rgb = _shade(base.clip(0, 255).astype(np.uint8), alpha, 0.5)
    if shape in ("ball", "vase", "bottle"):  # a specular highlight
        hl = np.zeros((h, w), np.float32)
        cv2.ellipse(hl, (w // 3, h // 3), (w // 12, h // 9), -30, 0, 360, 1.0, -1)
        hl = cv2.GaussianBlur(hl, (0, 0), w / 40)
        rgb = np.clip(rgb + 140 * hl[..., None], 0, 255).astype(np.uint8)
    return rgb, alpha


def fg_logo(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """A logo: the scikit-image logo disc, or a rendered flat emblem in 2-3 colours."""
    kind = str(rng.choice(["sklogo", "badge", "star", "shield", "monogram"]))
    if kind == "sklogo":
        rgb = skdata.logo()[..., :3]
        nonwhite = (rgb.astype(int).min(-1) < 235).astype(np.uint8)
        specks_removed = cv2.morphologyEx(nonwhite, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        disc = np.zeros_like(nonwhite)
        cv2.fillConvexPoly(disc, cv2.convexHull(cv2.findNonZero(specks_removed)), 1)
        return rgb, cv2.GaussianBlur(disc.astype(np.float32), (3, 3), 0.7)
    n = 400
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    while np.abs(c1.astype(int) - c2).sum() < 150:
        c2 = rng.integers(0, 256, 3)
    s = SS
    big = np.zeros((n * s, n * s, 3), np.uint8)
    shape = np.zeros((n * s, n * s), np.uint8)
    col1, col2 = tuple(int(v) for v in c1), tuple(int(v) for v in c2)
    if kind == "badge":
        cv2.circle(shape, (200 * s, 200 * s), 190 * s, 1, -1)
        cv2.circle(big, (200 * s, 200 * s), 190 * s, col1, -1)
        cv2.circle(big, (200 * s, 200 * s), 150 * s, col2, 18 * s)
        cv2.putText(big, "LU", (105 * s, 250 * s), cv2.FONT_HERSHEY_DUPLEX, 4.5 * s, col2, 14 * s)
    elif kind == "star":
        ang = np.arange(10) * np.pi / 5 - np.pi / 2
        rad = np.where(np.arange(10) % 2 == 0, 195, 80)
        pts = np.stack([200 + rad * np.cos(ang), 210 + rad * np.sin(ang)], 1) * s
        cv2.fillPoly(shape, [pts.astype(np.int32)], 1)
        cv2.fillPoly(big, [pts.astype(np.int32)], col1)
        cv2.circle(big, (200 * s, 210 * s), 50 * s, col2, -1)
    elif kind == "shield":
        pts = np.array([[40, 30], [360, 30], [360, 200], [200, 380], [40, 200]]) * s
        cv2.fillPoly(shape, [pts.astype(np.int32)], 1)
        cv2.fillPoly(big, [pts.astype(np.int32)], col1)
        for x in range(90, 360, 90):
            cv2.line(big, (x * s, 30 * s), (x * s, 380 * s), col2, 24 * s)
        big[shape == 0] = 0
    else:  # monogram on a rounded square
        cv2.rectangle(shape, (60 * s, 20 * s), (340 * s, 380 * s), 1, -1)
        cv2.rectangle(shape, (20 * s, 60 * s), (380 * s, 340 * s), 1, -1)
        for cx, cy in ((60, 60), (340, 60), (60, 340), (340, 340)):
            cv2.circle(shape, (cx * s, cy * s), 40 * s, 1, -1)
        big[shape == 1] = col1
        cv2.putText(big, "M", (95 * s, 300 * s), cv2.FONT_HERSHEY_TRIPLEX, 7 * s, col2, 22 * s)
    rgb = cv2.resize(big, (n, n), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(shape.astype(np.float32), (n, n), interpolation=cv2.INTER_AREA)
    # colour where alpha is partial is the shape's own colour (not blended with black)
    rgb = np.where(alpha[..., None] > 0, rgb / np.maximum(alpha[..., None], 1e-3), 0)
    return np.clip(rgb, 0, 255).astype(np.uint8), alpha


def fg_coin(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """One coin of `coins` (local threshold, round components only), tinted gold or silver."""
    gray = skdata.coins()
    th = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 95, -5)
    th = cv2.morphologyEx(th, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    th = cv2.morphologyEx(th, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    coins = []
    for c in cv2.findContours(th, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]:
        area, perim = cv2.contourArea(c), cv2.arcLength(c, True)
        if area > 1000 and 4 * np.pi * area / perim**2 > 0.8:
            coins.append((area, c))
    coins.sort(key=lambda t: -t[0])
    contour = coins[int(rng.integers(min(6, len(coins))))][1]
    x, y, w, h = cv2.boundingRect(contour)
    m = np.zeros_like(gray)
    cv2.drawContours(m, [contour], -1, 1, thickness=-1)
    pad = 4
    sl = (slice(max(0, y - pad), y + h + pad), slice(max(0, x - pad), x + w + pad))
    tint = np.array([(1.15, 0.95, 0.55), (1.0, 1.0, 1.05), (1.1, 0.7, 0.5)][int(rng.integers(3))])
    rgb = np.clip(gray[sl][..., None].astype(np.float32) * tint.astype(np.float32), 0, 255)
    big = cv2.resize(rgb.astype(np.uint8), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    mbig = cv2.resize(m[sl].astype(np.float32), None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    return big, np.clip(mbig, 0, 1)


def fg_small(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """A small object: a coin or a product (it is pasted at 8-20 % of the frame)."""
    return fg_coin(rng) if rng.random() < 0.4 else fg_product(rng)


def fg_animal(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """The `horse` silhouette filled with a real fur/coffee texture, shaded, maybe mirrored."""
    horse = (~skdata.horse()).astype(np.float32)  # horse pixels are False in the original
    m = cv2.resize(horse, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_LINEAR)
    h, w = m.shape
    tex = str(rng.choice(["fur", "coffee", "tabby", "fur"]))
    rgb = _texture(tex, (w, h)).astype(np.float32) * rng.uniform(0.6, 1.15)
    rgb = _shade(np.clip(rgb, 0, 255).astype(np.uint8), m)
    if rng.random() < 0.5:
        rgb, m = rgb[:, ::-1].copy(), m[:, ::-1].copy()
    return rgb, np.clip(m, 0, 1)


def reference_person(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, alpha 0..1) of a person from scikit-image with its reference mask."""
    rgb = _gray3(skdata.astronaut() if name == "astronaut" else skdata.camera())
    mask = np.asarray(Image.open(REF_MASKS / f"{name}_mask.png").convert("L"))
    return np.ascontiguousarray(rgb), mask.astype(np.float32) / 255.0


def fg_person(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut or the cameraman, cut at the bottom edge of the photo, maybe mirrored."""
    rgb, alpha = reference_person(str(rng.choice(["astronaut", "camera"])))
    if rng.random() < 0.5:
        rgb, alpha = rgb[:, ::-1].copy(), alpha[:, ::-1].copy()
    return rgb, alpha


SUBJECTS: dict[str, tuple[Callable[[Rng], tuple[np.ndarray, np.ndarray]], str]] = {
    "product": (fg_product, "product"),
    "logo": (fg_logo, "auto"),
    "small": (fg_small, "auto"),
    "animal": (fg_animal, "animal"),
    "person": (fg_person, "auto"),  # person mode drops the tripod the truth keeps: tests cover it
}


# --------------------------------------------------------------------------- backgrounds


def _fit(img: np.ndarray, w: int, h: int, rng: Rng | None = None) -> np.ndarray:
    """Scale `img` to cover (w, h) (at a random extra zoom) and crop at a random spot."""
    img = _gray3(img)
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih) * (rng.uniform(1.0, 1.8) if rng is not None else 1.0)
    big = cv2.resize(img, (max(w, round(iw * s)), max(h, round(ih * s))))  # bilinear
    y0 = int(rng.integers(0, big.shape[0] - h + 1)) if rng is not None else 0
    x0 = int(rng.integers(0, big.shape[1] - w + 1)) if rng is not None else 0
    return big[y0 : y0 + h, x0 : x0 + w].copy()


def _fractal(rng: Rng, n: int, octaves: int = 5, base: int = 4) -> np.ndarray:
    """Value noise summed over octaves (n x n, roughly 0..1)."""
    out = np.zeros((n, n), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = base * 2**o
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (n, n), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(float(np.ptp(out)), 1e-6)


def _palette(rng: Rng, base: np.ndarray, spread: float) -> np.ndarray:
    return np.clip(base + rng.normal(0, spread, 3), 0, 255).astype(np.float32)


def bg_wood(rng: Rng, n: int) -> np.ndarray:
    """Procedural wood: warped ring grain, planks with seams, varnish tint."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    warp = _fractal(rng, n, 4, 2)
    freq = rng.uniform(25, 70)
    planks = int(rng.integers(3, 8))
    plank = np.floor(xx * planks)
    offset = (plank * 0.37) % 1.0
    rings = np.sin(2 * np.pi * (freq * (yy + 0.15 * warp + offset) + 3 * xx))
    grain = 0.5 + 0.5 * rings
    fine = _fractal(rng, n, 6, 32)
    light = _palette(rng, np.array([200, 150, 95]), 30)
    dark = light * rng.uniform(0.35, 0.6)
    t = (0.7 * grain + 0.3 * fine)[..., None]
    img = dark * t + light * (1 - t)
    seam = (np.abs(xx * planks - np.round(xx * planks)) * n / planks) < 2.0
    img[seam] *= 0.45
    if rng.random() < 0.5:
        img = img.transpose(1, 0, 2)
    return np.clip(img, 0, 255).astype(np.uint8)


def bg_fabric(rng: Rng, n: int) -> np.ndarray:
    """Procedural fabric: a woven over/under thread pattern, plaid stripes or a knit."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    period = rng.uniform(5, 14)
    u, v = xx / period, yy / period
    over = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
    thread_x = 0.5 + 0.5 * np.cos(2 * np.pi * v)
    thread_y = 0.5 + 0.5 * np.cos(2 * np.pi * u)
    weave = over * thread_x + (1 - over) * thread_y
    c1 = _palette(rng, rng.integers(30, 230, 3).astype(np.float32), 10)
    c2 = _palette(rng, rng.integers(30, 230, 3).astype(np.float32), 10)
    style = rng.random()
    if style < 0.4:  # plaid
        band = rng.uniform(40, 120)
        sx = (np.floor(xx / band) % 2)[..., None]
        sy = (np.floor(yy / band) % 2)[..., None]
        colour = c1 * (1 - 0.5 * sx - 0.3 * sy) + c2 * (0.5 * sx + 0.3 * sy)
    elif style < 0.7:  # two-colour weave
        colour = np.where(over[..., None] > 0, c1, c2)
    else:  # knit: chevrons
        chevron = (np.abs((u % 2) - 1) + v) % 1.0
        colour = c1 * (1 - chevron[..., None]) + c2 * chevron[..., None]
    img = colour * (0.55 + 0.45 * weave[..., None])
    img *= (0.85 + 0.3 * _fractal(rng, n, 5, 8))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def bg_foliage(rng: Rng, n: int) -> np.ndarray:
    """Leaves: hundreds of overlapping shaded ellipses in greens (some autumn), part blurred."""
    img = np.zeros((n, n, 3), np.float32)
    img[:] = _palette(rng, np.array([30, 70, 25]), 10)
    autumn = rng.random() < 0.3
    for _ in range(int(rng.integers(300, 700))):
        cx, cy = rng.integers(-20, n + 20, 2)
        a = int(rng.integers(10, 45))
        b = int(a * rng.uniform(0.3, 0.6))
        if autumn and rng.random() < 0.5:
            col = np.array([rng.uniform(150, 230), rng.uniform(60, 160), rng.uniform(10, 50)])
        else:
            col = np.array([rng.uniform(20, 110), rng.uniform(80, 200), rng.uniform(10, 80)])
        cv2.ellipse(img, (int(cx), int(cy)), (a, b), float(rng.uniform(0, 180)), 0, 360,
                    tuple(float(c) for c in col), -1, cv2.LINE_AA)  # fmt: skip
        cv2.line(img, (int(cx - a * 0.8), int(cy)), (int(cx + a * 0.8), int(cy)),
                 tuple(float(c) * 0.6 for c in col), 1, cv2.LINE_AA)  # fmt: skip
    img *= (0.6 + 0.6 * _fractal(rng, n, 4, 3))[..., None]
    if rng.random() < 0.5:  # depth of field
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.5, 5))
    return np.clip(img, 0, 255).astype(np.uint8)


def bg_noise(rng: Rng, n: int) -> np.ndarray:
    """Fractal colour noise, or coarse multi-colour speckle."""
    if rng.random() < 0.5:
        chans = [_fractal(rng, n, 6, int(rng.integers(2, 12))) for _ in range(3)]
        img = np.stack(chans, -1) * rng.uniform(120, 255) + rng.uniform(0, 60)
    else:
        cell = int(rng.integers(2, 9))
        small = rng.integers(0, 256, (n // cell + 1, n // cell + 1, 3)).astype(np.float32)
        img = cv2.resize(small, (n, n), interpolation=cv2.INTER_NEAREST)
        img = img * rng.uniform(0.5, 1.0) + rng.uniform(0, 100)
    return np.clip(img, 0, 255).astype(np.uint8)


def bg_photo(rng: Rng, n: int) -> np.ndarray:
    """A real photo texture from scikit-image, tinted and scaled."""
    name = str(rng.choice(["brick", "grass", "gravel", "moon", "immunohistochemistry"]))
    img = _fit(getattr(skdata, name)(), n, n, rng).astype(np.float32)
    if name != "immunohistochemistry":
        img *= rng.uniform(0.5, 1.15, 3).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def bg_gradient(rng: Rng, n: int) -> np.ndarray:
    """A linear or radial gradient between two random colours, or a grey studio sweep."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    style = rng.random()
    if style < 0.25:
        g = 235 - 70 * yy**1.5
        return np.broadcast_to(g[..., None], (n, n, 3)).astype(np.uint8).copy()
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    c2 = rng.integers(0, 256, 3).astype(np.float32)
    if style < 0.65:
        ang = rng.uniform(0, 2 * np.pi)
        t = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) / 0.71 * 0.5 + 0.5
    else:
        cx, cy = rng.uniform(0.2, 0.8, 2)
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / 0.9
    t = np.clip(t, 0, 1)[..., None]
    return np.clip(c1 * (1 - t) + c2 * t, 0, 255).astype(np.uint8)


BACKGROUNDS: dict[str, Callable[[Rng, int], np.ndarray]] = {
    "white": lambda _rng, n: np.full((n, n, 3), 255, np.uint8),
    "gradient": bg_gradient,
    "wood": bg_wood,
    "fabric": bg_fabric,
    "foliage": bg_foliage,
    "noise": bg_noise,
    "photo": bg_photo,
}


# --------------------------------------------------------------------------- compositing


def composite(
    fg: np.ndarray, fa: np.ndarray, bg: np.ndarray, rng: Rng, *, group: str, shadow: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Paste fg at a random size and spot (people stand on the bottom edge); image + truth."""
    h, w = bg.shape[:2]
    frac = rng.uniform(0.08, 0.2) if group == "small" else rng.uniform(0.4, 0.75)
    if group == "person":
        frac = rng.uniform(0.6, 0.9)
    s = frac * min(w / fg.shape[1], h / fg.shape[0])
    fw, fh = max(8, round(fg.shape[1] * s)), max(8, round(fg.shape[0] * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    fg = cv2.resize(fg, (fw, fh), interpolation=interp)
    fa = np.clip(cv2.resize(fa, (fw, fh), interpolation=interp), 0, 1)
    margin = int(0.04 * w)
    x0 = int(rng.integers(margin, max(margin + 1, w - fw - margin)))
    y0 = (
        h - fh if group == "person" else int(rng.integers(margin, max(margin + 1, h - fh - margin)))
    )
    alpha = np.zeros((h, w), np.float32)
    alpha[y0 : y0 + fh, x0 : x0 + fw] = fa
    fgc = np.zeros((h, w, 3), np.float32)
    fgc[y0 : y0 + fh, x0 : x0 + fw] = fg
    out = bg.astype(np.float32)
    if shadow:  # soft contact shadow under and behind the object (not part of the truth)
        sh = cv2.GaussianBlur(
            np.roll(alpha, (int(0.02 * h), int(0.02 * w)), (0, 1)), (0, 0), 0.015 * w
        )
        out *= (1 - 0.45 * sh)[..., None]
    out = out * (1 - alpha[..., None]) + fgc * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha


def build_cases(seed: int, per_kind: int = 10) -> list[Case]:
    """`per_kind` 1024x1024 composites for each background kind (7 kinds), from `seed`.

    The subject groups take turns (two of each per kind with the default 10), so every
    kind meets every group; everything else is drawn from the seeded generator.
    """
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    for kind in KINDS:
        for i in range(per_kind):
            group = SUBJECT_GROUPS[(i + KINDS.index(kind)) % len(SUBJECT_GROUPS)]
            make, mode = SUBJECTS[group]
            fg, fa = make(rng)
            bg = BACKGROUNDS[kind](rng, SIZE)
            img, alpha = composite(fg, fa, bg, rng, group=group, shadow=kind == "white")
            cases.append(Case(f"{kind}/{group}/{i}", img, alpha, mode, kind, group))
    return cases
