"""A fake OpenAI API: `POST /v1/images/generations` and `POST /v1/moderations`.

It speaks enough of the real API for the official `openai` SDK: bearer-key
auth (a wrong key gets the real API's 401, which echoes part of the key),
GPT-image responses (`b64_json` only, `usage`, `size`, `x-request-id`), and
moderation results whose categories use the API's aliases. A prompt
containing `FLAG_ME` is flagged by moderation.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from tests.providers.fake_base import FakeServer, Fault, json_response, png_bytes, sample_image

CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]
FLAG_WORD = "FLAG_ME"


class FakeOpenAI(FakeServer):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.generated: list[dict[str, Any]] = []  # request bodies of successful generations
        self.route("POST", "/v1/images/generations", "images", self._images)
        self.route("POST", "/v1/moderations", "moderations", self._moderations)

    @property
    def url(self) -> str:
        return self.base_url + "/v1"

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return json_response(
            {
                "error": {
                    "message": f"Incorrect API key provided: {given[:3]}***{given[-4:]}.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            status=401,
            headers={"x-request-id": "req_auth"},
        )

    async def _images(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = json.loads(await request.read())
        size = body.get("size") or "auto"
        w, h = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        if not body.get("prompt"):
            return json_response(
                {
                    "error": {
                        "message": "prompt is required",
                        "type": "invalid_request_error",
                        "code": None,
                    }
                },
                status=400,
            )
        self.generated.append(body)
        data = base64.b64encode(png_bytes(sample_image(w, h))).decode()
        n = len(self.generated)
        return json_response(
            {
                "created": 1_760_000_000,
                "data": [{"b64_json": data}],
                "background": "opaque",
                "output_format": "png",
                "quality": body.get("quality", "medium"),
                "size": f"{w}x{h}",
                "usage": {
                    "input_tokens": 50,
                    "output_tokens": 1056,
                    "total_tokens": 1106,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
                },
            },
            headers={"x-request-id": f"req_img_{n}"},
        )

    async def _moderations(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = json.loads(await request.read())
        text = (
            body.get("input")
            if isinstance(body.get("input"), str)
            else json.dumps(body.get("input"))
        )
        flagged = FLAG_WORD in text
        cats = {c: (flagged and c in ("violence", "violence/graphic")) for c in CATEGORIES}
        return json_response(
            {
                "id": "modr-1",
                "model": body.get("model", "omni-moderation-latest"),
                "results": [
                    {
                        "flagged": flagged,
                        "categories": cats,
                        "category_scores": {c: (0.97 if v else 0.001) for c, v in cats.items()},
                        "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
                    }
                ],
            },
            headers={"x-request-id": "req_mod"},
        )


def policy_block(code: str = "moderation_blocked") -> Fault:
    """The 400 the Images API returns when its own safety system refuses a prompt."""
    return Fault.error(
        400,
        {
            "error": {
                "message": "Your request was rejected as a result of our safety system.",
                "type": "image_generation_user_error",
                "param": None,
                "code": code,
            }
        },
    )


def api_error(status: int, *, retry_after: float | None = None, code: str | None = None) -> Fault:
    fault = Fault.error(
        status,
        {"error": {"message": "boom", "type": "server_error", "param": None, "code": code}},
        retry_after=retry_after,
    )
    fault.headers["x-request-id"] = f"req_err_{status}"
    return fault


def non_image() -> Fault:
    """A 200 whose b64_json decodes to something that is not an image."""
    body = {"created": 1, "data": [{"b64_json": base64.b64encode(b"<html>hello</html>").decode()}]}
    return Fault(status=200, json_body=body)
