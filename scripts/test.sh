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
# The run's processes (pytest's rewritten test modules, kcdata's own modules in every `kcdata`
# command, task and service it starts) keep their bytecode, even in a shell that says not to
# write it: otherwise each of them compiles the same modules again
unset PYTHONDONTWRITEBYTECODE

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
# Three pytest processes at once. In the foreground, the tests on the running system (marked
# `running_system` from their fixtures), which mostly wait on it with a core to spare. Beside
# them, every other test of the integration and system tiers (services of their own, a browser),
# then the unit tier on every core (pytest-xdist): it shares nothing, and runs while the last
# system tests wait on Airflow. Both share the running system (the other tests' S3 store is its):
# neither session stops it, this script does at the end (unless it was running before), and the
# tests that stop its S3 store wait until the other tests have ended (tests/tiers.py). The slow
# checks run beside them too. Each run prints its 25 slowest tests and keeps a JUnit XML report in
# test-reports/; the background runs' output and the checks' follow the running system's.
pytest_run() {  # pytest_run <report name> <pytest args...>; "no tests collected" (5) is left to the caller
  local name=$1; shift
  .venv/bin/python -m pytest -p no:cacheprovider --durations=25 --junitxml="test-reports/$name.xml" "$@"
}
on_every_core=(-n "$(nproc)" --dist worksteal)
side="$(mktemp -d)"
trap 'rm -rf "$side"' EXIT
( set -e; slow_checks ) >"$side/checks.log" 2>&1 &
checks_pid=$!
show_checks() {  # wait for the slow checks, print their output; their exit code
  local rc=0
  wait "$checks_pid" || rc=$?
  echo "========================== mypy, sqlfluff, the docs site ========================"
  cat "$side/checks.log"
  return "$rc"
}
case " $* " in
  *" -m "*)  # one selection (a tier): the checks beside it
    rc=0
    case " $* " in
      *" -m unit "*) pytest_run unit "${on_every_core[@]}" "$@" || rc=$? ;;
      *) pytest_run selected "$@" || rc=$? ;;
    esac
    checks=0; show_checks || checks=$?
    if [ "$checks" -ne 0 ]; then exit "$checks"; fi
    exit "$rc" ;;
esac
unit=0; others=0; system=0; checks=0

was_up=0
if .venv/bin/kcdata status >/dev/null 2>&1; then was_up=1; fi
export TEST_SHARED_STACK=1 TEST_OTHERS_DONE="$side/others.done"
{ pytest_run own-services -m "not unit and not running_system" "$@" >"$side/others.log" 2>&1 || echo $? >"$side/others.rc"
  touch "$TEST_OTHERS_DONE"
  ( unset TEST_SHARED_STACK TEST_OTHERS_DONE; pytest_run unit -m unit "${on_every_core[@]}" "$@" ) >"$side/unit.log" 2>&1 || echo $? >"$side/unit.rc"; } &
background_pid=$!
pytest_run running-system -m running_system "$@" || system=$?
wait "$background_pid" || true
show_checks || checks=$?
if [ -f "$side/others.rc" ]; then others=$(cat "$side/others.rc"); fi
if [ -f "$side/unit.rc" ]; then unit=$(cat "$side/unit.rc"); fi
if [ "$was_up" -eq 0 ]; then .venv/bin/kcdata down >/dev/null 2>&1 || true; fi
echo "================= tests with services of their own or a browser ================="
cat "$side/others.log"
echo "================================ the unit tier ================================="
cat "$side/unit.log"

echo "pytest exit: unit tier $unit, on the running system $system, the others $others; mypy, sqlfluff, docs: exit $checks" >&2
if [ "$checks" -ne 0 ]; then exit "$checks"; fi
# 5 is "no tests collected": fine for part of a selection (a folder of unit tests only), not for all
if [ "$unit" -eq 5 ] && [ "$others" -eq 5 ] && [ "$system" -eq 5 ]; then exit 5; fi
for rc in "$unit" "$others" "$system"; do
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
done
