#!/usr/bin/env bash
# Builds (once) and caches the helm binary that the chart tests run.
#
#   scripts/helm-binary.sh            # build when missing, print the path
#
# Output on stdout (one line, nothing else):
#   HELM=<absolute path>
# Progress goes to stderr.
#
# helm is built from its Go module (helm.sh/helm/v3) served by the Go module proxy, in a throwaway
# module in a temp dir, the same way scripts/kube-binaries.sh builds kube-apiserver and etcd.
# Cache layout: ${KAPSA_BIN_CACHE:-<repo>/.cache/bin}/helm-<version>/helm; the binary is built to a
# temp file and renamed into place, so an interrupted build never leaves a half-written file.
# A missing Go toolchain (with no cached binary) is an error, never a silent skip.
set -euo pipefail

HELM_VERSION="${KAPSA_HELM_VERSION:-v3.22.0}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${KAPSA_BIN_CACHE:-$REPO_ROOT/.cache/bin}"
DEST_DIR="$CACHE_DIR/helm-$HELM_VERSION"
DEST="$DEST_DIR/helm"

log() { printf '[helm-binary] %s\n' "$*" >&2; }
die() { printf '[helm-binary] ERROR: %s\n' "$*" >&2; exit 1; }

# works <binary>: true when the binary exists and prints its version.
works() { [[ -x "$1" ]] && "$1" version --short >/dev/null 2>&1; }

if works "$DEST"; then
  log "cached: $DEST ($("$DEST" version --short 2>/dev/null))"
  echo "HELM=$DEST"
  exit 0
fi

command -v go >/dev/null 2>&1 ||
  die "the Go toolchain (go) is not on PATH; it is needed to build helm $HELM_VERSION (not cached at $DEST)"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod -buildvcs=false"
# Never let the build try to download another toolchain; build with the installed one.
export GOTOOLCHAIN=local

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kapsa-helm.XXXXXX")"
TMP=""
cleanup() { rm -rf "$WORK"; [[ -n "$TMP" ]] && rm -f "$TMP"; return 0; }
trap cleanup EXIT

start=$SECONDS
log "building helm $HELM_VERSION (helm.sh/helm/v3/cmd/helm) ..."
hmod="$(cd "$WORK" && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[[ -n "$hmod" && -f "$hmod" ]] || die "could not download helm.sh/helm/v3@$HELM_VERSION from the Go module proxy"
godirective="$(awk '$1=="go"{print $2; exit}' "$hmod")"
# helm reports the Kubernetes version of its client libraries as the default .Capabilities.KubeVersion
# (its Makefile sets it with -X); without it `helm template` would claim Kubernetes 1.20.
k8sminor="$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$hmod" | sed -n 's/^v0\.\([0-9]*\)\..*/\1/p')"
[[ -n "$k8sminor" ]] || die "found no k8s.io/client-go version in the go.mod of helm.sh/helm/v3@$HELM_VERSION"

cat >"$WORK/go.mod" <<MOD
module kapsa.local/helm-build

go ${godirective:-1.24.0}

require helm.sh/helm/v3 $HELM_VERSION
MOD
cat >"$WORK/tools.go" <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
GO

mkdir -p "$DEST_DIR"
TMP="$DEST_DIR/.helm.tmp.$$"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8sminor"
done
if ! (cd "$WORK" && go build -trimpath -ldflags="$ldflags" -o "$TMP" helm.sh/helm/v3/cmd/helm); then
  die "go build of helm $HELM_VERSION failed (see the output above)"
fi
works "$TMP" || die "the freshly built helm does not run 'helm version'"
mv -f "$TMP" "$DEST"
TMP=""
log "built helm $HELM_VERSION in $((SECONDS - start))s -> $DEST"
echo "HELM=$DEST"
