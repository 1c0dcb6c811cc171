#!/usr/bin/env bash
# The Argo Rollouts controller, built from its Go module (through the Go module proxy) into
# ~/.cache/deploycheck/argo-rollouts/<version>/rollouts-controller; a later run finds it and only prints the path.
# Long the first time (its dependencies, then a large build): run at low priority. Prints the binary's path.
# --cached-only: only say where the built binary is, or exit 1 (for the tests, which never build it themselves).
set -euo pipefail
VERSION=${ARGO_ROLLOUTS_VERSION:-v1.8.3}
out="${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}/argo-rollouts/$VERSION"
if [ -x "$out/rollouts-controller" ]; then
    echo "$out/rollouts-controller"
    exit 0
fi
if [ "${1:-}" = --cached-only ]; then
    echo "not built yet: run scripts/build_argo_rollouts.sh (a long Go build the first time)" >&2
    exit 1
fi
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "build_argo_rollouts: Go is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
module=$(cd "$work" && GOFLAGS=-mod=mod "$go" mod download -json "github.com/argoproj/argo-rollouts@$VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$module" "$work/src" && chmod -R u+w "$work/src"
mkdir -p "$out"
(cd "$work/src" && GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n 19 "$go" build -trimpath -ldflags "-s -w" \
    -o "$out/rollouts-controller.partial" ./cmd/rollouts-controller)
mv "$out/rollouts-controller.partial" "$out/rollouts-controller"
echo "$out/rollouts-controller"
