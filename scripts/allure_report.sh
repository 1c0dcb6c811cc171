#!/usr/bin/env bash
# Generate the Allure HTML report from RESULTS into REPORT with the Allure 2 command line, and say how to open it.
#
#   scripts/allure_report.sh RESULTS REPORT
#
# One index.html that opens from file:// by default; DEPLOYCHECK_ALLURE_SINGLE_FILE=0 writes a folder, which a
# browser must be given over HTTP (allure open REPORT). Allure's page carries an analytics script that calls
# Google; ALLURE_NO_ANALYTICS=true (the default here) leaves it out. The command: $ALLURE, else `allure` on the
# PATH, else the one scripts/install_allure.sh installed.
set -euo pipefail
results="$1"
report="$2"
cache="${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}/allure/node_modules/.bin/allure"
allure="${ALLURE:-$(command -v allure || echo "$cache")}"
if [[ ! -x "$allure" ]]; then
    echo "  html report    not generated: no Allure command line (install it: $(dirname "$0")/install_allure.sh)" >&2
    exit 1
fi
single=(--single-file)
[[ "${DEPLOYCHECK_ALLURE_SINGLE_FILE:-1}" == "0" ]] && single=()
if ! ALLURE_NO_ANALYTICS="${ALLURE_NO_ANALYTICS:-true}" "$allure" generate ${single[@]+"${single[@]}"} --clean \
    -o "$report" "$results" >"$report.log" 2>&1; then
    echo "  html report    not generated: allure generate failed (see $report.log)" >&2
    exit 1
fi
rm -f "$report.log"
echo "  html report    $report/index.html"
if [[ ${#single[@]} -gt 0 ]]; then
    echo "                 open it: xdg-open $report/index.html  (or file://$report/index.html in a browser)"
else
    echo "                 serve it: $allure open $report  (a multi-file report needs HTTP)"
fi
