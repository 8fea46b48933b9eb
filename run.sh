#!/usr/bin/env bash
# The main job: sets up .venv if needed, then runs the flagship experiment (quick preset).
# Extra arguments go to `prmlab run`, e.g. ./run.sh --preset full
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$root/dev/bootstrap.sh"
export HF_HUB_OFFLINE=1
exec "$root/.venv/bin/prmlab" run "$@"
