"""The local provider: every tool, offline, with models from the local cache.

Each tool lives in its own module exposing `run(req, settings) -> ProviderResult`;
this class only dispatches, and runs on the engine's bounded thread pool.
"""

from __future__ import annotations

import importlib
from typing import ClassVar

from core.config import Settings
from core.providers.base import Attempt, LocalProvider, ProviderRequest, ProviderResult
from core.tools.base import TOOLS

_MODULES = {
    "palette": "core.providers.local.palette",
    "crop": "core.providers.local.crop",
    "upscale": "core.providers.local.upscale",
    "remove-bg": "core.providers.local.remove_bg",
    "design": "core.providers.local.design",
}


class LocalStudioProvider(LocalProvider):
    name: ClassVar[str] = "local"
    remote: ClassVar[bool] = False
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run_sync(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        module = importlib.import_module(_MODULES[req.tool])
        result: ProviderResult = module.run(req, self.settings)
        attempt.model = result.model
        return result
