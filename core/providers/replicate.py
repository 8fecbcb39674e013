"""The `replicate` provider: design, remove-bg and upscale on Replicate (official SDK).

One `run` is one attempt: create a prediction, poll it under the job's
deadline, download the output, check it is the image the tool promises. The
engine's retry layer is the only one, so the SDK's retrying transport (it
re-sends GETs on 429/503/504 up to 10 times, sleeping for any Retry-After) is
switched off, and `Prefer: wait` / `wait()` (which has no timeout) are not used.

Traps handled here (RESEARCH.md §C): replicate 1.0.7 cannot parse the
`aborted` status (pydantic ValidationError) — it is read from the error and
treated as terminal; a `canceled` prediction is an error, not a silent None.
Outputs are downloaded with a separate client that carries no credentials:
the SDK's FileOutput.aread() would send the API token to whatever host the
model's output URL names.

How a prediction's ending maps onto the error tree is in `_replicate.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import io
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from pydantic import v1 as pydantic_v1
from replicate.client import Client, RetryTransport
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput, transform_output
from replicate.prediction import Prediction

from core.config import Settings
from core.errors import PermanentProviderError, TransientProviderError
from core.providers._remote import (
    MAX_OUTPUT_BYTES,
    design_prompt,
    encode_input,
    encode_png,
    fit_aspect,
    open_output_image,
    parse_retry_after,
    prompt_ref,
    status_error,
    time_left,
)
from core.providers._replicate import (
    NAME,
    Outcome,
    check_outcome,
    estimate_cost,
    exact_upscale,
    is_transient,
    status_from,
    translate,
)
from core.providers.base import (
    Attempt,
    OutputFile,
    ProviderRequest,
    ProviderResult,
    RemoteProvider,
)
from core.tools.base import DesignParams, RemoveBgParams, UpscaleParams

log = logging.getLogger(__name__)

DATA_URL_MAX_BYTES = 1024 * 1024  # larger inputs are uploaded with files.create
POLL_ERRORS_TOLERATED = 3  # consecutive failed status reads before the attempt gives up
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})


@dataclass
class _Call:
    """Per-attempt state the httpx hooks read and write (one per running task)."""

    idempotency_key: str
    retry_after: float | None = None


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("replicate_call", default=None)


async def _on_request(request: httpx.Request) -> None:
    call = _CALL.get()
    if call is not None and request.method == "POST" and request.url.path.endswith("/predictions"):
        request.headers["Idempotency-Key"] = call.idempotency_key


async def _on_response(response: httpx.Response) -> None:
    call = _CALL.get()
    if call is not None and response.status_code >= 400:
        call.retry_after = parse_retry_after(response.headers.get("retry-after"))


class ReplicateProvider(RemoteProvider):
    """Design, background removal and upscaling through Replicate predictions."""

    name: ClassVar[str] = NAME
    key_env: ClassVar[str] = "REPLICATE_API_TOKEN"
    tools: ClassVar[frozenset[str]] = frozenset({"design", "remove-bg", "upscale"})

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.secrets.replicate_api_token)
        self._cfg = settings.providers.replicate
        self._client: Client | None = None
        self._downloads: httpx.AsyncClient | None = None
        self._cleanups: set[asyncio.Task[None]] = set()

    def _sdk(self) -> Client:
        if self._client is None:
            per_request = min(30.0, self._cfg.timeout_s)
            client = Client(
                api_token=self.api_key(),
                base_url=self._cfg.base_url,
                timeout=httpx.Timeout(per_request, connect=min(5.0, per_request)),
                event_hooks={"request": [_on_request], "response": [_on_response]},
            )
            # replicate 1.0.7 offers no switch for its retrying transport; it is
            # reached through the (pinned) SDK's client so only the engine retries.
            transport = getattr(client._async_client, "_transport", None)
            if isinstance(transport, RetryTransport):
                transport.max_attempts = 1
            self._client = client
        return self._client

    def _http(self) -> httpx.AsyncClient:
        if self._downloads is None:
            self._downloads = httpx.AsyncClient(
                timeout=httpx.Timeout(min(60.0, self._cfg.timeout_s), connect=5.0),
                follow_redirects=True,
            )
        return self._downloads

    async def aclose(self) -> None:
        """Wait (up to 6 s) for pending prediction cancels and input deletions, then close the
        client."""
        if self._cleanups:
            await asyncio.wait(self._cleanups, timeout=6.0)
        if self._client is not None:
            await self._client._async_client.aclose()
            self._client = None
        if self._downloads is not None:
            await self._downloads.aclose()
            self._downloads = None

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        """Create a prediction, wait for it within the job's deadline, download and check its
        output."""
        ref, inputs_for = self._model_for(req)
        attempt.model = ref
        end = min(req.deadline, time.monotonic() + self._cfg.timeout_s)
        call = _Call(req.idempotency_key)
        token = _CALL.set(call)
        pred_id: str | None = None
        file_id: list[str] = []
        try:
            async with asyncio.timeout(time_left(end)):
                inputs = await inputs_for(req, file_id)
                pred = await self._create(ref, inputs)
                pred_id = attempt.request_id = pred.id
                log.debug("replicate job=%s prediction=%s created", req.job_id, pred.id)
                outcome = await self._wait(req, pred, call)
                pred_id = None  # terminal: nothing left to cancel
                check_outcome(outcome, req.tool)
                attempt.cost_usd = estimate_cost(ref, outcome.metrics)
                data = await self._download(outcome)
            return await asyncio.to_thread(self._finish, req, data, outcome.id)
        except TimeoutError:
            raise TransientProviderError(
                "timeout: the prediction did not finish before the deadline",
                provider=NAME,
                request_id=attempt.request_id,
            ) from None
        except (
            ReplicateError,
            ModelError,
            httpx.HTTPError,
            ValueError,
            pydantic_v1.ValidationError,
        ) as exc:
            raise translate(exc, call.retry_after, attempt.request_id) from None
        finally:
            _CALL.reset(token)
            if pred_id is not None or file_id:
                await self._clean_up(pred_id, file_id)

    # -- tool inputs -------------------------------------------------------

    def _model_for(self, req: ProviderRequest) -> tuple[str, Any]:
        if req.tool == "design" and isinstance(req.params, DesignParams):
            return self._cfg.design_model, self._design_inputs
        if req.tool == "remove-bg" and isinstance(req.params, RemoveBgParams):
            return self._cfg.remove_bg_model, self._remove_bg_inputs
        if req.tool == "upscale" and isinstance(req.params, UpscaleParams):
            return self._cfg.upscale_model, self._upscale_inputs
        raise PermanentProviderError(f"replicate does not run {req.tool}", provider=NAME)

    async def _design_inputs(self, req: ProviderRequest, _files: list[str]) -> dict[str, Any]:
        if not isinstance(req.params, DesignParams):
            raise TypeError(f"expected DesignParams, got {type(req.params).__name__}")
        prompt = design_prompt(req.params)
        log.debug("replicate design job=%s prompt %s", req.job_id, prompt_ref(prompt))
        inputs: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": req.params.aspect,
            "num_outputs": 1,
            "output_format": "png",
        }
        if req.params.seed:
            inputs["seed"] = req.params.seed
        return inputs

    async def _remove_bg_inputs(self, req: ProviderRequest, files: list[str]) -> dict[str, Any]:
        # the model has no person/product modes: one segmentation for all
        return {
            "image": await self._image_ref(req, files),
            "format": "png",
            "background_type": "rgba",
        }

    async def _upscale_inputs(self, req: ProviderRequest, files: list[str]) -> dict[str, Any]:
        if not isinstance(req.params, UpscaleParams):
            raise TypeError(f"expected UpscaleParams, got {type(req.params).__name__}")
        image = await self._image_ref(req, files)
        return {"image": image, "scale": req.params.scale, "face_enhance": False}

    async def _image_ref(self, req: ProviderRequest, files: list[str]) -> str:
        """A data URL for small inputs, else an uploaded file's URL."""
        if req.image is None:
            raise PermanentProviderError("no input image", provider=NAME)
        data, mime = await asyncio.to_thread(encode_input, req.image)
        if len(data) <= DATA_URL_MAX_BYTES:
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        ext = "png" if mime == "image/png" else "jpg"
        uploaded = await self._sdk().files.async_create(
            io.BytesIO(data), filename=f"input.{ext}", content_type=mime
        )
        files.append(uploaded.id)
        url: str = uploaded.urls["get"]
        return url

    # -- the prediction ------------------------------------------------------

    async def _create(self, ref: str, inputs: dict[str, Any]) -> Prediction:
        client = self._sdk()
        owner_name, _, version = ref.partition(":")
        prediction: Prediction
        if version:
            prediction = await client.predictions.async_create(version=version, input=inputs)
        else:
            prediction = await client.models.predictions.async_create(
                model=owner_name, input=inputs
            )
        return prediction

    async def _wait(self, req: ProviderRequest, pred: Prediction, call: _Call) -> Outcome:
        """Poll until a terminal status (the caller's timeout bounds this)."""
        client = self._sdk()
        current = Outcome(pred.id, pred.status, pred.error, pred.output, pred.metrics)
        failures = 0
        delay = self._cfg.poll_interval_s
        while current.status not in TERMINAL:
            _report(req, pred)
            await asyncio.sleep(delay)
            delay = self._cfg.poll_interval_s
            try:
                pred = await client.predictions.async_get(current.id)
            except pydantic_v1.ValidationError as exc:
                status = status_from(exc)
                if status not in TERMINAL:
                    raise
                return Outcome(current.id, status)
            except (ReplicateError, httpx.TransportError) as exc:
                # a failed status read does not fail the prediction; give up after a few
                failures += 1
                transient = isinstance(exc, httpx.TransportError) or is_transient(exc)
                if not transient or failures >= POLL_ERRORS_TOLERATED:
                    raise
                delay = max(delay, call.retry_after or 0.0)
                log.debug(
                    "replicate job=%s poll failed (%d), retrying in %.1fs",
                    req.job_id,
                    failures,
                    delay,
                )
                continue
            failures = 0
            current = Outcome(pred.id, pred.status, pred.error, pred.output, pred.metrics)
        return current

    async def _clean_up(self, pred_id: str | None, file_ids: list[str]) -> None:
        """Cancel an unfinished prediction (it bills by the second) and delete uploads.

        Runs as its own task: when the job itself is being canceled (the member
        pressed Cancel, or the engine's timeout fired), awaiting in this task
        would be interrupted before the cancel request is sent.
        """

        async def work() -> None:
            if pred_id is not None:
                await self._cancel(pred_id)
            for fid in file_ids:
                await self._delete_file(fid)

        task = asyncio.get_running_loop().create_task(work())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        await asyncio.shield(task)

    async def _cancel(self, pred_id: str) -> None:
        try:
            async with asyncio.timeout(5.0):
                await self._sdk().predictions.async_cancel(pred_id)
            log.info("replicate prediction=%s canceled upstream", pred_id)
        except (
            ReplicateError,
            httpx.HTTPError,
            ValueError,
            pydantic_v1.ValidationError,
            TimeoutError,
        ) as exc:
            log.warning(
                "replicate prediction=%s could not be canceled: %s", pred_id, type(exc).__name__
            )

    async def _delete_file(self, file_id: str) -> None:
        with contextlib.suppress(ReplicateError, httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(5.0):
                await self._sdk().files.async_delete(file_id)

    # -- the output ------------------------------------------------------------

    async def _download(self, outcome: Outcome) -> bytes:
        output = outcome.output
        if isinstance(output, list):
            output = output[0] if output else None
        file = transform_output(output, self._sdk())
        if not isinstance(file, FileOutput):
            raise PermanentProviderError(
                "prediction returned no image URL", provider=NAME, request_id=outcome.id
            )
        if file.url.startswith("data:"):
            return await file.aread()
        chunks: list[bytes] = []
        size = 0
        async with self._http().stream("GET", file.url) as resp:
            if resp.status_code >= 400:
                raise status_error(
                    NAME,
                    resp.status_code,
                    "output download failed",
                    request_id=outcome.id,
                    retry_after=parse_retry_after(resp.headers.get("retry-after")),
                )
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > MAX_OUTPUT_BYTES:
                    raise PermanentProviderError(
                        "output is too large", provider=NAME, request_id=outcome.id
                    )
                chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _finish(req: ProviderRequest, data: bytes, rid: str) -> ProviderResult:
        img = open_output_image(data, NAME, request_id=rid)
        if isinstance(req.params, DesignParams):
            img = fit_aspect(img, req.params.aspect)
            info = {
                "prompt_used": design_prompt(req.params),
                "width": img.width,
                "height": img.height,
            }
            return ProviderResult([OutputFile("design.png", encode_png(img))], info)
        if isinstance(req.params, UpscaleParams):
            if req.image is None:
                raise ValueError("upscale needs an input image")
            img = exact_upscale(req.image, img, req.params.scale)
            info = {"width": img.width, "height": img.height}
            return ProviderResult([OutputFile("upscale.png", encode_png(img))], info)
        if img.mode != "RGBA":
            raise PermanentProviderError(
                "the cut-out has no alpha channel", provider=NAME, request_id=rid
            )
        info = {"width": img.width, "height": img.height}
        return ProviderResult([OutputFile("remove-bg.png", encode_png(img))], info)


def _report(req: ProviderRequest, pred: Prediction) -> None:
    if pred.status == "starting":
        req.progress(0.1, "waiting for a Replicate GPU")
        return
    progress = pred.progress if pred.logs else None
    fraction = 0.2 + 0.7 * progress.percentage if progress else 0.3
    req.progress(fraction, "running on Replicate")


