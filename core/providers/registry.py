"""Build the provider registry from settings: local always, remote ones only with a key."""

from __future__ import annotations

import importlib
import logging

from core.config import Settings
from core.providers.base import Provider
from core.providers.local import LocalStudioProvider

log = logging.getLogger(__name__)

REMOTE = {  # name -> (module, class, the environment variable with its key)
    "openai": ("core.providers.openai", "OpenAIProvider", "OPENAI_API_KEY"),
    "replicate": ("core.providers.replicate", "ReplicateProvider", "REPLICATE_API_TOKEN"),
    "removebg": ("core.providers.removebg", "RemoveBgProvider", "REMOVEBG_API_KEY"),
}


def build_providers(settings: Settings) -> dict[str, Provider]:
    """The local provider, plus each remote provider whose key is set in the environment."""
    providers: dict[str, Provider] = {"local": LocalStudioProvider(settings)}
    for name, (module, cls, env) in REMOTE.items():
        if settings.secrets.by_env(env) is None:
            continue
        provider_cls = getattr(importlib.import_module(module), cls)
        providers[name] = provider_cls(settings)
        log.info("provider %s enabled", name)
    return providers


def provider_status(settings: Settings) -> list[dict[str, str]]:
    """Which providers are configured (never prints secrets)."""
    rows = [{"provider": "local", "configured": "yes (built in)"}]
    for name, (_m, _c, env) in REMOTE.items():
        configured = settings.secrets.by_env(env) is not None
        rows.append({"provider": name,
                     "configured": "yes" if configured else f"no (set {env} to enable)"})
    return rows
