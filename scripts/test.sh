#!/usr/bin/env bash
# Set up (idempotent), then run the whole test suite, integration tests included.
# Extra arguments go to pytest. pytest exits 5 when it collects no test: that fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
