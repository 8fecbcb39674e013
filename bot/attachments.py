"""Downloading a member's attachment: allowed hosts only, with a byte cap.

The host check happens before any connection is made, the size Discord
reports is checked before downloading, and the body is read in chunks so a
lying size cannot make us buffer more than the cap. Decoding (and every
"is this really an image" question) belongs to core.imaging via the engine.
"""

from __future__ import annotations

import ipaddress

import aiohttp
import discord
import yarl

from core.config import SecuritySettings
from core.errors import InvalidInput

_CHUNK = 64 * 1024


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} KB"


def host_allowed(url: yarl.URL, hosts: tuple[str, ...]) -> bool:
    host = (url.host or "").lower()
    if host not in {h.lower() for h in hosts}:
        return False
    if url.scheme == "https":
        return True
    # plain http only for loopback (a local fake CDN in tests)
    try:
        return url.scheme == "http" and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return url.scheme == "http" and host == "localhost"


async def download_attachment(
    session: aiohttp.ClientSession, attachment: discord.Attachment, security: SecuritySettings
) -> bytes:
    """The attachment's bytes, or InvalidInput naming the `image` option."""
    url = yarl.URL(attachment.url)
    if not host_allowed(url, security.attachment_hosts):
        raise InvalidInput(
            "Invalid `image`: attachments are only accepted from Discord's CDN; "
            "upload the file to Discord directly.",
            field="image",
        )
    cap = security.max_input_bytes
    too_big = InvalidInput(
        f"Invalid `image`: {attachment.filename} is larger than the {_size(cap)} limit.",
        field="image",
    )
    if attachment.size > cap:
        raise too_big
    try:
        async with session.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise InvalidInput(
                    f"Invalid `image`: Discord did not serve {attachment.filename} "
                    f"(HTTP {resp.status}); try uploading it again.",
                    field="image",
                )
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(_CHUNK):
                buf += chunk
                if len(buf) > cap:
                    raise too_big
    except (aiohttp.ClientError, TimeoutError):
        raise InvalidInput(
            f"Invalid `image`: could not download {attachment.filename}; try again.", field="image"
        ) from None
    return bytes(buf)
