#!/usr/bin/env bash
# The pipeline entry point: check ENV (and optionally some of its services) right after a deployment.
#
#   ./run_smoke_tests.sh ENV [SERVICE...] [OPTIONS...] [-- PYTEST_ARGS...]
#
#   ./run_smoke_tests.sh local                                   # the bundled demo services, nothing deployed
#   ./run_smoke_tests.sh production api-gateway --expected-version v2.3.1
#   ./run_smoke_tests.sh staging --wait-ready 120s -n 2 -k health
#   ./run_smoke_tests.sh staging --html                          # also the Allure HTML report, one file
#
# Words after ENV are service names until the first option; every option from there on goes to pytest as is
# (deploycheck's --expected-version, --wait-ready, --timeout, or any pytest option), except --html: generate the
# Allure report with the Allure 2 command line (scripts/install_allure.sh; $ALLURE to use another), as one
# index.html that opens from file:// (DEPLOYCHECK_ALLURE_SINGLE_FILE=0: a folder, to be served over HTTP).
# Reports go to reports/ (DEPLOYCHECK_REPORTS_DIR to change it).
# Exit status: 0 PASS (promote), 1 FAIL (roll back), 6 INCONCLUSIVE (hold for a person);
#              2 interrupted, 3 internal error, 4 usage error (bad option or configuration), as pytest defines them.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    usage
    exit $([[ $# -lt 1 ]] && echo 4 || echo 0)
fi

# Work from the caller's directory (paths they give are theirs), with the project's configuration and checks
# named explicitly, so the script works from anywhere: /opt/deploycheck/run_smoke_tests.sh staging.
root="$(cd "$(dirname "$0")" && pwd)"
BOOTSTRAP_EXTRAS="" source "$root/scripts/bootstrap.sh"

env_name="$1"
shift
args=(--env "$env_name")
while [[ $# -gt 0 && "$1" != -* ]]; do
    args+=(--service "$1")
    shift
done
[[ "${1:-}" == "--" ]] && shift
html=0
rest=()
for arg in "$@"; do
    if [[ "$arg" == "--html" ]]; then html=1; else rest+=("$arg"); fi
done
set -- ${rest[@]+"${rest[@]}"}

reports="${DEPLOYCHECK_REPORTS_DIR:-$root/reports}"
# Allure results are cleaned here, not with --clean-alluredir, which races under pytest-xdist.
rm -rf "$reports/allure-results" "$reports/verdict.json" "$reports/summary.md" "$reports/junit.xml"
mkdir -p "$reports"
report="$reports/allure-report"
if [[ $html == 1 ]]; then
    # Trends: the history of the previous report goes into the new results before Allure reads them.
    "$PYTHON" -c 'import sys; from pathlib import Path; from deploycheck.reports.allure_files import carry_history
carry_history(Path(sys.argv[1]), Path(sys.argv[2]))' "$report" "$reports/allure-results"
    export DEPLOYCHECK_REPORT_URL="${DEPLOYCHECK_REPORT_URL:-file://$report/index.html}"  # the link notifications give
fi

# pytest runs as a child so that the reports can be listed after it, and a cancel that reaches only this script (CI
# stopping a job, a container's PID 1) is passed on: pytest then runs its flows' cleanups and writes its verdict.
# Ctrl-C in a terminal reaches pytest itself (the terminal signals the whole group), so it is not passed on twice;
# the child gets back the SIGINT and the standard input that a script's background job would lose. The loop waits
# again after each signal until pytest has really ended, and keeps its exit status.
(
    trap - INT
    exec "$PYTHON" -m pytest -c "$root/pyproject.toml" --rootdir "$root" "${args[@]}" \
        --junitxml "$reports/junit.xml" --alluredir "$reports/allure-results" \
        --verdict-file "$reports/verdict.json" --summary-file "$reports/summary.md" \
        "$@" "$root/checks" "$root/smoke"
) <&0 &
pytest_pid=$!
trap "kill -TERM $pytest_pid 2>/dev/null || true" TERM
trap "kill -HUP $pytest_pid 2>/dev/null || true" HUP
trap ":" INT
status=0
while :; do
    wait "$pytest_pid" && status=0 || status=$?
    kill -0 "$pytest_pid" 2>/dev/null || break  # ended (a signal ends `wait` early, the child still running)
done
trap - TERM HUP INT

if [[ -f "$reports/verdict.json" ]]; then
    echo
    echo "Reports:"
    echo "  verdict        $reports/verdict.json"
    echo "  summary        $reports/summary.md"
    echo "  junit          $reports/junit.xml"
    echo "  allure results $reports/allure-results/   (view: allure serve $reports/allure-results;"
    echo "                 no allure? $root/scripts/install_allure.sh installs it)"
fi
if [[ $html == 1 ]]; then
    bash "$root/scripts/allure_report.sh" "$reports/allure-results" "$report" || echo "  (no HTML report; the verdict stands)"
fi
exit "$status"
