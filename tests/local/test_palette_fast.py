"""The palette's fast paths (issues 9 and 13) give the same answers as the slow ones.

- admission decodes a JPEG for the palette at reduced scale, and the palette of that
  decode is the palette of the file read directly;
- the NumPy k-means partitions exactly as scikit-learn's `KMeans` did, and the NumPy
  CIELAB and CIEDE2000 are scikit-image's;
- `studio run` does not load what the palette does not use.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from core import lab
from core.imaging import decode_image
from core.providers.base import ProviderRequest
from core.providers.local import palette
from core.providers.local.kmeans import weighted_kmeans
from core.tools.base import DRAFT_PIXELS, PaletteParams

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_bytes": 50_000_000, "max_pixels": 50_000_000}


def _photo_jpeg(width: int = 2400, height: int = 1600) -> bytes:
    """A camera-sized JPEG of a real photo (the chelsea sample, upsampled)."""
    img = Image.fromarray(data.chelsea()).resize((width, height), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _request(source: bytes, image: Image.Image | None) -> ProviderRequest:
    return ProviderRequest(job_id="j", tool="palette", params=PaletteParams(colors=6),
                           image=image, image_bytes=source, idempotency_key="k",
                           deadline=time.monotonic() + 60)


def test_draft_decode_keeps_enough_pixels_and_only_for_jpeg() -> None:
    jpeg = _photo_jpeg()
    full = decode_image(jpeg, **LIMITS)
    small = decode_image(jpeg, **LIMITS, draft_pixels=150_000)
    assert full.image.size == (2400, 1600)
    # 1/8 would be 300×200 = 60k pixels (< 150k), so the decoder stops at 1/4
    assert small.image.size == (600, 400)
    assert (small.width, small.height) == (600, 400)
    # the reduced decode is the image's colours, not a different picture
    box = np.asarray(full.image.reduce(4), dtype=float)
    assert np.abs(np.asarray(small.image, dtype=float) - box).mean() < 3.0
    png = io.BytesIO()
    full.image.save(png, "PNG")
    assert decode_image(png.getvalue(), **LIMITS, draft_pixels=150_000).image.size == (2400, 1600)


def test_draft_decode_still_checks_the_full_size() -> None:
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="the limit is"):
        decode_image(_photo_jpeg(), max_bytes=50_000_000, max_pixels=1_000_000,
                     draft_pixels=150_000)


def test_admission_decodes_for_the_palette_what_the_palette_reads() -> None:
    assert DRAFT_PIXELS == {"palette": palette.SAMPLE_PIXELS}


def test_engine_decode_gives_the_same_palette_as_the_file() -> None:
    jpeg = _photo_jpeg()
    direct = palette.extract_palette(jpeg, 6)
    admitted = decode_image(jpeg, **LIMITS, draft_pixels=DRAFT_PIXELS["palette"]).image
    assert palette.extract_palette(admitted, 6) == direct


def test_run_reads_a_full_size_image_at_reduced_scale(make_settings) -> None:  # type: ignore[no-untyped-def]
    """A job resumed from the store has a full-size decode: the palette re-reads the
    JPEG at reduced scale and answers as for the admitted (reduced) image."""
    jpeg = _photo_jpeg()
    full = decode_image(jpeg, **LIMITS).image
    small = decode_image(jpeg, **LIMITS, draft_pixels=DRAFT_PIXELS["palette"]).image
    a = palette.run(_request(jpeg, full), make_settings())
    b = palette.run(_request(jpeg, small), make_settings())
    assert a.data == b.data
    assert len(a.data["colors"]) == 6


@pytest.mark.parametrize("k", [1, 3, 6, 12])
def test_kmeans_partitions_exactly_as_scikit_learn(k: int) -> None:
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(k)
    # three blobs and a scatter, with very uneven weights, like histogram bins in CIELAB
    x = np.concatenate([rng.normal(c, 6.0, (300, 3)) for c in ((50, 10, 10), (70, -30, 40),
                                                              (30, 20, -50))]
                       + [rng.uniform(-60, 90, (400, 3))])
    w = rng.pareto(1.5, len(x)) + 0.01
    km = sklearn_cluster.KMeans(n_clusters=k, n_init=2, random_state=0, max_iter=100, tol=1e-3)
    want = km.fit_predict(x, sample_weight=w)
    centres, got = weighted_kmeans(x, w, k, seed=0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(centres, km.cluster_centers_, atol=1e-6)


def test_kmeans_centres_are_weighted_means_and_runs_repeat() -> None:
    x = np.array([[0.0, 0, 0], [1, 0, 0], [100, 0, 0], [104, 0, 0]])
    w = np.array([1.0, 3.0, 1.0, 1.0])
    centres, labels = weighted_kmeans(x, w, 2)
    assert labels[0] == labels[1] != labels[2] == labels[3]
    assert sorted(centres[:, 0].tolist()) == [0.75, 102.0]
    again = weighted_kmeans(x, w, 2)
    np.testing.assert_array_equal(again[1], labels)
    with pytest.raises(ValueError, match="cannot make"):
        weighted_kmeans(x, w, 5)


def test_lab_and_ciede2000_match_scikit_image() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    rng = np.random.default_rng(3)
    rgb = rng.random((500, 3))
    rgb[:20] = np.eye(3).repeat(7, axis=0)[:20]  # pure primaries: the clipped branches
    rgb[20:30] = 0.0  # black: the linear branches, zero chroma
    np.testing.assert_allclose(lab.rgb2lab(rgb), rgb2lab(rgb[None])[0], rtol=0, atol=1e-10)
    a, b = lab.rgb2lab(rgb), lab.rgb2lab(rgb[::-1])
    b[:5] = a[:5]  # identical pairs
    b[5:10, 1:] = 0.0  # grey against colour: hue undefined on one side
    np.testing.assert_allclose(lab.deltaE_ciede2000(a, b), deltaE_ciede2000(a, b), atol=1e-10)
    # Sharma et al. (2005) test pairs 1 and 17: published ΔE00 2.0425 and 27.1492
    first = np.array([[50, 2.6772, -79.7751], [50, 2.5, 0]])
    second = np.array([[50, 0, -82.7485], [73, 25, -18]])
    assert lab.deltaE_ciede2000(first, second) == pytest.approx([2.0425, 27.1492], abs=1e-4)
    assert float(lab.deltaE_ciede2000(first[0], second[0])) == pytest.approx(2.0425, abs=1e-4)


def test_studio_run_starts_without_the_heavy_packages() -> None:
    """What a `studio run palette` process imports before its first job: none of the
    tools' native runtimes, and not NumPy; the palette module itself needs no
    scikit-learn, SciPy, scikit-image, OpenCV, torch, openvino, ncnn or matplotlib."""
    code = (
        "import sys\n"
        "import core.cli, core.cli_commands, core.cli_output, core.engine, core.operator\n"
        "cli = sorted(m for m in ('numpy', 'cv2', 'sklearn', 'scipy', 'skimage', 'torch',"
        " 'openvino', 'ncnn', 'matplotlib') if m in sys.modules)\n"
        "import core.providers.local.palette\n"
        "tool = sorted(m for m in ('sklearn', 'scipy', 'skimage', 'cv2', 'torch', 'openvino',"
        " 'ncnn', 'matplotlib') if m in sys.modules)\n"
        "print(cli, tool)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[] []"


def test_one_tool_process_preloads_only_that_tool() -> None:
    """`studio run palette` starts its forkserver early with the palette's module only."""
    code = (
        "from core import process_pool as p\n"
        "p.start_for('remove-bg')\n"
        "print(p.PRELOAD)\n"
        "p.start_for('palette')\n"
        "print(p.PRELOAD)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[0] == "['core.providers.local', 'core.providers.local.remove_bg']"
    assert out[1] == "['core.providers.local', 'core.providers.local.palette']"
