"""Optional Prometheus endpoint: `GET /metrics` on `[metrics] prometheus_port`."""

from __future__ import annotations

import logging

from aiohttp import web

from core.metrics import Metrics

log = logging.getLogger(__name__)


async def start_metrics_server(metrics: Metrics, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    """Serve `metrics` in Prometheus format at http://host:port/metrics; returns the runner to clean
    up."""
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.prometheus(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("prometheus metrics on http://%s:%s/metrics", host, port)
    return runner
