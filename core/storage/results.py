"""Content-addressed file store for inputs and results.

A file is stored under `<root>/<sha[:2]>/<sha>.<ext>`; its key is `<sha>.<ext>`.
Writing the same bytes twice is free, and a key always names the same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from core.errors import StorageError

_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/octet-stream": "bin",
}


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` as hex."""
    return hashlib.sha256(data).hexdigest()


class ResultStore:
    """Result files on disk, content addressed: `<root>/<2 hex>/<sha256>.<ext>`."""

    def __init__(self, root: Path) -> None:
        """Use (creating if needed) the folder `root`. Raises StorageError naming it
        when it cannot be created or is not a writable folder."""
        self.root = root
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
        digest = sha256_hex(data)
        key = f"{digest}.{_EXT.get(mime, 'bin')}"
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
        if "/" in key or "\\" in key or key.startswith("."):
            raise ValueError(f"bad result key {key!r}")
        return self.root / key[:2] / key

    def exists(self, key: str) -> bool:
        """True when a file is stored under `key`."""
        return self.path(key).is_file()

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`; FileNotFoundError if there are none."""
        return self.path(key).read_bytes()


async def store_files(store: ResultStore, files: list[tuple[bytes, str]]) -> list[str]:
    """Put `(data, mime)` files in `store`, returning their keys; big ones are hashed
    and written off the event loop (below ~256 KB the thread hand-off costs more than
    the work)."""
    if sum(len(data) for data, _ in files) < 256 * 1024:
        return [store.put(data, mime) for data, mime in files]
    return await asyncio.to_thread(lambda: [store.put(d, m) for d, m in files])
