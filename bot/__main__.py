"""`python -m bot [--config PATH]`: run the Luneo AI Studio Discord bot."""

from __future__ import annotations

import argparse
import sys

from bot.runner import run_bot
from core.config import load_settings
from core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "--config", metavar="PATH", help="config.toml (default ./config.toml, else $LUNEO_CONFIG)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return run_bot(settings)


if __name__ == "__main__":
    raise SystemExit(main())
