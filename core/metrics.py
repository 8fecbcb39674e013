"""In-process metrics per tool and provider, with Prometheus text exposition.

The same figures are derived from SQLite for `studio stats` (another process);
these counters serve the optional Prometheus endpoint and `/stats` between
restarts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class _Series:
    runs: int = 0
    successes: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_ms_sum: float = 0.0
    credits: int = 0
    cost_usd: float = 0.0


class Metrics:
    """In-memory counters per (tool, provider) since start: runs, failures, latency, credits, cost."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = defaultdict(_Series)

    def record(
        self, tool: str, provider: str, *, ok: bool, latency_ms: float, credits: int = 0,
        failure: str | None = None, cost_usd: float = 0.0,
    ) -> None:
        """Count one finished job: `latency_ms` in ms, `credits` charged, `cost_usd` upstream,
        `failure` its error type."""
        s = self._series[(tool, provider)]
        s.runs += 1
        s.latency_ms_sum += latency_ms
        s.credits += credits
        s.cost_usd += cost_usd
        if ok:
            s.successes += 1
        else:
            s.failures[failure or "error"] += 1

    def snapshot(self) -> list[dict[str, object]]:
        """The counters as one dict per (tool, provider), sorted; latency as an average in ms."""
        return [
            {
                "tool": tool, "provider": provider, "runs": s.runs, "successes": s.successes,
                "failures": dict(s.failures),
                "avg_latency_ms": round(s.latency_ms_sum / s.runs) if s.runs else 0,
                "credits": s.credits, "cost_usd": round(s.cost_usd, 4),
            }
            for (tool, provider), s in sorted(self._series.items())
        ]

    def prometheus(self) -> str:
        """The counters in the Prometheus text exposition format."""
        lines = [
            "# TYPE luneo_runs_total counter", "# TYPE luneo_failures_total counter",
            "# TYPE luneo_latency_ms_sum counter", "# TYPE luneo_credits_total counter",
            "# TYPE luneo_provider_cost_usd_total counter",
        ]
        for (tool, provider), s in sorted(self._series.items()):
            lab = f'tool="{tool}",provider="{provider}"'
            lines.append(f"luneo_runs_total{{{lab}}} {s.runs}")
            for kind, n in sorted(s.failures.items()):
                lines.append(f'luneo_failures_total{{{lab},type="{kind}"}} {n}')
            lines.append(f"luneo_latency_ms_sum{{{lab}}} {s.latency_ms_sum:.0f}")
            lines.append(f"luneo_credits_total{{{lab}}} {s.credits}")
            lines.append(f"luneo_provider_cost_usd_total{{{lab}}} {s.cost_usd:.6f}")
        return "\n".join(lines) + "\n"
