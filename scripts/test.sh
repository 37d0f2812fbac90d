#!/usr/bin/env bash
# Set up (idempotent), lint (ruff: pyflakes, bugbear, imports, complexity cap), check the layer
# contract (import-linter, pyproject.toml), then run the whole test suite, integration tests
# included (the local CKAN portal is started for them).
# Extra arguments go to pytest. pytest exits 5 when it collects no test: that fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
