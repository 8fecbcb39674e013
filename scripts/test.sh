#!/usr/bin/env bash
# Quick start 2: set up with test tools, then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check core bot cogs tests benchmarks
.venv/bin/mypy core
.venv/bin/vulture core bot cogs --min-confidence 80
.venv/bin/pytest -q
