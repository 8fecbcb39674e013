"""Weighted k-means for a palette's few thousand histogram bins, in plain NumPy.

Lloyd's algorithm (Lloyd, "Least squares quantization in PCM", IEEE Trans. Inf.
Theory 1982) seeded by greedy k-means++ (Arthur & Vassilvitskii, "k-means++: the
advantages of careful seeding", SODA 2007: each new centre is the best of
2 + ln k candidates drawn with probability proportional to weight × squared
distance). It follows scikit-learn's `KMeans` (same seeding draws from a
`RandomState`, same tolerance rule, best of `n_init` runs by weighted inertia), so
the palettes are those scikit-learn gave, without importing it: scikit-learn pulls
in SciPy's statistics and costs the first palette in a fresh process about 0.75 s,
where the clustering itself takes about a millisecond.
"""

from __future__ import annotations

import numpy as np


def weighted_kmeans(
    x: np.ndarray, weights: np.ndarray, k: int, *, seed: int = 0, n_init: int = 2,
    max_iter: int = 100, tol: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of `x` (N×D float) weighted by `weights` (N, > 0) into `k` groups.

    Returns (centres k×D, the centre index of every row, N int). Deterministic for a
    given `seed`. `tol` is relative to the mean per-feature variance of `x`, as in
    scikit-learn: a run stops when the centres move less than that in total (squared).
    Raises ValueError when there are fewer rows than clusters.
    """
    n = len(x)
    if n < k:
        raise ValueError(f"{n} points cannot make {k} clusters")
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    mean = x.mean(axis=0)
    xc = x - mean  # centred, as scikit-learn does, for precision in the expansion below
    sq = (xc**2).sum(axis=1)
    stop = tol * float(np.mean(np.var(xc, axis=0)))
    rng = np.random.RandomState(seed)  # the generator scikit-learn draws from
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centres = _seed(xc, sq, w, k, rng)
        centres, labels, inertia = _lloyd(xc, sq, w, centres, max_iter, stop)
        if best is None or inertia < best[0]:
            best = (inertia, centres, labels)
    if best is None:
        raise ValueError("n_init must be at least 1")
    return best[1] + mean, best[2]


def _d2(xc: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distances N×K by ||x||² + ||c||² − 2 x·c (clipped at 0)."""
    d: np.ndarray = sq[:, None] + (centres**2).sum(axis=1)[None, :] - 2.0 * (xc @ centres.T)
    np.maximum(d, 0.0, out=d)
    return d


def _seed(
    xc: np.ndarray, sq: np.ndarray, w: np.ndarray, k: int, rng: np.random.RandomState
) -> np.ndarray:
    """Greedy k-means++ centres (k×D), drawn as scikit-learn's `_kmeans_plusplus` draws them."""
    n = len(xc)
    trials = 2 + int(np.log(k))
    centres = np.empty((k, xc.shape[1]))
    first = rng.choice(n, p=w / w.sum())
    centres[0] = xc[first]
    closest = _d2(xc, sq, centres[:1])[:, 0]
    pot = float(closest @ w)
    for c in range(1, k):
        draws = rng.uniform(size=trials) * pot
        ids = np.searchsorted(np.cumsum(w * closest), draws)
        np.clip(ids, None, n - 1, out=ids)
        cand = np.minimum(closest[None, :], _d2(xc, sq, xc[ids]).T)  # trials×N
        pots = cand @ w
        pick = int(np.argmin(pots))
        pot, closest = float(pots[pick]), cand[pick]
        centres[c] = xc[ids[pick]]
    return centres


def _lloyd(
    xc: np.ndarray, sq: np.ndarray, w: np.ndarray, centres: np.ndarray, max_iter: int,
    stop: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd iterations from `centres`: (centres, labels, weighted inertia).

    An emptied cluster keeps its centre (with a few thousand weighted points and at
    most twelve clusters seeded on distinct points this does not arise in practice).
    """
    k = len(centres)
    labels = np.zeros(len(xc), dtype=np.int64)
    for i in range(max_iter):
        new_labels = np.argmin(_d2(xc, sq, centres), axis=1)
        if i > 0 and np.array_equal(new_labels, labels):
            break  # strict convergence: the centres are already the means of these labels
        labels = new_labels
        mass = np.bincount(labels, weights=w, minlength=k)
        sums = np.stack([np.bincount(labels, weights=w * xc[:, j], minlength=k)
                         for j in range(xc.shape[1])], axis=1)
        new = np.where(mass[:, None] > 0, sums / np.maximum(mass, 1e-300)[:, None], centres)
        shift = float(((new - centres) ** 2).sum())
        centres = new
        if shift <= stop:
            break  # the labels of the final centres are computed once, below
    d = _d2(xc, sq, centres)
    labels = np.argmin(d, axis=1)
    inertia = float(d[np.arange(len(xc)), labels] @ w)
    return centres, labels, inertia
