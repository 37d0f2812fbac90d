#!/usr/bin/env bash
# The main job on a fresh machine: set up, generate the sample departmental data, run every
# resource through the Airflow DAGs (land -> validate -> transform), print where results are.
# Extra arguments go to `kcdata run` (e.g. --rows 100000 --bad-share 0.05).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/kcdata run "$@"
