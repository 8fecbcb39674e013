"""A local S3 for tests: moto's `ThreadedMotoServer` on a free port of 127.0.0.1
(RESEARCH.md §E), one per test session, and an empty bucket per test.

    s3_server  -> the endpoint URL, e.g. http://127.0.0.1:PORT (session)
    s3_bucket  -> an S3Bucket: a fresh bucket, and the settings overrides/env that
                  point `[storage] results_url` at it (function)
"""

from __future__ import annotations

import itertools
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key-s3"
_names = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass
class S3Bucket:
    """A bucket on the local S3, and how to point the settings at it."""

    endpoint: str
    name: str
    prefix: str = "studio"

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}

    @property
    def overrides(self) -> dict[str, Any]:
        return {"storage__results_url": self.url, "storage__results_endpoint": self.endpoint}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def object_keys(self) -> list[str]:
        """Every object key in the bucket, sorted."""
        listed = self.client().list_objects_v2(Bucket=self.name)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=self.name, Key=key)["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.name, Key=key, Body=data)


@pytest.fixture
def s3_bucket(s3_server: str) -> S3Bucket:
    bucket = S3Bucket(s3_server, f"luneo-test-{next(_names)}")
    bucket.client().create_bucket(Bucket=bucket.name)
    return bucket
