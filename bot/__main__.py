"""`python -m bot [--config PATH]`: run the Luneo AI Studio Discord bot."""

from __future__ import annotations

import argparse
import sys

from bot.runner import run_bot
from bot.shards import ShardError, add_shard_arguments, parse_shards
from core.config import load_settings
from core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "--config", metavar="PATH", help="config.toml (default ./config.toml, else $LUNEO_CONFIG)"
    )
    add_shard_arguments(parser)
    args = parser.parse_args(argv)
    try:
        shards = parse_shards(args.shard_count, args.shard_ids)
        settings = load_settings(args.config)
    except (ShardError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return run_bot(settings, shards=shards)


if __name__ == "__main__":
    raise SystemExit(main())
