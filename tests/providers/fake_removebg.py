"""A fake remove.bg API: `POST /v1.0/removebg` (multipart `image_file`).

Answers like the real one: a PNG cut-out with `X-Credits-Charged`, `X-Width`,
`X-Height`, `X-Type`; `{"errors": [{"title", "code"}]}` bodies for 400, 402,
403 and 429 (none charged). The cut-out keeps a centred disc as foreground.
"""

from __future__ import annotations

import io
from typing import Any

from aiohttp import web
from PIL import Image

from tests.providers.fake_base import (
    FakeServer,
    Fault,
    disc_mask,
    json_response,
    parse_multipart,
    png_bytes,
)


class FakeRemoveBg(FakeServer):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.forms: list[dict[str, Any]] = []  # text fields of each accepted request
        self.route("POST", "/v1.0/removebg", "removebg", self._removebg)

    async def _removebg(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != self.api_key:
            return json_response(errors(403, "Forbidden", "auth_failed"), status=403)
        form = parse_multipart(request.headers["Content-Type"], await request.read())
        if "image_file" not in form:
            return json_response(errors(400, "No image given", "missing_source"), status=400)
        try:
            img = Image.open(io.BytesIO(form["image_file"][1]))
            img.load()
        except OSError:
            return json_response(errors(400, "Invalid image", "invalid_image_type"), status=400)
        fields = {k: v[1].decode() for k, v in form.items() if k != "image_file"}
        self.forms.append(fields)
        size = fields.get("size", "auto")
        if size == "preview" and img.width * img.height > 250_000:
            factor = (250_000 / (img.width * img.height)) ** 0.5
            img = img.resize((max(1, int(img.width * factor)), max(1, int(img.height * factor))))
        out = img.convert("RGB")
        out.putalpha(disc_mask(*out.size))
        credits = "0.25" if size == "preview" else "1"
        return web.Response(
            body=png_bytes(out),
            headers={
                "Content-Type": "image/png",
                "X-Credits-Charged": credits,
                "X-Width": str(out.width),
                "X-Height": str(out.height),
                "X-Type": fields.get("type", "auto"),
                "X-Request-Id": f"rbg-{len(self.forms)}",
            },
        )


def errors(status: int, title: str, code: str) -> dict[str, Any]:
    return {"errors": [{"title": title, "code": code, "detail": f"{title} ({status})"}]}


def error(status: int, code: str = "error", *, retry_after: float | None = None) -> Fault:
    return Fault.error(
        status, errors(status, code.replace("_", " "), code), retry_after=retry_after
    )
