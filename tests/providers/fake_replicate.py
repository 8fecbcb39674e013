"""A fake Replicate API for the official `replicate` SDK (1.0.7).

Routes: file upload/delete, predictions by model name
(`POST /v1/models/{owner}/{name}/predictions`) and by version
(`POST /v1/predictions`), polling (`GET /v1/predictions/{id}`), cancel, and
the delivery of outputs. Outputs are served over HTTPS (a second site with a
trustme certificate) so the SDK turns them into `FileOutput`s exactly as it
does for replicate.delivery; the delivery route records whether any
credentials were sent to it.

Each new prediction follows the next `Plan` in `server.plans` (default: one
`processing` poll, then `succeeded`), so a test can script `failed`,
`canceled`, `aborted`, a prediction that never finishes, or a bad output.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from PIL import Image

from tests.providers.fake_base import (
    FakeServer,
    disc_mask,
    json_response,
    parse_multipart,
    png_bytes,
    sample_image,
)

FLUX = "black-forest-labs/flux-schnell"
# flux-schnell's native sizes (16:9 is not exactly 16:9: the adapter crops)
FLUX_SIZES = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1152, 896)}


@dataclass
class Plan:
    polls: int = 1  # GETs answered `processing` before the terminal status
    final: str = "succeeded"  # or failed / canceled / aborted
    error: str | None = None
    never_finish: bool = False
    output_shape: str = "default"  # default | list | str | data | http | none
    output_body: bytes | None = None  # replaces the rendered image
    output_size: tuple[int, int] | None = None  # e.g. an upscale slightly off
    output_alpha: bool = True  # remove-bg result has an alpha channel


class FakeReplicate(FakeServer):
    def __init__(self, token: str, versions: dict[str, str]) -> None:
        """`versions`: pinned version id -> kind (remove-bg | upscale)."""
        super().__init__()
        self.token = token
        self.versions = versions
        self.plans: deque[Plan] = deque()
        self.predictions: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.outputs: dict[str, bytes] = {}
        self._plan: dict[str, Plan] = {}
        self._kind: dict[str, str] = {}
        self._polls: dict[str, int] = {}
        self.route("POST", "/v1/files", "files_create", self._files_create)
        self.route("DELETE", "/v1/files/{id}", "files_delete", self._files_delete)
        self.route(
            "POST", "/v1/models/{owner}/{name}/predictions", "create_model", self._create_model
        )
        self.route("POST", "/v1/predictions", "create_version", self._create_version)
        self.route("GET", "/v1/predictions/{id}", "get", self._get)
        self.route("POST", "/v1/predictions/{id}/cancel", "cancel", self._cancel)
        self.route("GET", "/delivery/{id}/{file}", "delivery", self._delivery)

    # -- auth and errors ---------------------------------------------------------

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return None
        return problem(401, "Unauthenticated", "You did not pass a valid authentication token")

    # -- files ---------------------------------------------------------------------

    async def _files_create(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        form = parse_multipart(request.headers["Content-Type"], await request.read())
        filename, data = form["content"]
        fid = uuid.uuid4().hex[:12]
        self.files[fid] = data
        return json_response(
            {
                "id": fid,
                "name": filename or "file",
                "content_type": "image/png",
                "size": len(data),
                "etag": fid,
                "checksums": {},
                "metadata": {},
                "created_at": "2026-01-01T00:00:00Z",
                "expires_at": "2026-01-02T00:00:00Z",
                "urls": {"get": f"{self.base_url}/v1/files/{fid}"},
            },
            status=201,
        )

    async def _files_delete(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        self.files.pop(request.match_info["id"], None)
        return web.Response(status=204)

    # -- predictions -----------------------------------------------------------------

    async def _create_model(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if model != FLUX:
            return problem(404, "Model not found", f"{model} does not exist")
        body = json.loads(await request.read())
        return self._new(model, "design", "flux-version", body.get("input") or {})

    async def _create_version(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = json.loads(await request.read())
        version = body.get("version", "")
        if version not in self.versions:
            return problem(
                422,
                "Invalid version or not permitted",
                "The specified version does not exist (or perhaps you don't have permission to use it?)",
            )
        kind = self.versions[version]
        inputs = body.get("input") or {}
        if self._input_image(inputs) is None:
            return problem(422, "Input validation failed", "image: could not read the input image")
        return self._new(f"fake/{kind}", kind, version, inputs)

    def _new(self, model: str, kind: str, version: str, inputs: dict[str, Any]) -> web.Response:
        pid = uuid.uuid4().hex[:16]
        self._plan[pid] = self.plans.popleft() if self.plans else Plan()
        self._kind[pid] = kind
        self._polls[pid] = 0
        self.predictions[pid] = {
            "id": pid,
            "model": model,
            "version": version,
            "status": "starting",
            "input": inputs,
            "output": None,
            "logs": "",
            "error": None,
            "metrics": {},
            "created_at": "2026-01-01T00:00:00Z",
            "started_at": None,
            "completed_at": None,
            "urls": {
                "get": f"{self.base_url}/v1/predictions/{pid}",
                "cancel": f"{self.base_url}/v1/predictions/{pid}/cancel",
            },
        }
        return json_response(self.predictions[pid], status=201)

    async def _get(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        pid = request.match_info["id"]
        pred = self.predictions.get(pid)
        if pred is None:
            return problem(404, "Not found", "no such prediction")
        if pred["status"] in ("starting", "processing"):
            self._polls[pid] += 1
            plan = self._plan[pid]
            if plan.never_finish or self._polls[pid] <= plan.polls:
                pred["status"] = "processing"
                pred["logs"] = " 50%|#####     | 1/2 [00:01<00:01]"
            else:
                self._finish(pid, pred, plan)
        return json_response(pred)

    async def _cancel(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        pred = self.predictions.get(request.match_info["id"])
        if pred is None:
            return problem(404, "Not found", "no such prediction")
        if pred["status"] in ("starting", "processing"):
            pred["status"] = "canceled"
        return json_response(pred)

    def _finish(self, pid: str, pred: dict[str, Any], plan: Plan) -> None:
        pred["completed_at"] = "2026-01-01T00:00:05Z"
        pred["metrics"] = {"predict_time": 2.0}
        if plan.final != "succeeded":
            pred["status"] = plan.final
            pred["error"] = plan.error
            return
        body = plan.output_body if plan.output_body is not None else self._render(pid, pred, plan)
        url = self._publish(pid, body, plan)
        pred["status"] = "succeeded"
        shape = plan.output_shape
        if shape == "default":
            shape = "list" if self._kind[pid] == "design" else "str"
        pred["output"] = {"list": [url], "str": url, "data": url, "http": url, "none": None}[shape]

    def _publish(self, pid: str, body: bytes, plan: Plan) -> str:
        if plan.output_shape == "data":
            return "data:image/png;base64," + base64.b64encode(body).decode()
        path = f"/delivery/{pid}/out-0.png"
        self.outputs[path] = body
        base = self.base_url if plan.output_shape == "http" else self.tls_url
        return base + path

    def _render(self, pid: str, pred: dict[str, Any], plan: Plan) -> bytes:
        kind, inputs = self._kind[pid], pred["input"]
        if kind == "design":
            w, h = plan.output_size or FLUX_SIZES[inputs.get("aspect_ratio", "1:1")]
            return png_bytes(sample_image(w, h))
        src = self._input_image(inputs)
        assert src is not None
        if kind == "upscale":
            scale = int(inputs.get("scale", 4))
            size = plan.output_size or (src.width * scale, src.height * scale)
            return png_bytes(src.convert("RGB").resize(size, Image.Resampling.BICUBIC))
        out = src.convert("RGB").resize(plan.output_size or src.size)
        if plan.output_alpha:
            out.putalpha(disc_mask(*out.size))
        return png_bytes(out)

    def _input_image(self, inputs: dict[str, Any]) -> Image.Image | None:
        ref = inputs.get("image")
        if not isinstance(ref, str):
            return None
        if ref.startswith("data:"):
            data = base64.b64decode(ref.split(",", 1)[1])
        elif ref.startswith(f"{self.base_url}/v1/files/"):
            data = self.files.get(ref.rsplit("/", 1)[1], b"")
        else:
            return None
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except OSError:
            return None
        return img

    # -- delivery ----------------------------------------------------------------------

    async def _delivery(self, request: web.Request) -> web.Response:
        body = self.outputs.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, headers={"Content-Type": "image/png"})


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An RFC 7807 problem document, the shape of Replicate's errors."""
    return json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        headers=headers,
    )
