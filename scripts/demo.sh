#!/usr/bin/env bash
# Quick start 1: set up, then run every tool offline on the bundled sample images.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/studio demo --out studio-demo
