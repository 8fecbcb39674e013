"""Stats per tool and provider, derived from SQLite (so `studio stats` in another
process sees the bot's figures) plus live circuit-breaker state."""

from __future__ import annotations

from typing import Any

from core.breaker import Breakers
from core.metrics import Metrics
from core.storage.db import Database


async def collect_stats(
    db: Database, breakers: Breakers | None = None,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    """Everything `studio stats` and /stats show, from the database (and live breakers/metrics when
    given)."""
    tools = [dict(r) for r in await db.fetchall(
        "SELECT tool, COALESCE(provider, '-') AS provider, COUNT(*) AS runs, "
        "SUM(state = 'succeeded') AS successes, SUM(state = 'failed') AS failures, "
        "SUM(state = 'canceled') AS canceled, "
        "CAST(AVG(CASE WHEN state = 'succeeded' THEN (finished_at - created_at) * 1000 END) "
        "AS INTEGER) AS avg_latency_ms, "
        "SUM(CASE WHEN state = 'succeeded' THEN cost ELSE 0 END) AS credits "
        "FROM jobs GROUP BY tool, provider ORDER BY tool, provider")]
    failures = [dict(r) for r in await db.fetchall(
        "SELECT tool, error_type, COUNT(*) AS n FROM jobs WHERE state = 'failed' "
        "GROUP BY tool, error_type ORDER BY tool, n DESC")]
    providers = [dict(r) for r in await db.fetchall(
        "SELECT provider, COUNT(*) AS attempts, SUM(outcome = 'ok') AS ok, "
        "SUM(outcome = 'transient') AS transient, SUM(outcome = 'permanent') AS permanent, "
        "SUM(outcome = 'timeout') AS timeouts, SUM(outcome = 'rejected') AS rejected, "
        "CAST(AVG(latency_ms) AS INTEGER) AS avg_latency_ms, "
        "ROUND(SUM(cost_usd), 4) AS cost_usd, SUM(upstream_credits) AS upstream_credits "
        "FROM provider_attempts GROUP BY provider ORDER BY provider")]
    circuits = {str(r[0]): {"circuit": r[1], "failures": r[2], "last_error": r[3]}
                for r in await db.fetchall(
                    "SELECT provider, circuit, failures, last_error FROM provider_state")}
    for name, br in (breakers.items() if breakers else []):
        circuits[name] = {"circuit": br.state, "failures": br.failures, "last_error": br.last_error}
    circuits.update(_per_provider(circuits))
    ledger = dict(await db.fetchone(
        "SELECT COALESCE(SUM(CASE WHEN kind IN ('hold') THEN -delta ELSE 0 END), 0) AS held, "
        "COALESCE(SUM(CASE WHEN kind = 'refund' THEN delta ELSE 0 END), 0) AS refunded, "
        "COALESCE(SUM(CASE WHEN kind IN ('grant', 'daily', 'start', 'topup') THEN delta ELSE 0 END),"
        " 0) AS issued FROM ledger") or {})
    return {"tools": tools, "failures": failures, "providers": providers, "circuits": circuits,
            "ledger": ledger, "live": metrics.snapshot() if metrics else []}


def _per_provider(circuits: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Summarise per-(provider, tool) breakers, keyed ``provider/tool``, into one line
    per provider: "closed", or e.g. "open for design, half-open for upscale"."""
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, c in circuits.items():
        if "/" in key:
            provider, tool = key.split("/", 1)
            grouped.setdefault(provider, []).append((tool, c))
    out = {}
    for provider, items in grouped.items():
        bad = [(t, c) for t, c in sorted(items) if c["circuit"] != "closed"]
        state = ", ".join(f"{c['circuit']} for {t}" for t, c in bad) or "closed"
        last = next((c["last_error"] for _t, c in bad if c.get("last_error")), None)
        out[provider] = {"circuit": state, "failures": sum(c["failures"] or 0 for _t, c in bad),
                         "last_error": last}
    return out
