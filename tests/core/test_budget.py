"""Local work budgets: estimates, refusals before any credit moves, the network by work,
and the machine-wide slot bound."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core import budget, slots
from core.config import Settings
from core.engine import JobRequest
from core.errors import Interrupted, InvalidInput
from core.providers.local import upscale
from core.tools.base import RemoveBgParams, UpscaleParams
from tests.conftest import png_bytes
from tests.core.scripted import ScriptedLocal, ScriptedRemote

X2, X4 = UpscaleParams(scale=2), UpscaleParams(scale=4)


def test_network_geometry_matches_the_upscale_tool() -> None:
    for name, cost in budget.NETWORK_COSTS.items():
        spec = upscale.NETWORKS[name]
        assert (cost.scale, cost.tile, cost.pad) == (spec.scale, spec.tile, spec.pad)


def test_network_work_counts_context_and_the_16px_minimum() -> None:
    x4plus = budget.NETWORK_COSTS["realesrgan-x4plus"]  # tile 128, pad 16
    assert budget.network_work(x4plus, 128, 128) == (1, 128 * 128)
    assert budget.network_work(x4plus, 256, 256) == (4, (144 + 144) ** 2)
    # a 1-px strip: every tile is padded to 16 px wide; 235 tiles of 16×(128+32)
    tiles, seen = budget.network_work(x4plus, 1, 30000)
    assert tiles == 235
    assert seen == 16 * (30000 + 2 * 16 * 234)


def test_remove_bg_works_on_a_downscaled_copy_of_a_huge_flat_png() -> None:
    s = Settings()
    b = budget.estimate("remove-bg", RemoveBgParams(), 6240, 6240, s)
    assert b.working_size == (2000, 2000)  # 4 MP at the default limits.remove_bg_work_mp
    assert b.work_pixels == 4_000_000
    assert b.output_pixels == 6240 * 6240
    assert b.notes == ("large image: the background was found on a 2000×2000 copy and the "
                       "cut-out mask scaled up to 6240×6240",)
    assert b.peak_bytes < s.limits.max_job_memory_mb * budget.MB
    small = budget.estimate("remove-bg", RemoveBgParams(), 1024, 768, s)
    assert small.working_size is None
    assert small.notes == ()


def test_working_size_keeps_the_aspect_ratio_under_the_cap() -> None:
    assert budget.working_size(1000, 1000, 10**6) == (1000, 1000)
    w, h = budget.working_size(6000, 3000, 2_000_000)
    assert w * h <= 2_000_000
    assert abs(w / h - 2.0) < 0.01
    assert w == 2000


def _with(s: Settings, **limits: Any) -> Settings:
    return s.model_copy(update={"limits": s.limits.model_copy(update=limits)})


def test_upscale_network_is_chosen_by_a_time_budget_not_by_pixel_count() -> None:
    s = Settings()
    # the cliff: 256² ×4 took x4plus (64 s) and 257² the compact network (3.8 s);
    # by the per-output-MP budget every size takes the same network
    for n in (16, 64, 150, 255, 256, 257, 1000):
        assert budget.choose_network(4, n, n, s) == ("realesr-animevideov3-x4", None), n
        assert budget.choose_network(2, n, n, s) == ("realesr-animevideov3-x2", None), n
    t256 = budget.estimate("upscale", X4, 256, 256, s).seconds
    t257 = budget.estimate("upscale", X4, 257, 257, s).seconds
    assert 0.8 <= t257 / t256 <= 1.25
    # a 1-px strip is mostly tile padding: still the compact network
    assert budget.choose_network(4, 1, 4000, s)[0] == "realesr-animevideov3-x4"
    # a budget that pays for x4plus (~14-20 s per output MP at ×4) takes it at every size
    rich = _with(s, upscale_s_per_out_mp=25.0)
    for n in (64, 256, 257, 600):
        assert budget.choose_network(4, n, n, rich)[0] == "realesrgan-x4plus", n
    # ... until it would blow the job's time limit: then the compact one
    assert budget.choose_network(4, 1500, 1500, rich)[0] == "realesr-animevideov3-x4"
    # a budget nothing fits still runs the cheapest network (the estimate may refuse)
    assert budget.choose_network(4, 256, 256, _with(s, upscale_s_per_out_mp=0.0))[0] == (
        "realesr-animevideov3-x4")
    # `best` takes x4plus while it fits the job's time limit, and says when it does not
    best = s.model_copy(update={"models": s.models.model_copy(update={"upscale_quality": "best"})})
    assert budget.choose_network(2, 512, 512, best) == ("realesrgan-x4plus", None)
    name, note = budget.choose_network(2, 2048, 2048, best)
    assert name == "realesr-animevideov3-x2"
    assert note is not None
    assert note.startswith("realesrgan-x4plus would take about ")
    # only what is installed
    only_x4 = frozenset({"realesr-animevideov3-x4"})
    assert budget.choose_network(2, 64, 64, s, networks=only_x4)[0] == "realesr-animevideov3-x4"
    assert budget.choose_network(2, 64, 64, s, networks=frozenset()) == (None, None)


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_estimate_grows_smoothly_with_the_output_size(scale: int) -> None:
    """No cliff anywhere: each one-pixel step up in side costs at most 25 % more, never
    less, and the estimated seconds per output megapixel stay within a factor 1.5."""
    s = Settings()
    params = UpscaleParams(scale=scale)
    sides = range(64, 1400 // scale, 3)
    secs = [budget.estimate("upscale", params, n, n, s).seconds for n in sides]
    for n, before, after in zip(sides, secs, secs[1:], strict=False):
        assert before <= after <= 1.25 * before, (n, before, after)
    per_mp = [t / ((n * scale) ** 2 / 1e6) for n, t in zip(sides, secs, strict=True)]
    assert max(per_mp) <= 1.5 * min(per_mp)


def test_upscale_preferred_networks_follow_the_cost_rule() -> None:
    s = Settings()
    assert upscale.preferred_networks(4, 64, 64, s)[0] == "realesr-animevideov3-x4"
    assert upscale.preferred_networks(4, 256, 256, s)[0] == "realesr-animevideov3-x4"
    assert upscale.preferred_networks(4, 257, 257, s)[0] == "realesr-animevideov3-x4"
    # the x2 network cannot make ×4: never offered for it
    assert "realesr-animevideov3-x2" not in upscale.preferred_networks(4, 256, 256, s)
    # x4plus for a 2048² ×4 would blow the deadline: not even a fallback
    assert upscale.preferred_networks(4, 2048, 2048, s) == ["realesr-animevideov3-x4"]


def test_a_1x30000_strip_x4_is_refused_with_what_would_work() -> None:
    with pytest.raises(InvalidInput) as info:
        budget.estimate("upscale", X4, 1, 30000, Settings())
    msg = str(info.value)
    assert info.value.field == "image"
    assert msg.startswith("Invalid `image`: an ×4 upscale of a 1×30000 image would be "
                          "4×120000; a result may be at most 16383 px on its longest side.")
    assert "send a smaller image (at most about 0×4095" not in msg
    assert "at most about 1×4095 for ×4" in msg


def test_an_upscale_that_cannot_finish_by_the_deadline_is_refused(make_settings: Any) -> None:
    s = make_settings(jobs__deadline_s=20)
    limit = budget.time_limit_s(s)
    with pytest.raises(InvalidInput) as info:
        budget.estimate("upscale", X4, 1024, 1024, s)
    msg = str(info.value)
    est = budget._upscale_cost(4, 1024, 1024, s, False, None).seconds
    assert est > limit
    assert msg.startswith(
        f"Invalid `image`: an ×4 upscale of a 1024×1024 image would take about "
        f"{budget._duration(est)} on this server; the limit is {budget._duration(limit)}. "
        "Try ×2 or send a smaller image (at most about ")
    assert budget.estimate("upscale", X2, 1024, 1024, s).seconds <= limit  # ×2 does fit
    # the suggested size really fits, and is not needlessly small
    size = msg.rsplit("at most about ", 1)[1].split(" for", maxsplit=1)[0]
    w, h = (int(v) for v in size.split("×"))
    assert budget.estimate("upscale", X4, w, h, s).seconds <= limit
    assert budget._upscale_cost(4, w + 8, h + 8, s, False, None).seconds > limit


def test_memory_limit_refuses_and_names_the_figures(make_settings: Any) -> None:
    s = make_settings(limits__max_job_memory_mb=1400, limits__memory_budget_mb=2800)
    with pytest.raises(InvalidInput, match=r"would need about [\d,]+ MB of memory; the limit is "
                                           r"1,400 MB\. Try a smaller image"):
        budget.estimate("remove-bg", RemoveBgParams(), 6000, 6000, s)


def test_output_pixel_cap(make_settings: Any) -> None:
    s = make_settings(limits__upscale_max_output_mp=16)
    with pytest.raises(InvalidInput, match=r"would be 4096×4096 \(17 MP\); the limit is 16 MP"):
        budget.estimate("upscale", X2, 2048, 2048, s)
    assert budget.estimate("upscale", X2, 2000, 2000, s).output_pixels == 16_000_000


def test_cpu_factor_scales_time(make_settings: Any) -> None:
    slow = make_settings(limits__cpu_factor=3.0)
    a = budget.estimate("upscale", X2, 512, 512, Settings()).seconds
    b = budget.estimate("upscale", X2, 512, 512, slow).seconds
    assert b == pytest.approx(3 * a)


# --------------------------------------------------------------------------- engine


def _png(w: int, h: int) -> bytes:
    return png_bytes(Image.new("RGB", (w, h), (10, 120, 200)))


async def _ledger(engine: Any) -> tuple[int, int, int]:
    balance = await engine.credits.balance("g", "m")  # opens the wallet (its starting grant)
    rows = await engine.db.fetchone("SELECT COUNT(*) FROM ledger")
    jobs = await engine.db.fetchone("SELECT COUNT(*) FROM jobs")
    return int(rows[0]), int(jobs[0]), balance


async def test_engine_refuses_before_any_credit_moves(engine_factory: Any) -> None:
    local = ScriptedLocal()
    engine = await engine_factory({"local": local}, tools__upscale__providers=["local"])
    before = await _ledger(engine)
    with pytest.raises(InvalidInput, match=r"1×30000 image would be 4×120000"):
        await engine.submit(JobRequest("g", "m", "upscale", {"scale": 4},
                                       image=_png(1, 30000)))
    assert local.calls == 0
    assert await _ledger(engine) == before
    # a job that fits goes through
    result = await engine.run(JobRequest("g", "m", "upscale", {"scale": 2}, image=_png(64, 64)))
    assert result.ok
    assert local.calls == 1


async def test_engine_deadline_refusal_is_free(engine_factory: Any) -> None:
    engine = await engine_factory({"local": ScriptedLocal()}, jobs__deadline_s=30,
                                  tools__upscale__providers=["local"])
    before = await _ledger(engine)
    with pytest.raises(InvalidInput, match=r"would take about .* the limit is 15 s"
                       if budget.contention(engine.settings) == 2 else "would take about"):
        await engine.submit(JobRequest("g", "m", "upscale", {"scale": 2},
                                       image=_png(2048, 2048)))
    assert await _ledger(engine) == before


async def test_engine_admits_when_a_remote_provider_will_do_the_work(engine_factory: Any) -> None:
    remote = ScriptedRemote("replicate", [])
    engine = await engine_factory({"replicate": remote, "local": ScriptedLocal()},
                                  jobs__deadline_s=30)
    assert budget.admit("upscale", X2, Image.new("RGB", (2048, 2048)), engine.settings,
                        engine.providers) is None


# --------------------------------------------------------------------------- slots

_HOLDER = textwrap.dedent("""
    import sys, time
    from core import budget, slots
    from core.config import load_settings
    s = load_settings(overrides={"models.dir": sys.argv[1], "limits.memory_budget_mb": 3072,
                                 "limits.max_job_memory_mb": 3072})
    b = budget.Budget("upscale", 1.0, 2 * budget.LIGHT_BYTES, 0, 0)
    with slots.local_slot(b, s, deadline=time.monotonic() + 5):
        print("held", flush=True)
        time.sleep(60)
""")


def test_one_slot_is_shared_across_processes_and_freed_when_its_holder_dies(
    tmp_path: Path, make_settings: Any,
) -> None:
    s = make_settings(models__dir=str(tmp_path), limits__memory_budget_mb=3072,
                      limits__max_job_memory_mb=3072)
    assert budget.memory_slots(s) == 1
    heavy = budget.Budget("upscale", 1.0, 2 * budget.LIGHT_BYTES, 0, 0)
    light = budget.Budget("palette", 1.0, budget.LIGHT_BYTES // 2, 0, 0)
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], cwd=root,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        waits: list[str] = []
        with pytest.raises(Interrupted, match="waiting for memory"), slots.local_slot(
            heavy, s, deadline=time.monotonic() + 0.6, waiting=lambda _f, m: waits.append(m)
        ):
            pytest.fail("got a slot another process holds")
        assert waits
        assert waits[0] == "waiting for memory (other large jobs are running)"
        with slots.local_slot(light, s, deadline=time.monotonic()):
            pass  # light jobs never wait
    finally:
        holder.kill()  # SIGKILL: the kernel drops its flock
        holder.wait()
    with slots.local_slot(heavy, s, deadline=time.monotonic() + 5):
        pass


def test_slot_count_derives_from_the_memory_budget(make_settings: Any) -> None:
    assert budget.memory_slots(Settings()) == 2  # 6144 // 3072
    assert budget.memory_slots(make_settings(limits__memory_budget_mb=20000,
                                             limits__max_job_memory_mb=2500)) == 8


def test_the_local_provider_waits_for_a_slot_before_any_work(
    tmp_path: Path, make_settings: Any,
) -> None:
    """The call site every local job goes through, in the scheduling process: a job
    waiting for memory has no worker yet and stops, free, at its deadline."""
    from core.providers.base import Attempt, ProviderRequest
    from core.providers.local import LocalStudioProvider

    s = make_settings(models__dir=str(tmp_path), limits__memory_budget_mb=3072,
                      limits__max_job_memory_mb=3072)
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], cwd=root,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        seen: list[str] = []
        req = ProviderRequest(job_id="j", tool="remove-bg", params=RemoveBgParams(),
                              image=Image.new("RGB", (64, 64)), image_bytes=None,
                              idempotency_key="k", deadline=time.monotonic() + 0.6,
                              progress=lambda _f, m: seen.append(m))
        assert budget.estimate("remove-bg", RemoveBgParams(), 64, 64, s).heavy
        provider = LocalStudioProvider(s)
        with pytest.raises(Interrupted, match="waiting for memory"):
            asyncio.run(provider.run(req, Attempt()))
        assert seen
        assert set(seen) == {slots.WAIT_MESSAGE}
        # a budget the machine cannot meet is refused there too (a remote fell back)
        big = ProviderRequest(job_id="j2", tool="upscale", params=X4,
                              image=Image.new("RGB", (1, 30000)), image_bytes=None,
                              idempotency_key="k2", deadline=time.monotonic() + 5)
        with pytest.raises(InvalidInput, match="4×120000"):
            asyncio.run(provider.run(big, Attempt()))
    finally:
        holder.kill()
        holder.wait()
