"""Fixtures: the three fake provider APIs on 127.0.0.1 (random ports).

Replicate outputs are served over HTTPS with a trustme CA; `SSL_CERT_FILE`
makes httpx (the SDK's client and the adapter's download client) trust it.
Every fake fails the test at teardown if it saw a request it does not know.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from tests.providers.fake_openai import FakeOpenAI
from tests.providers.fake_removebg import FakeRemoveBg
from tests.providers.fake_replicate import FakeReplicate
from tests.providers.support import (
    OPENAI_KEY,
    REMOVEBG_KEY,
    REPLICATE_TOKEN,
    pinned_versions,
    server_tls,
)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trust_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pem = tmp_path / "fake-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    return pem


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI(OPENAI_KEY)
    await server.start()
    yield server
    await server.stop()
    assert not server.unexpected, f"fake OpenAI got unknown requests: {server.unexpected}"


@pytest.fixture
async def replicate_server(ca: trustme.CA, trust_ca: Path) -> AsyncIterator[FakeReplicate]:
    server = FakeReplicate(REPLICATE_TOKEN, pinned_versions())
    await server.start(tls=server_tls(ca))
    yield server
    await server.stop()
    assert not server.unexpected, f"fake Replicate got unknown requests: {server.unexpected}"


@pytest.fixture
async def removebg_server() -> AsyncIterator[FakeRemoveBg]:
    server = FakeRemoveBg(REMOVEBG_KEY)
    await server.start()
    yield server
    await server.stop()
    assert not server.unexpected, f"fake remove.bg got unknown requests: {server.unexpected}"


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture DEBUG lines too, so the no-secrets checks see everything adapters log."""
    caplog.set_level(logging.DEBUG)
