#!/usr/bin/env bash
# The whole test command: set-up, lint, then every suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
# 5 = no tests collected; treat as failure so a broken collection cannot pass silently.
exit $rc
