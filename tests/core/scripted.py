"""Scripted providers for engine tests: fail N times, then succeed; or always fail."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from typing import ClassVar

from PIL import Image
from pydantic import SecretStr

from core.errors import PermanentProviderError
from core.providers.base import (
    Attempt,
    LocalProvider,
    OutputFile,
    ProviderRequest,
    ProviderResult,
    RemoteProvider,
)
from core.tools.base import TOOLS


def result_for(req: ProviderRequest) -> ProviderResult:
    img = req.image if req.image is not None else Image.new("RGB", (16, 9), "navy")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return ProviderResult([OutputFile("out.png", buf.getvalue())],
                          {"width": img.width, "height": img.height})


class ScriptedLocal(LocalProvider):
    """Runs in the engine's thread pool like the real local provider."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.delay = delay
        self.gate = gate

    def run_sync(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        return result_for(req)


class ScriptedRemote(RemoteProvider):
    """Raises the scripted errors in order, then succeeds (or keeps raising the last)."""

    def __init__(self, name: str, errors: list[Exception],
                 then_succeed: bool = True, delay: float = 0.0) -> None:
        super().__init__(SecretStr("scripted-key"))
        self.name = name  # type: ignore[misc]
        self.tools = frozenset(TOOLS)  # type: ignore[misc]
        self.errors = list(errors)
        self.then_succeed = then_succeed
        self.delay = delay
        self.calls: list[float] = []

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        self.calls.append(time.monotonic())
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.errors:
            raise self.errors.pop(0)
        if not self.then_succeed:
            raise PermanentProviderError("still down")
        return result_for(req)
