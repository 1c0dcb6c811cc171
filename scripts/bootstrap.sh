#!/usr/bin/env bash
# Create (once) the project's virtual environment and install deploycheck into it.
# Sourced by run_smoke_tests.sh and run_tests.sh; prints nothing when the environment is up to date.
# BOOTSTRAP_EXTRAS names the pip extras to install (e.g. "test"); never the caller's own arguments.
# DEPLOYCHECK_VENV overrides where it lives; DEPLOYCHECK_NO_VENV=1 uses the current interpreter as is.
set -euo pipefail

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${BOOTSTRAP_EXTRAS:-}"

if [[ "${DEPLOYCHECK_NO_VENV:-0}" == "1" ]]; then
    PYTHON="${PYTHON:-python3}"
else
    venv="${DEPLOYCHECK_VENV:-$project_root/.venv}"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "deploycheck: creating a virtual environment in $venv" >&2
        python3 -m venv "$venv"
    fi
    PYTHON="$venv/bin/python"
fi

# Reinstall only when pyproject.toml changed since the last install (a stamp file per extras set).
stamp="$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')")/../.deploycheck-installed${extras:+-$extras}"
if [[ ! -f "$stamp" || "$project_root/pyproject.toml" -nt "$stamp" ]]; then
    echo "deploycheck: installing dependencies${extras:+ (extras: $extras)}" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$project_root${extras:+[$extras]}" >&2
    touch "$stamp"
fi
export PYTHON
