#!/usr/bin/env bash
# Build the binaries of the local Kubernetes control plane used by the cluster
# test tier (tests/cluster): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok (the fake kubelet, plus its stage config
# kwok-stages.yaml) and helm.
#
# Everything is built from source with the Go toolchain through the Go module
# proxy; no container engine and no download site is needed.  Binaries go to a
# cache outside the repository:
#
#   ${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}/k8s/<k8s version>/bin/
#
# A second run finds the binaries and does nothing.
#
# Usage:
#   tools/k8s/build.sh                 build what is missing
#   tools/k8s/build.sh --print-bin-dir print the bin dir and exit
#   tools/k8s/build.sh --check         exit 0 if everything is built, 1 if not
#   tools/k8s/build.sh --force         rebuild everything
set -euo pipefail

K8S_VERSION=v1.35.4     # k8s.io/kubernetes: apiserver, controller-manager, scheduler, kubectl
ETCD_VERSION=v3.6.16    # go.etcd.io/etcd/server/v3
KWOK_VERSION=v0.8.0     # sigs.k8s.io/kwok
HELM_VERSION=v3.22.0    # helm.sh/helm/v3

CACHE_DIR="${DEPLOYCHECK_CACHE:-$HOME/.cache/deploycheck}"
ROOT="$CACHE_DIR/k8s/$K8S_VERSION"
BIN="$ROOT/bin"
SRC="$ROOT/src"

COMPONENTS=(etcd kubernetes kwok helm)

binaries_of() {
  case "$1" in
    etcd) echo etcd ;;
    kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
    kwok) echo kwok ;;
    helm) echo helm ;;
  esac
}

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kubernetes) echo "$K8S_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
  esac
}

# A component is built when all its binaries exist and its stamp file names
# the pinned version (so bumping a version above triggers a rebuild).
is_built() {
  local c="$1" b
  [[ -f "$BIN/.$c.version" && "$(cat "$BIN/.$c.version")" == "$(version_of "$c")" ]] || return 1
  for b in $(binaries_of "$c"); do
    [[ -x "$BIN/$b" ]] || return 1
  done
  if [[ $c == kwok ]]; then [[ -s "$BIN/kwok-stages.yaml" ]] || return 1; fi
}

all_built() {
  local c
  for c in "${COMPONENTS[@]}"; do is_built "$c" || return 1; done
}

FORCE=0
case "${1:-}" in
  --print-bin-dir) echo "$BIN"; exit 0 ;;
  --check) all_built; exit $? ;;
  --force) FORCE=1 ;;
  "") ;;
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1" >&2; exit 2 ;;
esac

if [[ $FORCE == 0 ]] && all_built; then
  echo "already built: $BIN"
  exit 0
fi

GO="$(command -v go || true)"
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi
if [[ -z "$GO" ]]; then
  echo "error: Go is not installed (need Go >= 1.26); the cluster tier needs it" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "error: python3 is needed" >&2; exit 1; }

# Static binaries, module mode, no workspace.  GOTOOLCHAIN is left alone: with
# the default (auto), a Go older than a module's `go` line fetches the newer
# toolchain from the module proxy.
export GOWORK=off CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
export PATH="$(dirname "$GO"):$PATH"
mkdir -p "$BIN" "$SRC"

# One build at a time per cache (two CI jobs, or a user and the tests).
if command -v flock >/dev/null; then
  exec 9>"$ROOT/.build.lock"
  if ! flock -n 9; then
    echo "another build.sh is running on $ROOT; waiting for it"
    flock 9
  fi
  if [[ $FORCE == 0 ]] && all_built; then
    echo "already built: $BIN"
    exit 0
  fi
fi

echo "go: $("$GO" version)"
echo "bin dir: $BIN"
START=$SECONDS
FAILED=()

step() { echo "+ $*"; "$@"; }

# Start a throw-away wrapper module in $SRC/$1 (outside the repo).
new_module() {
  local dir="$SRC/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  cd "$dir"
  printf 'module deploycheck.local/build/%s\n\ngo 1.25.0\n' "$1" > go.mod
}

build_etcd() {
  new_module etcd
  # The server module's go.mod replaces its sibling modules with ../ paths,
  # so `go install ...@version` refuses it; a wrapper module works because
  # the replacements of dependencies are ignored and the requirements pin
  # the released sibling versions.
  step "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  step "$GO" build -trimpath -o "$BIN/etcd" \
    -ldflags "-s -w" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
  new_module kubernetes
  printf '\ngodebug default=go1.25\n' >> go.mod
  step "$GO" mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  # k8s.io/kubernetes replaces the staging modules (k8s.io/api, client-go,
  # ...) with ./staging paths and requires them at v0.0.0: replace each one
  # with its published v0.X.Y release.
  local gomod staging m
  gomod="$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  staging="$("$GO" mod edit -json "$gomod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"):
        print(r["Old"]["Path"])')"
  local staging_version="v0.${K8S_VERSION#v1.}"
  for m in $staging; do
    "$GO" mod edit -replace="$m=$m@$staging_version"
  done
  echo "replaced $(echo "$staging" | wc -w) staging modules with $staging_version"
  local pkgs=(
    k8s.io/kubernetes/cmd/kube-apiserver
    k8s.io/kubernetes/cmd/kube-controller-manager
    k8s.io/kubernetes/cmd/kube-scheduler
    k8s.io/kubernetes/cmd/kubectl
  )
  step "$GO" get "${pkgs[@]/%/@$K8S_VERSION}"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local commit
  commit="$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    python3 -c 'import json,sys; print((json.load(sys.stdin).get("Origin") or {}).get("Hash", ""))')"
  local ld="-s -w" p kv
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for kv in "gitVersion=$K8S_VERSION" gitMajor=1 "gitMinor=$minor" \
              "gitCommit=$commit" gitTreeState=clean \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
      ld+=" -X $p.$kv"
    done
  done
  step "$GO" build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}"
}

build_kwok() {
  cd "$SRC"
  GOBIN="$BIN" step "$GO" install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok has no built-in stages: assemble the ones kwokctl uses by default
  # (node initialize + heartbeat with lease, pod ready/complete/delete) from
  # the module source into one config file passed with --config.
  local dir
  dir="$("$GO" env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  local f out="$BIN/kwok-stages.yaml.tmp"
  : > "$out"
  for f in node/fast/node-initialize.yaml \
           node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    { echo "---"; echo "# sigs.k8s.io/kwok@$KWOK_VERSION kustomize/stage/$f"; cat "$dir/$f"; } >> "$out"
  done
  mv "$out" "$BIN/kwok-stages.yaml"
}

build_helm() {
  cd "$SRC"
  GOBIN="$BIN" step "$GO" install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

for c in "${COMPONENTS[@]}"; do
  if [[ $FORCE == 0 ]] && is_built "$c"; then
    echo "== $c $(version_of "$c"): already built"
    continue
  fi
  echo "== $c $(version_of "$c"): building"
  t0=$SECONDS
  # Subshell: one component failing to build does not stop the others.  (Not
  # `if ( ... )`: errexit is ignored inside an if condition, subshell or not.)
  set +e
  ( set -euo pipefail; "build_$c" )
  rc=$?
  set -e
  if [[ $rc == 0 ]]; then
    version_of "$c" > "$BIN/.$c.version"
    echo "== $c: built in $((SECONDS - t0))s"
  else
    echo "== $c: FAILED after $((SECONDS - t0))s (see the command and error above)" >&2
    FAILED+=("$c")
  fi
done

echo "build took $((SECONDS - START))s"
if ((${#FAILED[@]})); then
  echo "failed to build: ${FAILED[*]}" >&2
  exit 1
fi
echo "built: $BIN"
ls -l "$BIN"
