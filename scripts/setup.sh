#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian 12 machine: a Python 3.11 venv with the pinned set
# (pyproject.toml pins the direct dependencies, constraints.txt every transitive one, as
# resolved and checked with `pip check`), plus the Debian packages the tests need. The running
# system's services are installed and started by `kcdata up`. Safe to run again.
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
# with a CJK font; PostgreSQL and MariaDB server binaries for the database-connector tests, which
# start throw-away servers of their own (tests/connectors/conftest.py). MariaDB comes as its core
# packages (the binaries, no system service). The portal's own services (PostgreSQL, Redis, Java
# for Solr) are installed by `kcdata up` itself.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1 || missing+=(mariadb-server-core mariadb-client-core)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}" >&2
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  # Debian's install starts a `main` PostgreSQL cluster on 5432, the portal's port: stop it.
  if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h | awk '$4 ~ /^online/ {print $1, $2}' | while read -r version cluster; do
      pg_ctlcluster "$version" "$cluster" stop || true
    done || true
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.kcdata-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setup: installing the pinned Python packages (a few minutes on a fresh machine)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip==26.3"
  # uv (pinned in constraints.txt) installs the same pinned set as pip would, several times faster
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt uv
  .venv/bin/uv pip install -q --python .venv/bin/python -c constraints.txt -e '.[test]'
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi
# Bytecode for every installed module, once per install: uv writes none, and in a shell with
# PYTHONDONTWRITEBYTECODE set (CI's is) every process would compile again what it imports
# (Great Expectations, dbt and Airflow: ~4 s more per process, for hundreds of processes a run)
compiled=.venv/.kcdata-compiled
if [ "$(cat "$compiled" 2>/dev/null || true)" != "$want" ]; then
  .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    >/dev/null 2>&1 || true  # a package's own test data that is not Python 3 fails to compile: harmless
  echo "$want" > "$compiled"
fi

# Front-end assets (ECharts for the catalog web, Data Docs' styles and scripts) come from npm at
# the versions package-lock.json pins, into node_modules/; the pages serve them from there.
command -v npm >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null; }
npm_want=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
if [ "$(cat node_modules/.kcdata-installed 2>/dev/null || true)" != "$npm_want" ]; then
  echo "setup: installing the pinned front-end assets (npm ci)" >&2
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
  echo "$npm_want" > node_modules/.kcdata-installed
fi

echo "setup: ready (.venv, node_modules)" >&2
