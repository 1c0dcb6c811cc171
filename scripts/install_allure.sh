#!/usr/bin/env bash
# Install the Allure 2 command line (npm package allure-commandline, which runs on Java) into
# ~/.cache/deploycheck/allure, once. Prints the path of the `allure` command.
set -euo pipefail
prefix="${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}/allure"
allure="$prefix/node_modules/.bin/allure"
if [[ ! -x "$allure" ]]; then
    command -v npm >/dev/null || { echo "install_allure: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent allure-commandline@2 >&2
fi
if ! command -v java >/dev/null; then
    echo "install_allure: Allure needs Java; installing default-jre-headless" >&2
    apt-get install -y -qq default-jre-headless >&2
fi
echo "$allure"
