"""sRGB → CIELAB and CIEDE2000 in NumPy, for palettes and colour names.

The same formulas and constants as scikit-image's `rgb2lab` (sRGB, D65, 2° observer)
and `deltaE_ciede2000` (kL = kC = kH = 1), which follow Sharma, Wu & Dalal, "The
CIEDE2000 color-difference formula: implementation notes, supplementary test data,
and mathematical observations", Color Res. Appl. 30(1), 2005. They are written out
here because importing `skimage.color` loads SciPy's linear algebra, about a third
of a second of every cold `studio run palette`, for two formulas; the tests check
both against scikit-image.
"""

from __future__ import annotations

import numpy as np

# sRGB (linear) -> XYZ, and the D65 white for the 2° observer (scikit-image's values)
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def rgb2lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of sRGB colours in 0..1, shape (..., 3) -> (..., 3) float64 (L* 0..100)."""
    arr = np.array(rgb, dtype=np.float64)
    mask = arr > 0.04045
    arr[mask] = np.power((arr[mask] + 0.055) / 1.055, 2.4)
    arr[~mask] /= 12.92
    xyz = (arr @ _XYZ_FROM_RGB.T) / _WHITE
    mask = xyz > 0.008856
    xyz[mask] = np.cbrt(xyz[mask])
    xyz[~mask] = 7.787 * xyz[~mask] + 16.0 / 116.0
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.stack([116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)], axis=-1)


def _polar(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(radius, angle in 0..2π)."""
    t = np.arctan2(y, x)
    return np.hypot(x, y), t + np.where(t < 0.0, 2 * np.pi, 0.0)


def deltaE_ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 between CIELAB colours, broadcast over (..., 3); a 1-D pair gives a scalar array."""
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    unroll = a.ndim == 1 and b.ndim == 1
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    L1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    L2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]
    # a* is stretched by the mean chroma, then everything is in the new (primed) LCh
    cbar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = cbar**7
    scale = 1 + 0.5 * (1 - np.sqrt(c7 / (c7 + 25**7)))
    C1, h1 = _polar(a1 * scale, b1)
    C2, h2 = _polar(a2 * scale, b2)
    lbar = 0.5 * (L1 + L2)
    tmp = (lbar - 50) ** 2
    l_term = (L2 - L1) / (1 + 0.015 * tmp / np.sqrt(20 + tmp))
    cbar = 0.5 * (C1 + C2)
    c_term = (C2 - C1) / (1 + 0.045 * cbar)
    h_diff, h_sum, cc = h2 - h1, h1 + h2, C1 * C2
    dh = h_diff.copy()
    dh[h_diff > np.pi] -= 2 * np.pi
    dh[h_diff < -np.pi] += 2 * np.pi
    dh[cc == 0.0] = 0.0
    dh_term = 2 * np.sqrt(cc) * np.sin(dh / 2)
    hbar = h_sum.copy()
    wrap = (cc != 0.0) & (np.abs(h_diff) > np.pi)
    hbar[wrap & (h_sum < 2 * np.pi)] += 2 * np.pi
    hbar[wrap & (h_sum >= 2 * np.pi)] -= 2 * np.pi
    hbar[cc == 0.0] *= 2
    hbar *= 0.5
    t = (1 - 0.17 * np.cos(hbar - np.deg2rad(30)) + 0.24 * np.cos(2 * hbar)
         + 0.32 * np.cos(3 * hbar + np.deg2rad(6)) - 0.20 * np.cos(4 * hbar - np.deg2rad(63)))
    h_term = dh_term / (1 + 0.015 * cbar * t)
    c7 = cbar**7
    rc = 2 * np.sqrt(c7 / (c7 + 25**7))
    dtheta = np.deg2rad(30) * np.exp(-(((np.rad2deg(hbar) - 275) / 25) ** 2))
    r_term = -np.sin(2 * dtheta) * rc * c_term * h_term
    out: np.ndarray = np.sqrt(np.maximum(l_term**2 + c_term**2 + h_term**2 + r_term, 0))
    return out[0] if unroll else out
