#!/usr/bin/env bash
# Builds (once) and caches the control-plane binaries that the test suite and `npm run cluster` run:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (fake nodes) and
# Metacontroller (from the vendored source archive in ../shared/vendor).
#
#   scripts/kube-binaries.sh                 # build what is missing, print every path
#   scripts/kube-binaries.sh etcd kube-apiserver   # only these
#   scripts/kube-binaries.sh kubectl               # also built on request (for `npm run cluster`)
#
# Output on stdout (one per line, nothing else):
#   ETCD=<absolute path>
#   KUBE_APISERVER=<absolute path>
#   KUBE_CONTROLLER_MANAGER=<absolute path>
#   KUBE_SCHEDULER=<absolute path>
#   KWOK=<absolute path>
#   METACONTROLLER=<absolute path>
# Progress goes to stderr, each step with its elapsed time.
#
# All are built from Go modules served by the Go module proxy, each in a throwaway module in a
# temp dir (the module cache stays in the default GOMODCACHE, so a second clone reuses downloads).
# Metacontroller's module path (`metacontroller`) cannot be fetched, so it is built from the
# archive, and cached under the archive's sha256.
# Cache layout: ${KAPSA_BIN_CACHE:-<repo>/.cache/bin}/<name>-<version>/<name>; binaries are built
# to a temp file and renamed into place, so an interrupted build never leaves a half-written file.
set -euo pipefail

# Pinned versions. kube-apiserver 1.34 wants etcd 3.6 (it ships with 3.6.4).
KUBE_VERSION="${KAPSA_KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${KAPSA_ETCD_VERSION:-v3.6.5}"
KWOK_VERSION="${KAPSA_KWOK_VERSION:-v0.8.0}"
# The k8s.io staging modules are tagged v0.<minor>.<patch> for kubernetes v1.<minor>.<patch>.
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${KAPSA_BIN_CACHE:-$REPO_ROOT/.cache/bin}"
METACONTROLLER_ARCHIVE="${KAPSA_METACONTROLLER_ARCHIVE:-$REPO_ROOT/../shared/vendor/metacontroller-v4.17.2.tar.gz}"

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

# works <binary> [words]: true when the binary exists and answers --version (or the words given).
works() {
  local bin="$1"; shift
  [[ $# -gt 0 ]] || set -- --version
  [[ -x "$bin" ]] && "$bin" "$@" >/dev/null 2>&1
}

# Temp modules and half-built binaries, removed however the script ends (an interrupt included).
WORK_DIRS=()
cleanup() { local d; for d in "${WORK_DIRS[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT

# build <name> <version> <package> <workdir>: go build in workdir (a prepared module), atomically
# install the result at $CACHE_DIR/<name>-<version>/<name>.
install_binary() {
  local name="$1" version="$2" pkg="$3" work="$4" extra_ldflags="${5:-}" check_flag="${6:---version}"
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
  # shellcheck disable=SC2086 # the check may be several words
  works "$tmp" $check_flag || { rm -f "$tmp"; die "the freshly built $name does not run '$check_flag'"; }
  mv -f "$tmp" "$dest"
  log "built $name $version in $((SECONDS - start))s -> $dest"
}

# build_kube <component>: one of the k8s.io/kubernetes commands, at KUBE_VERSION.
build_kube() {
  local component="$1"
  local dest="$CACHE_DIR/$component-$KUBE_VERSION/$component"
  # A cached binary must also report its release (an older build said v0.0.0-master, which
  # Helm's kubeVersion checks and clients read as "no version").
  # kubectl has a version subcommand, the servers a --version flag.
  local check="--version"; [[ "$component" == kubectl ]] && check="version --client"
  # shellcheck disable=SC2086 # $check is two words for kubectl
  if [[ -x "$dest" ]] && "$dest" $check 2>/dev/null | grep -qF "$KUBE_VERSION"; then log "cached: $dest"; return; fi
  need_go
  ensure_kube_module
  local work="$KUBE_MODULE"
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local version_flags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  install_binary "$component" "$KUBE_VERSION" "k8s.io/kubernetes/cmd/$component" "$work" "$version_flags" "$check"
}

# ensure_kube_module: sets KUBE_MODULE to a throwaway module that requires k8s.io/kubernetes,
# made once per run and shared by the three components (their common packages compile once).
KUBE_MODULE=""
ensure_kube_module() {
  [[ -z "$KUBE_MODULE" ]] || return 0
  local work; work="$(mktemp -d "${TMPDIR:-/tmp}/kapsa-kube.XXXXXX")"; WORK_DIRS+=("$work")
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
    echo "module kapsa.local/kube-build"
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

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  KUBE_MODULE="$work"
}

# kwok does nothing without Stages (what happens to a node or pod, and when). Its module ships its
# own "fast" set, the one `kwokctl` installs by default: it goes next to the binary as stages.yaml.
KWOK_STAGES=(node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)

build_kwok() {
  local dest="$CACHE_DIR/kwok-$KWOK_VERSION/kwok"
  if works "$dest" && [[ -s "$CACHE_DIR/kwok-$KWOK_VERSION/stages.yaml" ]]; then log "cached: $dest"; return; fi
  need_go
  local work; work="$(mktemp -d "${TMPDIR:-/tmp}/kapsa-kwok.XXXXXX")"; WORK_DIRS+=("$work")
  cat >"$work/go.mod" <<MOD
module kapsa.local/kwok-build

go 1.26.0

require sigs.k8s.io/kwok $KWOK_VERSION
MOD
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
GO
  local ldflags="-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  install_binary kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "$work" "$ldflags"
  local moddir
  moddir="$(cd "$work" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "$moddir/kustomize/stage" ]] || die "kwok $KWOK_VERSION has no kustomize/stage folder in its module ($moddir)"
  local stages="$CACHE_DIR/kwok-$KWOK_VERSION/stages.yaml" tmp_stages="$CACHE_DIR/kwok-$KWOK_VERSION/.stages.tmp.$$" f
  for f in "${KWOK_STAGES[@]}"; do
    [[ -f "$moddir/kustomize/stage/$f" ]] || die "kwok $KWOK_VERSION has no stage $f"
    printf -- '---\n'; cat "$moddir/kustomize/stage/$f"; printf '\n'
  done >"$tmp_stages"
  mv -f "$tmp_stages" "$stages"
}

build_metacontroller() {
  [[ -f "$METACONTROLLER_ARCHIVE" ]] || die "the Metacontroller source archive is missing: $METACONTROLLER_ARCHIVE (../shared/vendor, see its SOURCES.md)"
  local sum; sum="$(sha256sum "$METACONTROLLER_ARCHIVE" | cut -c1-16)"
  local dest="$CACHE_DIR/metacontroller-$sum/metacontroller"
  # Metacontroller has no --version flag; -help exits 0 from Go's flag package.
  if works "$dest" -help; then log "cached: $dest"; return; fi
  need_go
  local work; work="$(mktemp -d "${TMPDIR:-/tmp}/kapsa-metacontroller.XXXXXX")"; WORK_DIRS+=("$work")
  tar -xzf "$METACONTROLLER_ARCHIVE" -C "$work"
  local src; src="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)"
  [[ -f "$src/go.mod" ]] || die "the archive $METACONTROLLER_ARCHIVE has no go.mod at its top folder"
  install_binary metacontroller "$sum" ./pkg/cmd/metacontroller "$src" "-X main.version=$(basename "$src")" -help
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

ALL=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok metacontroller)
wanted=("$@"); [[ ${#wanted[@]} -gt 0 ]] || wanted=("${ALL[@]}")

# The API-server and e2e suites start together and may both find the cache cold: one build at a
# time, the second caller then finds everything cached.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build.lock"
flock 9

total=$SECONDS
out=()
for component in "${wanted[@]}"; do
  case "$component" in
    etcd) build_etcd; out+=("ETCD=$CACHE_DIR/etcd-$ETCD_VERSION/etcd") ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
      build_kube "$component"
      var="${component//-/_}"; out+=("${var^^}=$CACHE_DIR/$component-$KUBE_VERSION/$component") ;;
    kwok) build_kwok; out+=("KWOK=$CACHE_DIR/kwok-$KWOK_VERSION/kwok") ;;
    metacontroller)
      build_metacontroller
      out+=("METACONTROLLER=$CACHE_DIR/metacontroller-$(sha256sum "$METACONTROLLER_ARCHIVE" | cut -c1-16)/metacontroller") ;;
    *) die "unknown component '$component' (one of: ${ALL[*]})" ;;
  esac
done
log "done in $((SECONDS - total))s"
printf '%s\n' "${out[@]}"
