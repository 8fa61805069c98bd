#!/usr/bin/env bash
# Builds (once) and caches the kube-apiserver and etcd binaries that the test suite runs.
#
#   scripts/kube-binaries.sh            # build what is missing, print the two paths
#
# Output on stdout (one per line, nothing else):
#   KUBE_APISERVER=<absolute path>
#   ETCD=<absolute path>
# Progress goes to stderr.
#
# Both are built from Go modules served by the Go module proxy, each in a throwaway module in a
# temp dir (the module cache stays in the default GOMODCACHE, so a second clone reuses downloads).
# Cache layout: ${KAPSA_BIN_CACHE:-<repo>/.cache/bin}/<name>-<version>/<name>; binaries are built
# to a temp file and renamed into place, so an interrupted build never leaves a half-written file.
set -euo pipefail

# Pinned versions. kube-apiserver 1.34 wants etcd 3.6 (it ships with 3.6.4).
KUBE_VERSION="${KAPSA_KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${KAPSA_ETCD_VERSION:-v3.6.5}"
# The k8s.io staging modules are tagged v0.<minor>.<patch> for kubernetes v1.<minor>.<patch>.
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${KAPSA_BIN_CACHE:-$REPO_ROOT/.cache/bin}"

log() { printf '[kube-binaries] %s\n' "$*" >&2; }
die() { printf '[kube-binaries] ERROR: %s\n' "$*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null 2>&1 ||
    die "the Go toolchain (go) is not on PATH; it is needed to build kube-apiserver and etcd (not cached in $CACHE_DIR)"
}

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod -buildvcs=false"
# Never let the build try to download another toolchain; build with the installed one.
export GOTOOLCHAIN=local

# works <binary>: true when the binary exists and prints its version.
works() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

# Temp modules and half-built binaries, removed however the script ends (an interrupt included).
WORK_DIRS=()
cleanup() { local d; for d in "${WORK_DIRS[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT

# build <name> <version> <package> <workdir>: go build in workdir (a prepared module), atomically
# install the result at $CACHE_DIR/<name>-<version>/<name>.
install_binary() {
  local name="$1" version="$2" pkg="$3" work="$4" extra_ldflags="${5:-}"
  local dest_dir="$CACHE_DIR/$name-$version"
  local dest="$dest_dir/$name"
  mkdir -p "$dest_dir"
  local tmp="$dest_dir/.$name.tmp.$$"
  WORK_DIRS+=("$tmp")
  local start=$SECONDS
  log "building $name $version ($pkg) ..."
  if ! (cd "$work" && go build -trimpath -ldflags="-s -w $extra_ldflags" -o "$tmp" "$pkg"); then
    rm -f "$tmp"
    die "go build of $name $version failed (see the output above)"
  fi
  works "$tmp" || { rm -f "$tmp"; die "the freshly built $name does not run '--version'"; }
  mv -f "$tmp" "$dest"
  log "built $name $version in $((SECONDS - start))s -> $dest"
}

build_kube_apiserver() {
  local dest="$CACHE_DIR/kube-apiserver-$KUBE_VERSION/kube-apiserver"
  # A cached binary must also report its release (an older build said v0.0.0-master, which
  # Helm's kubeVersion checks and clients read as "no version").
  if works "$dest" && "$dest" --version 2>/dev/null | grep -qF "$KUBE_VERSION"; then log "cached: $dest"; return; fi
  need_go
  local work; work="$(mktemp -d "${TMPDIR:-/tmp}/kapsa-kube-apiserver.XXXXXX")"; WORK_DIRS+=("$work")
  # The kubernetes go.mod requires every staging module at v0.0.0 and replaces it with a local
  # path, which does not apply to a dependent module: pin each one to the matching release.
  local kmod
  kmod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$kmod" && -f "$kmod" ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
  local staging
  staging="$(awk '/^replace \(/{r=1;next} r&&/^\)/{r=0} r&&$1~/^k8s\.io\//&&$2=="=>"&&$3~/^\.\/staging\//{print $1}' "$kmod")"
  [[ -n "$staging" ]] || die "found no staging modules in the go.mod of k8s.io/kubernetes@$KUBE_VERSION"
  local godirective godebug
  godirective="$(awk '$1=="go"{print $2; exit}' "$kmod")"
  godebug="$(awk '$1=="godebug"{print; exit}' "$kmod")"
  {
    echo "module kapsa.local/kube-apiserver-build"
    echo
    echo "go ${godirective:-1.24.0}"
    [[ -n "$godebug" ]] && echo "$godebug"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    local m; for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local version_flags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  install_binary kube-apiserver "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$work" "$version_flags"
}

build_etcd() {
  local dest="$CACHE_DIR/etcd-$ETCD_VERSION/etcd"
  if works "$dest"; then log "cached: $dest"; return; fi
  need_go
  local work; work="$(mktemp -d "${TMPDIR:-/tmp}/kapsa-etcd.XXXXXX")"; WORK_DIRS+=("$work")
  # The etcd binary's main (go.etcd.io/etcd/v3) is only `etcdmain.Main(os.Args)`; the server
  # module carries everything, so a two-line main avoids depending on the root module.
  cat >"$work/go.mod" <<MOD
module kapsa.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat >"$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  install_binary etcd "$ETCD_VERSION" . "$work"
}

total=$SECONDS
build_etcd
build_kube_apiserver
log "done in $((SECONDS - total))s"
echo "KUBE_APISERVER=$CACHE_DIR/kube-apiserver-$KUBE_VERSION/kube-apiserver"
echo "ETCD=$CACHE_DIR/etcd-$ETCD_VERSION/etcd"
