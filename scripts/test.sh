#!/usr/bin/env bash
# Set up (idempotent), lint (ruff: pyflakes, bugbear, imports, complexity cap), check the layer
# contract (import-linter, pyproject.toml), the types (mypy), dbt's SQL (sqlfluff) and the docs
# site, then run the whole test suite: every tier, the running system's included (it is started
# for them).
#
# Extra arguments go to pytest, e.g. one tier (set from each test's fixtures, tests/tiers.py):
#   scripts/test.sh -m unit          # no service, under 3 minutes
#   scripts/test.sh -m integration   # services the tests start themselves
#   scripts/test.sh -m system        # the running system and a browser
# Every run prints the 25 slowest tests and keeps a JUnit XML report in test-reports/.
# pytest exits 5 when it collects no test: that fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

# --- lint and static checks (each fails the run) ---
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
slow_checks() {  # the type checker, SQL style and the docs site: ~50 s on a fresh clone
  .venv/bin/mypy                # files and strictness: [tool.mypy] in pyproject.toml
  .venv/bin/sqlfluff lint dbt/  # style: .sqlfluff at the root
  # The docs site, strict: a dead internal link or anchor fails the build (htmlproofer, mkdocs.yml).
  local site; site="$(mktemp -d)"
  NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true .venv/bin/mkdocs build --strict --site-dir "$site"
  rm -rf "$site"
}

# --- tests ---
# The unit tier shares nothing, so it runs on every core (pytest-xdist); the integration and system
# tiers share services started once per session, so they run in one process, in order. Without a
# `-m`, both runs happen, each printing its 25 slowest tests and keeping its JUnit XML report.
pytest_run() {  # pytest_run <report name> <pytest args...>; "no tests collected" (5) is left to the caller
  local name=$1; shift
  .venv/bin/python -m pytest -p no:cacheprovider --durations=25 --junitxml="test-reports/$name.xml" "$@"
}
on_every_core=(-n "$(nproc)" --dist worksteal)
case " $* " in
  *" -m unit "*) slow_checks; pytest_run unit "${on_every_core[@]}" "$@"; exit ;;  # (set -e: a failing run exits with its code)
  *" -m "*) slow_checks; pytest_run selected "$@"; exit ;;
esac
unit=0; rest=0; checks=0
pytest_run unit -m unit "${on_every_core[@]}" "$@" || unit=$?
# The services' tiers spend much of their time waiting on the running system: the slow checks run
# beside them (not beside the unit tier, which keeps both cores busy); their output follows pytest's.
checks_log="$(mktemp)"
( set -e; slow_checks ) >"$checks_log" 2>&1 &
checks_pid=$!
pytest_run services -m "not unit" "$@" || rest=$?
wait "$checks_pid" || checks=$?
cat "$checks_log"; rm -f "$checks_log"
echo "unit tier: pytest exit $unit; integration and system tiers: pytest exit $rest; mypy, sqlfluff, docs: exit $checks" >&2
if [ "$checks" -ne 0 ]; then exit "$checks"; fi
# 5 is "no tests collected": fine for one half of a selection (a folder of unit tests only), not for both
if [ "$unit" -eq 5 ] && [ "$rest" -eq 5 ]; then exit 5; fi
for rc in "$unit" "$rest"; do
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
done
