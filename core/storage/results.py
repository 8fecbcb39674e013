"""Content-addressed blob store for inputs and results: the interface and the local folder.

A file's key is `<sha256>.<ext>`; the bytes live under `<sha[:2]>/<key>`, in a local
folder (`LocalResultStore`, the default) or an S3-compatible bucket
(`core/storage/blobs.py`). Writing the same bytes twice is free (the second put only
finds the first), and a key always names the same bytes. A worker on another machine
needs only a job row and the store: inputs are stored here too, under the row's
`input_key`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from core.errors import StorageError

_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/octet-stream": "bin",
}
SMALL_WRITE = 256 * 1024  # below this, a thread hand-off costs more than the write


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` as hex."""
    return hashlib.sha256(data).hexdigest()


def blob_key(data: bytes, mime: str) -> str:
    """The content address of `data`: `<sha256 hex>.<ext>` (ext from `mime`, else bin)."""
    return f"{sha256_hex(data)}.{_EXT.get(mime, 'bin')}"


def check_key(key: str) -> str:
    """`key` itself; ValueError if it could name something outside the store."""
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise ValueError(f"bad result key {key!r}")
    return key


class BlobStore(Protocol):
    """Where inputs and results live, by content address. The sync methods are for
    threads and command-line code; the engine calls the async ones on its loop."""

    location: str  # for messages: a folder or s3://bucket/prefix (never credentials)

    def put(self, data: bytes, mime: str = "application/octet-stream") -> str:
        """Store `data` once per content; its key. Raises StorageError."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key`. Raises FileNotFoundError, StorageError."""
        ...

    def exists(self, key: str) -> bool:
        """True when `key` is stored. Raises StorageError."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file holding `key` when the store is a local folder, else None."""
        ...

    async def put_many(self, files: list[tuple[bytes, str]]) -> list[str]:
        """Store `(data, mime)` files; their keys in order. Raises StorageError."""
        ...

    async def get_async(self, key: str) -> bytes:
        """`get` without blocking the loop. Raises FileNotFoundError, StorageError."""
        ...

    async def exists_async(self, key: str) -> bool:
        """`exists` without blocking the loop. Raises StorageError."""
        ...


class LocalResultStore:
    """Files on this disk, content addressed: `<root>/<2 hex>/<sha256>.<ext>`."""

    def __init__(self, root: Path) -> None:
        """Use (creating if needed) the folder `root`. Raises StorageError naming it
        when it cannot be created or is not a writable folder."""
        self.root = root
        self.location = str(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"results_dir {root}: cannot create it ({exc.strerror or exc})"
            ) from exc
        if not os.access(root, os.W_OK | os.X_OK):
            raise StorageError(f"results_dir {root}: not writable")

    def put(self, data: bytes, mime: str = "application/octet-stream") -> str:
        """Store `data` (atomically, once per content); returns its key `<sha256>.<ext>`."""
        key = blob_key(data, mime)
        path = self.path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return key

    def path(self, key: str) -> Path:
        """The file for `key`; ValueError if the key could leave the store's folder."""
        return self.root / key[:2] / check_key(key)

    def local_path(self, key: str) -> Path | None:
        """The file for `key` (this store is always local)."""
        return self.path(key)

    def exists(self, key: str) -> bool:
        """True when a file is stored under `key`."""
        return self.path(key).is_file()

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`; FileNotFoundError if there are none."""
        return self.path(key).read_bytes()

    async def put_many(self, files: list[tuple[bytes, str]]) -> list[str]:
        """Put `(data, mime)` files, returning their keys; big ones are hashed and
        written off the event loop."""
        if sum(len(data) for data, _ in files) < SMALL_WRITE:
            return [self.put(data, mime) for data, mime in files]
        return await asyncio.to_thread(lambda: [self.put(d, m) for d, m in files])

    async def get_async(self, key: str) -> bytes:
        """The bytes under `key`, read in a thread; FileNotFoundError if none."""
        return await asyncio.to_thread(self.get, key)

    async def exists_async(self, key: str) -> bool:
        """True when `key` is stored (a stat: cheap enough for the loop)."""
        return self.exists(key)


ResultStore = LocalResultStore  # the name callers and tests have always used
