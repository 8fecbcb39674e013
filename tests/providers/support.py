"""Shared helpers for the provider tests and the fault benchmark: the test
secrets, settings that point the real adapters at the fake APIs, provider
requests, secret-leak assertions, and a trusted TLS setup for the fake CDN.
"""

from __future__ import annotations

import os
import ssl
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trustme
from PIL import Image

from core.config import ReplicateSettings, Settings, load_settings
from core.providers.base import ProviderRequest
from core.tools.base import parse_params
from tests.providers.fake_openai import FakeOpenAI
from tests.providers.fake_removebg import FakeRemoveBg
from tests.providers.fake_replicate import FakeReplicate

OPENAI_KEY = "sk-test-OPENAI-SECRET-7f3a9c1e5b"
REPLICATE_TOKEN = "r8_TEST-REPLICATE-SECRET-4d2b8e6f0a"
REMOVEBG_KEY = "rbg-TEST-REMOVEBG-SECRET-9c7e5a3b1d"
SECRETS = (OPENAI_KEY, REPLICATE_TOKEN, REMOVEBG_KEY)


def pinned_versions() -> dict[str, str]:
    """The version ids pinned in the default config -> what the fake model does."""
    defaults = ReplicateSettings()
    return {
        defaults.remove_bg_model.partition(":")[2]: "remove-bg",
        defaults.upscale_model.partition(":")[2]: "upscale",
    }


def provider_settings(
    tmp_path: Path,
    *,
    openai: FakeOpenAI | None = None,
    replicate: FakeReplicate | None = None,
    removebg: FakeRemoveBg | None = None,
    overrides: dict[str, Any] | None = None,
    keys: dict[str, str] | None = None,
) -> Settings:
    """Settings isolated in tmp_path, with short timeouts, pointing at the given fakes."""
    cfg = tmp_path / "config.toml"
    if not cfg.exists():
        cfg.write_text("", encoding="utf-8")
    env: dict[str, str] = {}
    ov: dict[str, Any] = {
        "storage.database": str(tmp_path / "studio.db"),
        "storage.results_dir": str(tmp_path / "results"),
        "providers.openai.timeout_s": 2.0,
        "providers.replicate.timeout_s": 5.0,
        "providers.replicate.poll_interval_s": 0.05,
        "providers.removebg.timeout_s": 2.0,
    }
    if openai is not None:
        env["OPENAI_API_KEY"] = OPENAI_KEY
        ov["providers.openai.base_url"] = openai.url
    if replicate is not None:
        env["REPLICATE_API_TOKEN"] = REPLICATE_TOKEN
        ov["providers.replicate.base_url"] = replicate.base_url
    if removebg is not None:
        env["REMOVEBG_API_KEY"] = REMOVEBG_KEY
        ov["providers.removebg.base_url"] = removebg.base_url
    ov.update(overrides or {})
    env.update(keys or {})
    return load_settings(cfg, overrides=ov, env=env)


def make_request(
    tool: str,
    params: dict[str, Any] | None = None,
    *,
    image: Image.Image | None = None,
    deadline_s: float = 10.0,
    key: str = "idem-test-0001",
) -> ProviderRequest:
    progress: list[tuple[float, str]] = []
    req = ProviderRequest(
        job_id="job-test",
        tool=tool,
        params=parse_params(tool, params or {}),
        image=image,
        image_bytes=None,
        idempotency_key=key,
        deadline=time.monotonic() + deadline_s,
        progress=lambda f, m: progress.append((f, m)),
    )
    return req


def assert_no_secrets(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"a secret leaked into: {str(text)[:200]!r}"
            assert secret not in repr(text), f"a secret leaked into: {repr(text)[:200]!r}"


def assert_logs_clean(caplog: Any) -> None:
    """No key/token in any captured line (message, args or traceback)."""
    for record in caplog.records:
        line = record.getMessage()
        if record.exc_info:
            line += "".join(traceback.format_exception(*record.exc_info))
        assert_no_secrets(line)


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """The fake CDN's TLS context: a certificate for localhost/127.0.0.1 issued by `ca`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@contextmanager
def trusting(ca: trustme.CA, folder: Path) -> Iterator[Path]:
    """Make httpx trust `ca` (SSL_CERT_FILE) for the duration; restores the environment."""
    pem = folder / "fake-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(pem)
    try:
        yield pem
    finally:
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old
