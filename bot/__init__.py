"""The Discord process: client, startup, one error handler, job messages and buttons."""

from bot.client import StudioBot
from bot.runner import run_bot, start_bot

__all__ = ["StudioBot", "run_bot", "start_bot"]
