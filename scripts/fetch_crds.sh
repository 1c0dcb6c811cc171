#!/usr/bin/env bash
# The CustomResourceDefinitions the shipped manifests (integrations/) need, taken from the engines' own Go
# modules through the Go module proxy, cached under ~/.cache/deploycheck/crds (a later run finds them and only
# prints the directory): Argo Rollouts (AnalysisTemplate, Rollout), Flagger (Canary), Tekton (Task).
# Prints the directory that holds them; exits 1 with the reason when Go is missing or a download fails.
set -euo pipefail

ARGO_ROLLOUTS=github.com/argoproj/argo-rollouts@v1.8.3   # manifests/crds/*.yaml
FLAGGER=github.com/fluxcd/flagger@v1.36.1                # artifacts/flagger/crd.yaml
TEKTON=github.com/tektoncd/pipeline@v1.0.0               # config/300-crds/300-task.yaml

cache="${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}/crds/argo-rollouts-v1.8.3_flagger-v1.36.1_tekton-v1.0.0"
if [ -f "$cache/.complete" ]; then
    echo "$cache"
    exit 0
fi
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "fetch_crds: Go is not installed (needed to read the Go module proxy)" >&2; exit 1; }

module_dir() {  # the unpacked module, downloaded once into Go's module cache
    (cd "$(mktemp -d)" && GOFLAGS=-mod=mod "$go" mod download -json "$1") \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

partial="$cache.partial.$$"
mkdir -p "$partial"
argo=$(module_dir "$ARGO_ROLLOUTS")
for crd in analysis-template analysis-run cluster-analysis-template experiment rollout; do
    cp "$argo/manifests/crds/$crd-crd.yaml" "$partial/argo-rollouts-$crd.yaml"
done
cp "$(module_dir "$FLAGGER")/artifacts/flagger/crd.yaml" "$partial/flagger.yaml"
cp "$(module_dir "$TEKTON")/config/300-crds/300-task.yaml" "$partial/tekton-task.yaml"
chmod -R u+w "$partial"  # the module cache's files are read-only
touch "$partial/.complete"
rm -rf "$cache" && mv "$partial" "$cache"
echo "$cache"
