"""Where a cold `studio run TOOL IMG` spends its time: run by benchmarks/cli.py.

    python benchmarks/cold_probe.py TOOL CONFIG IMG_A IMG_B

Does what one `studio run` process does, with a clock around each part (including
starting the worker side early, `core.process_pool.start_for`), and prints one JSON
object (seconds): `imports` (the CLI and the engine, in this process),
`engine_open` (settings, database, migrations), `first_job` (the first input through
the engine: the worker pool's start-up, the worker's first-call imports and the job
itself), `second_job` (another input in the now warm process: the job alone),
`engine_close` (workers stopped, database closed), and `modules`: which heavy native packages this process holds at the end. Nothing but
the standard library is imported before the `imports` clock starts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

HEAVY = ("torch", "openvino", "ncnn", "matplotlib", "sklearn", "scipy", "cv2", "skimage",
         "pymatting", "numba", "numpy", "rich", "discord")


async def _probe(tool: str, config: Path, images: list[Path]) -> dict[str, object]:
    out: dict[str, object] = {}
    t = time.perf_counter()
    import core.cli  # noqa: F401 - the module `studio` runs

    imports = time.perf_counter() - t
    from core.config import load_settings

    settings = load_settings(config)
    if "local" in settings.tool_chain(tool) and settings.limits.local_isolation == "process":
        from core.process_pool import start_for

        start_for(tool)  # as `studio run` does at this point
    t = time.perf_counter()
    from core.cli_commands import open_engine
    from core.cli_output import CLI_GUILD, CLI_MEMBER
    from core.engine import JobRequest
    from core.operator import run_as_operator

    out["imports"] = imports + time.perf_counter() - t
    t = time.perf_counter()
    engine = await open_engine(settings)
    out["engine_open"] = time.perf_counter() - t
    try:
        for key, image in zip(("first_job", "second_job"), images, strict=True):
            t = time.perf_counter()
            result = await run_as_operator(engine, JobRequest(
                CLI_GUILD, CLI_MEMBER, tool, {}, image=image.read_bytes(), source="cli"))
            out[key] = time.perf_counter() - t
            if not result.ok:
                raise SystemExit(f"{tool} failed: {result.error}")
    finally:
        t = time.perf_counter()
        await engine.close()
        out["engine_close"] = time.perf_counter() - t
    out["modules"] = [m for m in HEAVY if m in sys.modules]
    return out


def main() -> None:
    """Print the probe's JSON object for `TOOL CONFIG IMG_A IMG_B` (argv)."""
    tool, config, a, b = sys.argv[1:5]
    print(json.dumps(asyncio.run(_probe(tool, Path(config), [Path(a), Path(b)]))))


if __name__ == "__main__":
    main()
