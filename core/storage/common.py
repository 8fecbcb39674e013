"""What both database backends share: recognising and scrubbing `postgresql://`
URLs, and the bundled migrations of each backend (core/storage/migrations/<backend>/)."""

from __future__ import annotations

import re
from importlib import resources
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_PG_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """True when `target` (a `[storage] database` value) is a `postgresql://` URL."""
    return isinstance(target, str) and target.startswith(_PG_SCHEMES)


def scrub_url(url: str) -> str:
    """`url` with its password (in the user part or a `password=` query) replaced by ***,
    for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<database URL>"
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = parts.query
    if "password" in query:
        query = urlencode([(k, "***" if k == "password" else v)
                           for k, v in parse_qsl(query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The password(s) in a database URL, as written and percent-decoded: what logging
    must scrub (empty for a path)."""
    if not is_postgres_url(url):
        return []
    parts = urlsplit(url)
    found = [parts.password, unquote(parts.password)] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    return sorted(set(found))


def migrations(backend: str = "sqlite") -> list[tuple[int, str, str]]:
    """(number, name, sql) for every bundled migration of `backend` ("sqlite" or
    "postgres"), in order. Both backends number their migrations the same way."""
    folder = resources.files("core.storage") / "migrations" / backend
    found = []
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)
