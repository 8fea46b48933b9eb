#!/usr/bin/env bash
# The tests: sets up .venv if needed, then runs pytest (unit tests and doctests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$root/dev/bootstrap.sh"
export HF_HUB_OFFLINE=1
cd "$root"
set +e
"$root/.venv/bin/python" -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no tests: that is a broken test set-up, not a pass.
if [ "$rc" -eq 5 ]; then
  echo "prmlab: pytest collected no tests; failing on purpose" >&2
  exit 1
fi
exit "$rc"
