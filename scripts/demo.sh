#!/usr/bin/env bash
# The main job on a fresh machine: set up, start the running system (`kcdata up`: Airflow, CKAN
# and their services under supervisord), deliver the sample departmental files as departments
# would, follow the chain to CKAN, print the summary and the URLs. The system keeps running
# (`kcdata down` stops it). Extra arguments go to `kcdata run` (e.g. --rows 100000 --stop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/kcdata run "$@"
