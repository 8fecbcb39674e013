"""The provider interface.

A provider turns a `ProviderRequest` into a `ProviderResult` for one or more
tools. Adapters translate their SDK's failures into the error tree
(`TransientProviderError`, `PermanentProviderError`, `ContentRejected`) so the
engine retries on a type, never on strings. Providers never retry internally:
the engine's retry layer is the only one (PRODUCT.md §5).

Remote providers (openai, replicate, removebg) subclass `RemoteProvider`, which
owns their API key: unavailable without it, and the key handed out only by
`api_key()`. Local providers subclass `LocalProvider` and implement `run_sync`. The engine
runs it in a killable worker process when the provider offers a picklable
`isolated_call` (the real local tools do), else on a bounded thread pool; either
way CPU work never blocks the event loop. On a thread, work stops at the next
`req.progress(...)` call after a cancel (it raises `Interrupted`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image

from core.errors import PermanentProviderError
from core.tools.base import Params

if TYPE_CHECKING:
    from pydantic import SecretStr

    from core.process_pool import LocalProcessPool


@dataclass(frozen=True)
class OutputFile:
    """One result file. `data` is the encoded bytes, `mime` e.g. image/png."""

    name: str
    data: bytes
    mime: str = "image/png"


@dataclass
class Attempt:
    """Per-attempt accounting a provider fills in (stored in provider_attempts)."""

    model: str | None = None
    request_id: str | None = None
    cost_usd: float = 0.0
    upstream_credits: float = 0.0


@dataclass(frozen=True)
class ProviderRequest:
    """Everything a provider gets for one attempt; the same object across retries."""

    job_id: str
    tool: str
    params: Params
    image: Image.Image | None  # decoded, EXIF-transposed, RGB or RGBA; None for design
    image_bytes: bytes | None  # the original upload (for APIs that take a file)
    idempotency_key: str  # one per job, the same across attempts
    deadline: float  # time.monotonic() by which the whole job must be done
    # reports progress; on a thread it also raises Interrupted once the job is stopped
    progress: Callable[[float, str], None] = field(default=lambda _f, _m: None)
    stop: threading.Event | None = None  # set when the job is canceled or shut down
    lane: str = "heavy"  # "light": a quick job, kept from waiting behind heavy ones


@dataclass
class ProviderResult:
    """A provider's answer: the encoded files, the tool's structured data, a note, the model used."""

    files: list[OutputFile]
    data: dict[str, Any]  # tool's structured result (PRODUCT.md §7 `data`)
    note: str | None = None  # e.g. "offline template renderer", "no model: Lanczos"
    model: str | None = None


class Provider:
    """Base class. `name` is the id used in config chains (`openai`, `local`...)."""

    name: ClassVar[str] = "provider"
    tools: ClassVar[frozenset[str]] = frozenset()

    def available(self) -> tuple[bool, str]:
        """(usable, why-not). Remote providers: key configured. Local: always True."""
        return True, ""

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Do the tool's work; raises a ProviderError subclass (transient, permanent, rejected)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release clients/sessions."""


class RemoteProvider(Provider):
    """A provider behind a paid API: usable only with its key, which comes from the
    environment variable `key_env` (via the settings' secrets)."""

    key_env: ClassVar[str] = ""  # e.g. OPENAI_API_KEY

    def __init__(self, key: SecretStr | None) -> None:
        self._key = key

    def available(self) -> tuple[bool, str]:
        """(True, "") when the key is set, else (False, which variable to set)."""
        if self._key is None:
            return False, f"{self.key_env} is not set"
        return True, ""

    def api_key(self) -> str:
        """The key itself, for the SDK or header; PermanentProviderError when unset."""
        if self._key is None:
            raise PermanentProviderError(f"{self.key_env} is not set", provider=self.name)
        return self._key.get_secret_value()


class LocalProvider(Provider):
    """A provider whose work is CPU-bound Python; run off the event loop."""

    name: ClassVar[str] = "local"
    executor: concurrent.futures.Executor | None = None
    pool: LocalProcessPool | None = None

    def run_sync(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Do the work on a thread (blocking); subclasses implement it."""
        raise NotImplementedError

    def isolated_call(
        self, req: ProviderRequest
    ) -> tuple[Callable[..., ProviderResult], tuple[Any, ...]] | None:
        """A picklable `(function, args)` that does `run_sync`'s work in a worker
        process, or None to run `run_sync` on a thread."""
        return None

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Run `isolated_call` in a worker process when there is a pool, else `run_sync` on a
        thread."""
        call = self.isolated_call(req) if self.pool is not None else None
        if call is None or self.pool is None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self.run_sync, req, attempt)
        fn, args = call
        result: ProviderResult = await self.pool.run(
            fn, *args, job_id=req.job_id, progress=req.progress,
            time_limit=max(0.1, req.deadline - time.monotonic()), lane=req.lane)
        attempt.model = result.model
        return result
