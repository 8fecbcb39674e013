"""Shared fixtures: settings on a temp folder, images, and an engine factory."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core.config import Settings, load_settings
from tests.pg import pg_cluster, pg_database, pg_url  # noqa: F401 - Postgres fixtures
from tests.s3 import s3_bucket, s3_server  # noqa: F401 - a local S3 (moto)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        base = {
            "storage.database": str(tmp_path / "studio.db"),
            "storage.results_dir": str(tmp_path / "results"),
        }
        base.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_settings(overrides=base, env=env or {})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def photo_png() -> bytes:
    rng = np.random.default_rng(0)
    arr = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    return png_bytes(Image.fromarray(arr))


@pytest.fixture
async def engine_factory(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    from core.engine import Engine

    engines: list[Engine] = []

    async def make(providers: dict[str, Any] | None = None, start: bool = True,
                   settings: Settings | None = None, **overrides: Any) -> Engine:
        s = settings or make_settings(**overrides)
        engine = await Engine.create(s, providers=providers)
        if start:
            await engine.start()
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        await e.close(grace_s=1)
