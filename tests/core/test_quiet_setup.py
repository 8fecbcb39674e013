"""Setup and model loading print nothing that is not the user's business (issue 13)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from core.config import load_settings
from core.models import get_store

ROOT = Path(__file__).resolve().parents[2]


def test_the_licence_is_an_spdx_expression() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "MIT"  # a TOML table is deprecated in setuptools
    assert "setuptools>=77" in meta["build-system"]["requires"]


def test_loading_a_tflite_model_prints_no_banner() -> None:
    if get_store(load_settings(None)).paths("selfie") is None:
        pytest.skip("selfie model not cached (studio models fetch)")
    code = ("from core.config import load_settings\n"
            "from core.models import get_store\n"
            "import sys\n"
            "assert get_store(load_settings(None)).tflite_interpreter('selfie') is not None\n"
            "print('still mine', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "XNNPACK" not in proc.stderr
    assert proc.stderr.strip() == "still mine"
