"""The common part of the fake provider APIs: an aiohttp server that records
every request and plays scripted faults.

A test scripts faults per route (`server.script("images", Fault.error(429,
retry_after=2), Fault.hang(5))`); each request to that route takes the next
fault in line, and once the script is empty the route behaves normally.
Unknown routes answer 404 and are kept in `server.unexpected`, which the
fixtures turn into a test failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import io
import itertools
import json
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web
from multidict import CIMultiDict
from PIL import Image

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    route: str | None
    headers: CIMultiDict[str]  # case-insensitive, like HTTP
    body: bytes
    at: float  # time.monotonic() when the request arrived
    status: int = 0


@dataclass
class Fault:
    """One scripted answer. `hang` sleeps that long before answering (or forever)."""

    status: int = 500
    body: bytes | None = None
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    hang: float = 0.0

    @classmethod
    def error(
        cls, status: int, body: Any = None, *, retry_after: float | str | None = None
    ) -> Fault:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return cls(status=status, json_body=body if body is not None else {}, headers=headers)

    @classmethod
    def hanging(cls, seconds: float = 30.0) -> Fault:
        return cls(hang=seconds, status=504, json_body={"error": "hung"})

    @classmethod
    def malformed(cls) -> Fault:
        return cls(status=200, body=b'{"created": 1, "data": [', content_type="application/json")

    @classmethod
    def raw(cls, body: bytes, content_type: str, status: int = 200) -> Fault:
        return cls(status=status, body=body, content_type=content_type)

    def response(self) -> web.Response:
        body = self.body
        if body is None:
            body = json.dumps(self.json_body if self.json_body is not None else {}).encode()
        # Content-Type set exactly (no charset suffix), like the real APIs
        headers = {"Content-Type": self.content_type, **self.headers}
        return web.Response(status=self.status, body=body, headers=headers)


class FakeServer:
    """Base class: subclasses add routes with `self.route(method, path, name, handler)`."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self.requests: list[Recorded] = []
        self.unexpected: list[str] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.base_url = ""
        self.port = 0

    # -- setup -----------------------------------------------------------------

    def route(self, method: str, path: str, name: str, handler: Handler) -> None:
        async def named(request: web.Request) -> web.StreamResponse:
            return await handler(request)

        self.app.router.add_route(method, path, named, name=name)

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        """Plain HTTP on a random port; `tls` adds a second HTTPS site (see `tls_url`)."""
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = _port(site)
        self.base_url = f"http://127.0.0.1:{self.port}"
        if tls is not None:
            tls_site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls)
            await tls_site.start()
            self.tls_port = _port(tls_site)
        return self.base_url

    @property
    def tls_url(self) -> str:
        # "localhost" so the certificate's name matches
        return f"https://localhost:{self.tls_port}"

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting ----------------------------------------------------------

    def script(self, route: str, *faults: Fault) -> None:
        self._faults[route].extend(faults)

    def requests_to(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    def gaps(self, route: str) -> list[float]:
        """Seconds between consecutive requests to a route."""
        times = [r.at for r in self.requests_to(route)]
        return [b - a for a, b in itertools.pairwise(times)]

    # -- plumbing -------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        info = request.match_info.route
        name = getattr(info, "name", None)
        rec = Recorded(
            request.method,
            request.path,
            name,
            CIMultiDict(request.headers),
            body,
            time.monotonic(),
        )
        self.requests.append(rec)
        if name is None:
            self.unexpected.append(f"{request.method} {request.path}")
            rec.status = 404
            return web.json_response({"detail": "not found"}, status=404)
        queue = self._faults.get(name)
        if queue:
            fault = queue.popleft()
            if fault.hang:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.hang)
            rec.status = fault.status
            return fault.response()
        resp = await handler(request)
        rec.status = resp.status
        return resp


def _port(site: web.TCPSite) -> int:
    server = site._server
    assert server is not None
    return int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON with Content-Type exactly application/json."""
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart body: name -> (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        out[str(name)] = (part.get_filename(), payload)
    return out


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def sample_image(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A gradient with a disc in the middle: a real picture, cheap to make."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack(
        [
            np.broadcast_to(x, (height, width)),
            np.broadcast_to(y, (height, width)),
            np.full((height, width), 128, np.float32),
        ],
        axis=-1,
    ).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        img.putalpha(disc_mask(width, height))
    return img


def disc_mask(width: int, height: int) -> Image.Image:
    yy, xx = np.mgrid[0:height, 0:width]
    r = min(width, height) * 0.35
    inside = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 <= r * r
    return Image.fromarray(np.where(inside, 255, 0).astype(np.uint8), "L")
