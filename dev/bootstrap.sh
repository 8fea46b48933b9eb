#!/usr/bin/env bash
# Creates .venv at the repository root and installs prmlab into it (idempotent).
# torch comes first and on its own: `torch==2.13.0` takes the CPU build that lies on these
# machines, while an unpinned torch would pull a multi-GB CUDA build. A torch the user already
# has (importable by the python that runs this) is kept: the venv then sees it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
venv="$root/.venv"
stamp="$venv/.prmlab-installed"
if [ ! -x "$venv/bin/python" ]; then
  if "$py" -c "import torch" >/dev/null 2>&1; then
    echo "prmlab: keeping the torch $("$py" -c 'import torch; print(torch.__version__)') that $py already has" >&2
    "$py" -m venv --system-site-packages "$venv"
  else
    "$py" -m venv "$venv"
  fi
fi
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install -q "torch==2.13.0"
  fi
  "$venv/bin/python" -m pip install -q -e "$root[dev]"
  touch "$stamp"
fi
