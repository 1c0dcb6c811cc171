#!/usr/bin/env bash
# Run deploycheck's own tests (unit, end to end against real local servers). Creates .venv on first use.
#   ./run_tests.sh                 # everything; extra arguments go to pytest, e.g. ./run_tests.sh -k config
set -euo pipefail
cd "$(dirname "$0")"
BOOTSTRAP_EXTRAS=test source scripts/bootstrap.sh
cd tests
exec "$PYTHON" -m pytest "$@"
