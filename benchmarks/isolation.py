"""One member must not hurt the others (issue 14): a victim's /crop latency while
attackers flood the bot with canceled heavy jobs, breaker-tripping prompts and the
worst-case inputs, against the same victim on an idle bot, in one run.

The real bot (`start_bot`) talks to the fake Discord of the test suite over real
sockets (the fake on its own thread and loop), with the real local provider in
its worker processes. Phases:

1. idle: the victim runs /crop once a second, nothing else happens;
2. attack: the same, while three attacker members each loop: /upscale ×2 of a
   2600×2600 image then click Cancel as soon as it runs; five /design prompts of
   zero-width characters; and once each the worst-case uploads of the issue
   (a flat 6240×6240 PNG to /remove-bg, a 1×30000 PNG to /upscale ×4, a
   4096×4096 PNG to /upscale ×2, canceled after 3 s).

Victim latency is slash command sent -> result message received. Peak RSS is the
bot process plus every child (worker processes, forkserver), sampled every 0.1 s.

    .venv/bin/python -m benchmarks.isolation [--victim-runs 20] [--budget-mb 3072]

Writes benchmarks/results/isolation.md. Not asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.bot_load import (
    FakeThread,
    bench_settings,
    ledger_check,
    pct,
    photo,
    run_and_report,
)
from bot import start_bot
from tests.bot.fake_discord import FakeDiscord, FakeInteraction
from tests.core.burn import tree_rss_mb

OUT = Path(__file__).parent / "results" / "isolation.md"


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def smooth(side: int, seed: int) -> bytes:
    """A photo-like but well-compressing image: gradients plus low noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = np.stack([x * 255, y * 255, (1 - x) * 200], axis=-1)
    base += rng.normal(0, 2, (side, side, 3))
    return png(base.clip(0, 255).astype(np.uint8))


async def sample_rss(peak: list[float], stop: asyncio.Event) -> None:
    me = os.getpid()
    while not stop.is_set():
        peak[0] = max(peak[0], await asyncio.to_thread(tree_rss_mb, me))
        await asyncio.sleep(0.1)


def has_result(fake: FakeDiscord, ix: FakeInteraction) -> bool:
    return any(m.attachments and not m.ephemeral for m in fake.messages_of(ix))


def story(fake: FakeDiscord, ix: FakeInteraction) -> str:
    """A one-word outcome of an attacker's command, for the report."""
    msgs = fake.messages_of(ix)
    text = " ".join(m.text for m in msgs).lower()
    if any(m.attachments and not m.ephemeral for m in msgs):
        return "result"
    if "canceled" in text:
        return "canceled"
    if msgs and msgs[0].ephemeral and not msgs[0].loading and not msgs[0].content.startswith("✅"):
        return f"refused ({msgs[0].content[:70]})"
    if "not charged" in text or "refunded" in text or "went wrong" in text:
        return "failed (refunded)"
    return "pending"


async def victim_loop(ft: FakeThread, member: Any, channel: Any, runs: int,
                      images: list[bytes]) -> list[float]:
    """The victim's /crop once a second, each on a new photo (no cache hits)."""
    fake = ft.fake
    latencies: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        image = images.pop()
        ix = await ft.run(fake.slash("crop", {"image": fake.upload(f"v{i}.png", image),
                                              "ratio": "1:1"}, member=member, channel=channel))
        try:
            await ft.run(fake.wait_for(lambda: has_result(fake, ix), within=300))
        except TimeoutError:
            print("victim crop got no result:", [m.text[:80] for m in fake.messages_of(ix)])
            latencies.append(float("inf"))
            return
        latencies.append(time.perf_counter() - t0)

    tasks = []
    for i in range(runs):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(1.0)
    await asyncio.gather(*tasks)
    return latencies


def worst_inputs() -> list[tuple[str, dict[str, Any], bytes, float | None]]:
    """The issue's worst cases: (tool, options, upload, cancel after s or None)."""
    return [
        ("remove-bg", {}, png(np.full((6240, 6240, 3), 200, np.uint8)), None),
        ("upscale", {"scale": 4}, png(np.full((30000, 1, 3), 90, np.uint8)), None),
        ("upscale", {"scale": 2}, smooth(4096, 9), 3.0),
    ]


async def attacker_loop(ft: FakeThread, member: Any, channel: Any, stop: asyncio.Event,
                        big: bytes, worst: list[Any], log: Counter[str], index: int) -> None:
    fake = ft.fake

    async def status_message(ix: FakeInteraction) -> Any:
        def find() -> Any:
            for m in fake.messages_of(ix):
                if any(c.startswith("luneo:cancel:") for c in m.custom_ids):
                    return m
            return story(fake, ix) != "pending" or None
        return await ft.run(fake.wait_for(find, within=120))

    async def cancel_soon(ix: FakeInteraction, after: float) -> None:
        msg = await status_message(ix)
        if msg is True:
            log[f"heavy job: {story(fake, ix)} before cancel"] += 1
            return
        await asyncio.sleep(after)
        cid = next(c for c in msg.custom_ids if c.startswith("luneo:cancel:"))
        click = await ft.run(fake.click(msg, cid, member=member))
        reply = await ft.run(fake.reply_to(click))
        log[f"cancel click: {reply.content[:48]}"] += 1

    if index < len(worst):
        tool, options, data, cancel_after = worst[index]
        ix = await ft.run(fake.slash(tool, {"image": fake.upload("worst.png", data), **options},
                                     member=member, channel=channel))
        if cancel_after is not None:
            await cancel_soon(ix, cancel_after)
        await ft.run(fake.wait_for(lambda: story(fake, ix) != "pending", within=900))
        log[f"worst case {tool} {options}: {story(fake, ix)}"] += 1
    while not stop.is_set():
        ix = await ft.run(fake.slash("upscale", {"image": fake.upload("big.png", big),
                                                 "scale": 2}, member=member, channel=channel))
        await cancel_soon(ix, 0.5)
        for _ in range(5):
            z = await ft.run(fake.slash("design", {"prompt": "\u200b\u200c\u200d\u2060\ufeff"},
                                        member=member, channel=channel))
            await ft.run(fake.wait_for(lambda z=z: story(fake, z) != "pending", within=30))
            log[f"zero-width design: {story(fake, z)}"] += 1
        await asyncio.sleep(0.5)


async def bench(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    ft = FakeThread()
    fake = ft.fake
    guild = fake.add_guild("Isolation")
    channel = fake.add_channel(guild, "studio")
    victim = fake.add_member(guild, "victim")
    attackers = [fake.add_member(guild, f"attacker{i}") for i in range(args.attackers)]
    settings = bench_settings(
        fake, guild.id, folder,
        "[credits]\nstarting = 1000\n"
        # the victim sends 60 a minute; attackers are held by the running/queued limits
        "[limits]\nper_member_per_minute = 100\nper_server_per_minute = 1000\n")
    args.budget_mb = args.budget_mb or settings.limits.memory_budget_mb
    images = await asyncio.to_thread(lambda: [photo(100 + i) for i in range(2 * args.victim_runs + 3)])
    big = await asyncio.to_thread(smooth, 2600, 3)  # encoded off the loop the bot shares
    worst = await asyncio.to_thread(worst_inputs)
    print("inputs:", {f"{t} {o}": f"{len(d) / 1e6:.2f} MB" for t, o, d, _c in worst},
          f"big: {len(big) / 1e6:.2f} MB")
    bot = await start_bot(settings, engine=None, guild_ready_timeout=0.1)
    peak = [0.0]
    stop_rss = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(peak, stop_rss))

    await victim_loop(ft, victim, channel, 3, images)  # warm the workers' models
    idle = await victim_loop(ft, victim, channel, args.victim_runs, images)
    idle_peak = peak[0]

    stop = asyncio.Event()
    log: Counter[str] = Counter()
    flood = [asyncio.create_task(attacker_loop(ft, a, channel, stop, big, worst, log, i))
             for i, a in enumerate(attackers)]
    await asyncio.sleep(2.0)  # the flood is under way before the victim starts
    attacked = await victim_loop(ft, victim, channel, args.victim_runs, images)
    stop.set()
    results = await asyncio.gather(*flood, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    stop_rss.set()
    await sampler
    await bot.close()
    wallets, mismatched, open_holds = ledger_check(settings.database_path)
    ft.stop()
    return {"idle": idle, "attacked": attacked, "idle_peak": idle_peak, "peak": peak[0],
            "log": dict(log), "errors": errors, "wallets": wallets, "mismatched": mismatched,
            "open_holds": open_holds}


def report(r: dict[str, Any], args: argparse.Namespace) -> str:
    idle95, att95 = pct(r["idle"], 0.95), pct(r["attacked"], 0.95)
    ratio = att95 / idle95
    verdict = "within" if ratio <= 2.0 else "**outside**"
    budget = "under" if r["peak"] <= args.budget_mb else "**over**"
    log = "\n".join(f"| {k} | {v} |" for k, v in sorted(r["log"].items()))
    return f"""# Isolation: a victim's /crop while {args.attackers} members attack

Command: `.venv/bin/python -m benchmarks.isolation --victim-runs {args.victim_runs} --attackers {args.attackers}`

The real bot against the fake Discord over real sockets, real local provider in worker
processes (default limits: 4 jobs running, 2 local workers, 2 running + 5 queued and
a rate limit raised to 100 per minute per member so the flood is not simply refused). The victim sends /crop (384×384 photo) once a second,
{args.victim_runs} times idle, then {args.victim_runs} times during the attack; latency is
command sent → result message received. Both phases in this one run.

| victim /crop latency | idle | under attack |
|---|---|---|
| p50 | {pct(r["idle"], 0.5):.2f} s | {pct(r["attacked"], 0.5):.2f} s |
| p95 | **{idle95:.2f} s** | **{att95:.2f} s** |
| max | {max(r["idle"]):.2f} s | {max(r["attacked"]):.2f} s |

p95 under attack / idle: **{ratio:.2f}×** ({verdict} the 2× target).

| memory (bot process + worker processes) | value |
|---|---|
| peak RSS, idle phase | {r["idle_peak"]:.0f} MB |
| peak RSS, whole run (worst-case inputs included) | **{r["peak"]:.0f} MB** ({budget} the {args.budget_mb} MB budget) |

What the attackers got:

| attacker action: outcome | count |
|---|---|
{log}

Ledger: {r["mismatched"]} of {r["wallets"]} wallets whose balance ≠ sum of ledger deltas;
{r["open_holds"]} holds left open. Attacker task errors: {r["errors"] or "none"}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--victim-runs", type=int, default=20)
    parser.add_argument("--attackers", type=int, default=3)
    parser.add_argument("--budget-mb", type=int, default=None,
                        help="peak RSS budget (default: [limits] memory_budget_mb)")
    parser.add_argument("--out", type=Path, default=OUT)
    run_and_report(parser.parse_args(), bench, report)


if __name__ == "__main__":
    main()
