#!/usr/bin/env bash
# Set up (idempotent), lint (ruff: pyflakes, bugbear, imports, complexity cap), check the layer
# contract (import-linter, pyproject.toml), then run the whole test suite: every tier, the running
# system's included (it is started for them).
#
# Extra arguments go to pytest, e.g. one tier (set from each test's fixtures, tests/tiers.py):
#   scripts/test.sh -m unit          # no service, under 3 minutes
#   scripts/test.sh -m integration   # services the tests start themselves
#   scripts/test.sh -m system        # the running system and a browser
# Every run prints the 25 slowest tests and keeps a JUnit XML report in test-reports/junit.xml.
# pytest exits 5 when it collects no test: that fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

# --- lint and static checks (each fails the run) ---
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
.venv/bin/mypy                # files and strictness: [tool.mypy] in pyproject.toml
.venv/bin/sqlfluff lint dbt/  # style: .sqlfluff at the root
# The docs site, strict: a dead internal link or anchor fails the build (htmlproofer, mkdocs.yml).
docs_site="$(mktemp -d)"
NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true .venv/bin/mkdocs build --strict --site-dir "$docs_site"
rm -rf "$docs_site"

# --- tests ---
exec .venv/bin/python -m pytest -p no:cacheprovider --durations=25 --junitxml=test-reports/junit.xml "$@"
