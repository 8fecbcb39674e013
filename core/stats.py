"""Stats per tool and provider, derived from the database (so `studio stats` in another
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
        "SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END) AS successes, "
        "SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failures, "
        "SUM(CASE WHEN state = 'canceled' THEN 1 ELSE 0 END) AS canceled, "
        "CAST(AVG(CASE WHEN state = 'succeeded' THEN (finished_at - created_at) * 1000 END) "
        "AS INTEGER) AS avg_latency_ms, "
        "SUM(CASE WHEN state = 'succeeded' THEN cost ELSE 0 END) AS credits "
        "FROM jobs GROUP BY tool, provider ORDER BY tool, provider")]
    failures = [dict(r) for r in await db.fetchall(
        "SELECT tool, error_type, COUNT(*) AS n FROM jobs WHERE state = 'failed' "
        "GROUP BY tool, error_type ORDER BY tool, n DESC")]
    providers = [dict(r) for r in await db.fetchall(
        "SELECT provider, COUNT(*) AS attempts, SUM(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END) AS ok, "
        "SUM(CASE WHEN outcome = 'transient' THEN 1 ELSE 0 END) AS transient, "
        "SUM(CASE WHEN outcome = 'permanent' THEN 1 ELSE 0 END) AS permanent, "
        "SUM(CASE WHEN outcome = 'timeout' THEN 1 ELSE 0 END) AS timeouts, "
        "SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END) AS rejected, "
        "CAST(AVG(latency_ms) AS INTEGER) AS avg_latency_ms, "
        "ROUND(CAST(SUM(cost_usd) AS NUMERIC), 4) AS cost_usd, SUM(upstream_credits) AS upstream_credits "
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
    ledger.update(dict(await db.fetchone(  # what running jobs hold now; what finished ones cost
        "SELECT COALESCE(SUM(CASE WHEN state = 'held' THEN amount END), 0) AS held_now, "
        "COALESCE(SUM(CASE WHEN state = 'settled' THEN amount END), 0) AS spent FROM holds")
        or {}))
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


CHART_DAYS = 14
# Runs and credits per UTC day (YYYY-MM-DD) and tool; the day of an epoch-seconds
# column is written per backend.
_RUNS_BY_DAY = {
    dialect: f"SELECT {day} AS day, tool, COUNT(*) AS runs, "  # noqa: S608 - constants only
             "SUM(CASE WHEN state = 'succeeded' THEN cost ELSE 0 END) AS credits "
             "FROM jobs WHERE created_at >= ? GROUP BY day, tool"
    for dialect, day in (
        ("sqlite", "date(created_at, 'unixepoch')"),
        ("postgres", "to_char(to_timestamp(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    )
}


async def daily_figures(db: Database, days: int = CHART_DAYS,
                        now: float | None = None) -> dict[str, Any]:
    """What the /stats chart draws, for the last `days` UTC days up to `now`.

    Returns `{"days": ["YYYY-MM-DD", ...], "runs": {tool: [n per day]}, "credits":
    {tool: [credits per day]}, "failures": {provider: {outcome: n}}}`: runs of every
    job by the day it was asked for, credits of the jobs that succeeded, and the
    provider attempts that did not succeed in those days (transient, permanent,
    timeout, rejected).
    """
    import time
    from datetime import UTC, datetime, timedelta

    today = datetime.fromtimestamp(time.time() if now is None else now, UTC).date()
    first = today - timedelta(days=days - 1)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    since = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    index = {day: i for i, day in enumerate(labels)}
    runs: dict[str, list[int]] = {}
    spent: dict[str, list[int]] = {}
    for r in await db.fetchall(_RUNS_BY_DAY[db.dialect], (since,)):
        if r["day"] in index:
            runs.setdefault(r["tool"], [0] * days)[index[r["day"]]] = int(r["runs"])
            spent.setdefault(r["tool"], [0] * days)[index[r["day"]]] = int(r["credits"] or 0)
    failures: dict[str, dict[str, int]] = {}
    for r in await db.fetchall(
            "SELECT provider, outcome, COUNT(*) AS n FROM provider_attempts "
            "WHERE outcome != 'ok' AND at >= ? GROUP BY provider, outcome", (since,)):
        failures.setdefault(str(r["provider"]), {})[str(r["outcome"])] = int(r["n"])
    return {"days": labels, "runs": runs, "credits": spent, "failures": failures}
