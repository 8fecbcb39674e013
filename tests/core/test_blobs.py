"""The blob store for inputs and results: the local folder and S3 (moto) behave alike,
and the engine keeps inputs and results in S3 when `[storage] results_url` is set."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.engine import JobRequest
from core.errors import StorageError
from core.logging import setup_logging
from core.storage.blobs import S3BlobStore, open_blob_store
from core.storage.results import BlobStore, LocalResultStore
from tests.core.scripted import ScriptedLocal
from tests.s3 import SECRET_KEY, S3Bucket

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
BIG = bytes(range(256)) * 2048  # 512 KB: hashed and written off the loop


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[BlobStore, Callable[[str], Any]]:
    """A store, and `where(key)`: a handle to read/overwrite the stored object behind
    the store's back (its file, or its S3 object)."""
    if request.param == "local":
        local = LocalResultStore(tmp_path / "results")
        return local, lambda key: _FileObject(local.path(key))
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    store = S3BlobStore(bucket.url, endpoint=bucket.endpoint, access_key_id="k",
                        secret_access_key="s")
    return store, lambda key: _S3Object(bucket, f"{bucket.prefix}/{key[:2]}/{key}")


class _FileObject:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> bytes:
        return self.path.read_bytes()

    def write(self, data: bytes) -> None:
        self.path.write_bytes(data)


class _S3Object:
    def __init__(self, bucket: S3Bucket, key: str) -> None:
        self.bucket, self.key = bucket, key

    def read(self) -> bytes:
        return self.bucket.read(self.key)

    def write(self, data: bytes) -> None:
        self.bucket.write(self.key, data)


def test_put_get_exists_by_content_address(backend) -> None:
    store, where = backend
    key = store.put(PNG, "image/png")
    assert key == hashlib.sha256(PNG).hexdigest() + ".png"
    assert store.get(key) == PNG
    assert where(key).read() == PNG  # at <2 hex>/<key>, in the folder or under the prefix
    assert store.exists(key)
    assert store.put(b"other", "application/x-unknown").endswith(".bin")
    missing = hashlib.sha256(b"nothing").hexdigest() + ".png"
    assert not store.exists(missing)
    with pytest.raises(FileNotFoundError):
        store.get(missing)


def test_a_second_put_of_the_same_bytes_writes_nothing(backend) -> None:
    store, where = backend
    key = store.put(PNG, "image/png")
    where(key).write(b"changed behind the store's back")
    assert store.put(PNG, "image/png") == key  # found, not written again
    assert where(key).read() == b"changed behind the store's back"


async def test_async_calls_match_the_sync_ones(backend) -> None:
    store, where = backend
    keys = await store.put_many([(PNG, "image/png"), (BIG, "image/webp"), (PNG, "image/png")])
    assert keys[0] == keys[2] == store.put(PNG, "image/png")
    assert keys[1].endswith(".webp")
    assert await store.get_async(keys[1]) == BIG == where(keys[1]).read()
    assert await store.exists_async(keys[0])
    missing = hashlib.sha256(b"nothing").hexdigest() + ".png"
    assert not await store.exists_async(missing)
    with pytest.raises(FileNotFoundError):
        await store.get_async(missing)
    where(keys[0]).write(b"changed")
    assert await store.put_many([(PNG, "image/png")]) == [keys[0]]
    assert where(keys[0]).read() == b"changed"


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b.png", ".hidden", "", "x\\y"])
def test_keys_cannot_leave_the_store(backend, key: str) -> None:
    store, _ = backend
    with pytest.raises(ValueError, match="bad result key"):
        store.get(key)


def test_an_unreachable_bucket_is_a_storage_error_without_secrets(s3_bucket: S3Bucket) -> None:
    store = S3BlobStore(f"s3://no-such-bucket-here/{s3_bucket.prefix}",
                        endpoint=s3_bucket.endpoint, access_key_id="k",
                        secret_access_key=SECRET_KEY)
    with pytest.raises(StorageError, match="results_url s3://no-such-bucket-here/studio") as err:
        store.put(PNG, "image/png")
    assert SECRET_KEY not in str(err.value)


def test_settings_choose_the_store(make_settings: Callable[..., Settings],
                                   s3_bucket: S3Bucket) -> None:
    local = open_blob_store(make_settings())
    assert isinstance(local, LocalResultStore)
    s3 = open_blob_store(make_settings(env=s3_bucket.env, **s3_bucket.overrides))
    assert isinstance(s3, S3BlobStore)
    assert s3.location == s3_bucket.url
    assert s3.get(s3.put(PNG, "image/png")) == PNG  # the credentials came from the env


def test_aws_credentials_are_secrets_kept_out_of_logs(
        make_settings: Callable[..., Settings], s3_bucket: S3Bucket) -> None:
    settings = make_settings(env=s3_bucket.env, **s3_bucket.overrides)
    assert SECRET_KEY in settings.secrets.revealed()
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    setup_logging(settings, stream=stream)
    try:
        logging.getLogger("tests.blobs").warning("connecting with %s", SECRET_KEY)
    finally:
        root.handlers = [h for h in root.handlers if not getattr(h, "_luneo", False)]
        root.setLevel(level)
    assert "connecting with" in stream.getvalue()
    assert SECRET_KEY not in stream.getvalue()


def crop(image: bytes | None = None, **kw: Any) -> JobRequest:
    return JobRequest("g", "m", "crop", {"ratio": "1:1"}, image=image, channel_id="c", **kw)


async def test_engine_keeps_inputs_and_results_in_the_bucket(
        engine_factory, make_settings, s3_bucket: S3Bucket, photo_png: bytes,
        tmp_path: Path) -> None:
    settings = make_settings(env=s3_bucket.env, **s3_bucket.overrides)
    engine = await engine_factory({"local": ScriptedLocal()}, settings=settings)
    result = await engine.run(crop(photo_png))
    assert result.ok
    rec = await engine.get_job(result.job_id)
    stored = {k.rsplit("/", 1)[1] for k in s3_bucket.object_keys()}
    assert rec.input_key in stored  # a worker elsewhere finds the upload by the row's key
    assert set(result.file_keys) <= stored
    assert result.files == []  # no local path to assume: read by key
    assert (await engine.store.get_async(result.file_keys[0]))[:4] == b"\x89PNG"
    assert not (tmp_path / "results").exists()
    # the follow-on path: a button submits the stored result by its key
    again = await engine.run(JobRequest("g", "m", "palette", {}, channel_id="c",
                                        input_key=result.file_keys[0]))
    assert again.ok
    assert (await engine.get_job(again.job_id)).input_key == result.file_keys[0]


async def test_a_job_resumes_from_its_row_and_the_bucket(
        engine_factory, make_settings, s3_bucket: S3Bucket, photo_png: bytes) -> None:
    """What a worker in another process does: nothing in memory, the input read from
    the bucket by the row's `input_key`."""
    settings = make_settings(env=s3_bucket.env, jobs__recover="resume", **s3_bucket.overrides)
    gate = threading.Event()
    first = await engine_factory({"local": ScriptedLocal(gate=gate)}, settings=settings)
    handle = await first.submit(crop(photo_png))
    await asyncio.sleep(0.05)
    await first.close(grace_s=0)
    gate.set()
    local = ScriptedLocal()
    second = await engine_factory({"local": local}, settings=settings)
    result = await second.wait(handle.job_id)
    assert result.ok
    assert local.calls == 1
    assert result.file_keys[0] in {k.rsplit("/", 1)[1] for k in s3_bucket.object_keys()}


async def test_a_result_that_cannot_be_stored_fails_and_refunds(
        engine_factory, make_settings, s3_bucket: S3Bucket, photo_png: bytes) -> None:
    settings = make_settings(env=s3_bucket.env, **s3_bucket.overrides)
    engine = await engine_factory({"local": ScriptedLocal()}, settings=settings)
    real_put, calls = engine.store.put_many, []

    async def put_many(files: list[tuple[bytes, str]]) -> list[str]:
        calls.append(files)
        if len(calls) == 1:
            return await real_put(files)  # the input goes in, then the bucket goes away
        raise StorageError("results_url s3://x: put failed (unreachable)")

    engine.store.put_many = put_many
    result = await engine.run(crop(photo_png))
    assert result.status == "failed"
    assert isinstance(result.error, StorageError)
    assert result.balance == 10  # refunded


async def test_a_worker_elsewhere_needs_only_the_row_and_the_bucket(
        make_settings, pg_database: str, s3_bucket: S3Bucket, photo_png: bytes,
        tmp_path: Path) -> None:
    """A gateway and a worker over the Postgres queue, each with its own (unused) local
    folder: the upload reaches the worker through the bucket, the result comes back
    through it, and a follow-on job reads that result by key on the worker."""
    from core.engine import Engine
    from core.worker import Worker
    from tests.queue_stack import FAST_QUEUE

    def settings_for(folder: str) -> Settings:
        return make_settings(env=s3_bucket.env, **s3_bucket.overrides, **{
            "storage.database": pg_database, "storage.results_dir": str(tmp_path / folder),
            "queue.backend": "procrastinate", **{f"queue.{k}": v for k, v in FAST_QUEUE.items()}})

    gateway = await Engine.create(settings_for("gateway"))
    await gateway.start()
    provider = ScriptedLocal()
    weng = await Engine.create(settings_for("worker"), providers={"local": provider})
    stop = asyncio.Event()
    serving = asyncio.create_task(Worker(weng).serve(stop, grace_s=1))
    try:
        first = await asyncio.wait_for(gateway.run(crop(photo_png)), 60)
        assert first.ok
        assert first.files == []
        stored = {k.rsplit("/", 1)[1] for k in s3_bucket.object_keys()}
        assert set(first.file_keys) <= stored
        assert (await gateway.get_job(first.job_id)).input_key in stored
        data = await gateway.store.get_async(first.file_keys[0])
        again = await asyncio.wait_for(gateway.run(JobRequest(
            "g", "m", "palette", {}, channel_id="c", input_key=first.file_keys[0])), 60)
        assert again.ok
        assert provider.calls == 2
        assert data[:4] == b"\x89PNG"
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)
        await weng.close(grace_s=0)
        await gateway.close(grace_s=0)
    assert not (tmp_path / "gateway").exists()
    assert not (tmp_path / "worker").exists()


def test_studio_run_writes_outputs_read_from_the_bucket(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: S3Bucket,
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from core.cli import main
    from core.demo import write_samples

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LUNEO_CONFIG", raising=False)
    for name, value in s3_bucket.env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "config.toml").write_text(
        f"[storage]\ndatabase = 'studio.db'\nresults_url = '{s3_bucket.url}'\n"
        f"results_endpoint = '{s3_bucket.endpoint}'\n")
    write_samples(tmp_path / "in")
    assert main(["run", "palette", "in/coffee.jpg", "--colors", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    written = Path(out["outputs"][0]).read_bytes()
    assert hashlib.sha256(written).hexdigest() + ".png" in {
        k.rsplit("/", 1)[1] for k in s3_bucket.object_keys()}
    assert not (tmp_path / "data" / "results").exists()
