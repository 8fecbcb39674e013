"""The local provider: every tool, offline, with models from the local cache.

Each tool lives in its own module exposing `run(req, settings) -> ProviderResult`;
this class only dispatches, and runs on the engine's bounded thread pool.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, ClassVar

from core.config import Settings
from core.process_pool import WorkerProgress
from core.providers.base import Attempt, LocalProvider, ProviderRequest, ProviderResult
from core.slots import job_slot
from core.tools.base import TOOLS, decoded_small

_MODULES = {
    "palette": "core.providers.local.palette",
    "crop": "core.providers.local.crop",
    "upscale": "core.providers.local.upscale",
    "remove-bg": "core.providers.local.remove_bg",
    "design": "core.providers.local.design",
}


class LocalStudioProvider(LocalProvider):
    """The offline provider for every tool: the local implementations under core/providers/local."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        # budget check and a machine-wide memory slot (core/budget.py) before the work
        # starts, so a job waiting for memory holds no worker and no copy of its image
        """Wait for the budget check and a machine-wide memory slot, then run the tool."""
        async with job_slot(req, self.settings):
            return await super().run(req, attempt)

    def run_sync(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Run the tool on this thread and note the model it used in `attempt`."""
        result = run_tool(req, self.settings)
        attempt.model = result.model
        return result

    def isolated_call(
        self, req: ProviderRequest
    ) -> tuple[Callable[..., ProviderResult], tuple[Any, ...]]:
        """The same work for a worker process: progress goes over the pool's queue, and
        cancellation is the pool killing the worker (no stop event crosses over)."""
        sendable = dataclasses.replace(req, progress=WorkerProgress(req.job_id), stop=None)
        if _decoded_is_enough(req):  # don't copy the upload's bytes to the worker for nothing
            sendable = dataclasses.replace(sendable, image_bytes=None)
        return run_tool, (sendable, self.settings)


def _decoded_is_enough(req: ProviderRequest) -> bool:
    """A tool that reads only the decoded image when admission already decoded it small
    (a palette re-reads the JPEG only after a full-size decode: palette.run)."""
    image = req.image
    return image is not None and decoded_small(req.tool, image.width, image.height)


def run_tool(req: ProviderRequest, settings: Settings) -> ProviderResult:
    """Run `req.tool` with its local module (module-level, so worker processes can
    unpickle it)."""
    module = importlib.import_module(_MODULES[req.tool])
    result: ProviderResult = module.run(req, settings)
    return result
