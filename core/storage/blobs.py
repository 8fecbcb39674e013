"""Inputs and results in S3-compatible object storage (obstore), and choosing the store.

`[storage] results_url = "s3://bucket/prefix"` puts every blob at
`<prefix>/<sha[:2]>/<sha256>.<ext>`: the same layout as the local folder, so
copying `results_dir` into the bucket moves an install's results. Endpoint and
region come from `[storage] results_endpoint` / `results_region` or the
`AWS_ENDPOINT_URL` / `AWS_REGION` environment; credentials only from the
environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`:
secrets, scrubbed from logs), else the instance's role as obstore finds it.

A put first asks whether the key is there (HEAD) and writes only when it is
not: a second put of the same bytes writes nothing, on every S3-compatible
server (conditional writes are not universal). Two writers racing on a new key
write the same bytes, which is harmless.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError

from core.errors import StorageError
from core.storage.results import SMALL_WRITE, BlobStore, LocalResultStore, blob_key, check_key

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config, S3Store

    from core.config import Settings


def open_blob_store(settings: Settings) -> BlobStore:
    """The store `settings` name: S3 when `[storage] results_url` is set, else the
    local `results_dir`. Raises StorageError (local folder unusable) or ConfigError."""
    st = settings.storage
    if st.results_url is None:
        return LocalResultStore(settings.results_path)
    sec = settings.secrets
    return S3BlobStore(
        st.results_url,
        endpoint=st.results_endpoint or os.environ.get("AWS_ENDPOINT_URL") or None,
        region=(st.results_region or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"),
        access_key_id=sec.aws_access_key_id.get_secret_value() if sec.aws_access_key_id else None,
        secret_access_key=(sec.aws_secret_access_key.get_secret_value()
                           if sec.aws_secret_access_key else None),
        session_token=(sec.aws_session_token.get_secret_value()
                       if sec.aws_session_token else None),
    )


class S3BlobStore:
    """Blobs in an S3-compatible bucket under a prefix, through obstore (async calls on
    the loop; the sync ones are for threads and the command line)."""

    def __init__(self, url: str, *, endpoint: str | None = None, region: str = "us-east-1",
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 session_token: str | None = None) -> None:
        """Address `url` (`s3://bucket/prefix`); nothing is sent until the first call.
        An `http://` endpoint (a local MinIO or moto) is allowed explicitly."""
        from obstore.store import S3Store

        config: S3Config = {"region": region}
        if endpoint:
            config["endpoint"] = endpoint
        if access_key_id and secret_access_key:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
            if session_token:
                config["session_token"] = session_token
        client: ClientConfig = {"connect_timeout": timedelta(seconds=5),
                                "timeout": timedelta(seconds=60)}
        if endpoint and endpoint.startswith("http://"):
            client["allow_http"] = True
        retry: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
        self.location = url.rstrip("/")
        self._store: S3Store = S3Store.from_url(url, config=config, client_options=client,
                                                retry_config=retry)

    def _fail(self, what: str, key: str, exc: Exception) -> StorageError:
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return StorageError(f"results_url {self.location}: {what} {key} failed ({first})")

    @staticmethod
    def _path(key: str) -> str:
        return f"{key[:2]}/{check_key(key)}"

    # -- sync (threads, command line) ---------------------------------------------------
    def put(self, data: bytes, mime: str = "application/octet-stream") -> str:
        """Store `data` unless its key is there already; its key. Raises StorageError."""
        key = blob_key(data, mime)
        if not self.exists(key):
            try:
                obstore.put(self._store, self._path(key), data)
            except (BaseError, FileNotFoundError) as exc:  # not found: no such bucket
                raise self._fail("put", key, exc) from exc
        return key

    def get(self, key: str) -> bytes:
        """The bytes under `key`. Raises FileNotFoundError, StorageError."""
        try:
            return bytes(obstore.get(self._store, self._path(key)).bytes())
        except BaseError as exc:
            raise self._fail("get", key, exc) from exc

    def exists(self, key: str) -> bool:
        """True when `key` is stored. Raises StorageError."""
        try:
            obstore.head(self._store, self._path(key))
        except FileNotFoundError:
            return False
        except BaseError as exc:
            raise self._fail("head", key, exc) from exc
        return True

    def local_path(self, key: str) -> Path | None:
        """None: objects have no local file (read them with `get`)."""
        check_key(key)
        return None

    # -- async (the engine's loop) ------------------------------------------------------
    async def put_many(self, files: list[tuple[bytes, str]]) -> list[str]:
        """Store `(data, mime)` files concurrently; their keys. Raises StorageError."""
        if sum(len(d) for d, _ in files) < SMALL_WRITE:
            keys = [blob_key(d, m) for d, m in files]
        else:
            keys = await asyncio.to_thread(lambda: [blob_key(d, m) for d, m in files])
        await asyncio.gather(*(self._put_async(k, d) for k, (d, _) in zip(keys, files, strict=True)))
        return keys

    async def _put_async(self, key: str, data: bytes) -> None:
        if await self.exists_async(key):
            return
        try:
            await obstore.put_async(self._store, self._path(key), data)
        except (BaseError, FileNotFoundError) as exc:  # not found: no such bucket
            raise self._fail("put", key, exc) from exc

    async def get_async(self, key: str) -> bytes:
        """The bytes under `key`. Raises FileNotFoundError, StorageError."""
        try:
            got = await obstore.get_async(self._store, self._path(key))
            return bytes(await got.bytes_async())
        except BaseError as exc:
            raise self._fail("get", key, exc) from exc

    async def exists_async(self, key: str) -> bool:
        """True when `key` is stored. Raises StorageError."""
        try:
            await obstore.head_async(self._store, self._path(key))
        except FileNotFoundError:
            return False
        except BaseError as exc:
            raise self._fail("head", key, exc) from exc
        return True
