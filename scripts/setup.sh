#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian 12 machine: a Python 3.11 venv with the pinned set
# (pyproject.toml pins the direct dependencies, constraints.txt every transitive one, as
# resolved and checked with `pip check`) and a migrated Airflow metadata DB. Safe to run again.
# To move a pin: edit pyproject.toml, install without -c, run `pip check`, then
# `pip freeze --exclude-editable > constraints.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${KCDATA_PYTHON:-python3.11}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "setup: installing Python 3.11 from Debian" >&2
  apt-get update -q && apt-get install -y -q python3.11 python3.11-venv
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt-get update -q && apt-get install -y -q python3.11-venv
fi

# Debian packages the tests and the portal need: headless Chromium (dataset-page screenshots)
# with a CJK font. The portal's own services (PostgreSQL, Redis, Java for Solr) are installed
# by `kcdata portal up` itself.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}" >&2
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.kcdata-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setup: installing the pinned Python packages (a few minutes on a fresh machine)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip==26.3"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi

export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -c 'from kcdata.airflow_env import migrate_metadata_db; migrate_metadata_db()'
echo "setup: ready (.venv, Airflow metadata DB in .airflow/)" >&2
