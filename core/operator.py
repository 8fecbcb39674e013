"""The operator's own wallet on the command line.

`studio run` and `studio demo` act for the person running the studio, not a
member: their wallet is topped up (by `[credits] operator_topup`) before a job
whose price it cannot pay, so the command line never stops for credits, and the
ledger still records every credit (kind "topup").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.jobs import JobRequest, JobResult

if TYPE_CHECKING:
    from core.engine import Engine


async def top_up(engine: Engine, req: JobRequest) -> None:
    """Grant the operator `max(operator_topup, price)` when the balance is below the
    job's price. Raises InvalidInput for an unknown tool or bad params."""
    topup = engine.settings.credits.operator_topup
    cost = engine.price(req.tool, req.params, req.guild_id)
    if topup <= 0 or cost <= 0:
        return
    wallet = await engine.credits.wallet(req.guild_id, req.member_id)
    if wallet.balance < cost:
        await engine.credits.grant(req.guild_id, req.member_id, max(topup, cost), "cli",
                                   "automatic operator top-up", kind="topup")


async def run_as_operator(engine: Engine, req: JobRequest) -> JobResult:
    """Top up if needed, then run the job to its end."""
    await top_up(engine, req)
    return await engine.run(req)
