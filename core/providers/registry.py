"""Build the provider registry from settings: local always, remote ones only with a key."""

from __future__ import annotations

import importlib
import logging

from core.config import Settings
from core.providers.base import Provider
from core.providers.local import LocalStudioProvider

log = logging.getLogger(__name__)

REMOTE = {
    "openai": ("core.providers.openai", "OpenAIProvider", "openai_api_key"),
    "replicate": ("core.providers.replicate", "ReplicateProvider", "replicate_api_token"),
    "removebg": ("core.providers.removebg", "RemoveBgProvider", "removebg_api_key"),
}


def build_providers(settings: Settings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {"local": LocalStudioProvider(settings)}
    for name, (module, cls, secret) in REMOTE.items():
        if getattr(settings.secrets, secret) is None:
            continue
        provider_cls = getattr(importlib.import_module(module), cls)
        providers[name] = provider_cls(settings)
        log.info("provider %s enabled", name)
    return providers


def provider_status(settings: Settings) -> list[dict[str, str]]:
    """Which providers are configured (never prints secrets)."""
    rows = [{"provider": "local", "configured": "yes (built in)"}]
    for name, (_m, _c, secret) in REMOTE.items():
        env = secret.upper()
        configured = getattr(settings.secrets, secret) is not None
        rows.append({"provider": name,
                     "configured": "yes" if configured else f"no (set {env} to enable)"})
    return rows
