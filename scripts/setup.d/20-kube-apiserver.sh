#!/usr/bin/env bash
# 20-kube-apiserver.sh builds a real kube-apiserver from the Go module proxy for
# the tests of actions/kubernetes, and caches it under
#   $HOME/.cache/firebreak/kube-apiserver/<version>/kube-apiserver
# A rerun with the binary present does nothing.
#
# Debian ships no kube-apiserver, and `go install k8s.io/kubernetes/...@vX` is
# refused because kubernetes' go.mod has replace directives. So we build it
# from a throwaway module that requires k8s.io/kubernetes and replaces each
# staging module kubernetes lists (./staging/src/k8s.io/X) with the matching
# published v0.Y.Z version. About 5 minutes cold on 2 cores, ~2.5 GB peak.
#
# Environment:
#   KUBE_VERSION   kubernetes version to build (default v1.37.2)
#   FIREBREAK_KUBE_APISERVER_CACHE  cache root (default $HOME/.cache/firebreak/kube-apiserver)
set -euo pipefail

version="${KUBE_VERSION:-v1.37.2}"
staging_version="v0.${version#v1.}"
cache_root="${FIREBREAK_KUBE_APISERVER_CACHE:-$HOME/.cache/firebreak/kube-apiserver}"
out="$cache_root/$version/kube-apiserver"

if [ -x "$out" ]; then
	echo "kube-apiserver $version: cached at $out"
	exit 0
fi

command -v go >/dev/null || { echo "kube-apiserver: go is not installed" >&2; exit 1; }

start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# A module outside any workspace, independent of GOPATH, resolving freely.
export GOWORK=off GOFLAGS=-mod=mod GO111MODULE=on GOTOOLCHAIN=local CGO_ENABLED=0

echo "kube-apiserver $version: reading k8s.io/kubernetes@$version go.mod"
gomod="$(go mod download -json "k8s.io/kubernetes@$version" |
	sed -n 's/^[[:space:]]*"GoMod":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')"
[ -f "$gomod" ] || { echo "kube-apiserver: cannot find go.mod of k8s.io/kubernetes@$version" >&2; exit 1; }

# Replace lines look like: `k8s.io/api => ./staging/src/k8s.io/api`, either on a
# `replace` line or inside a `replace ( … )` block.
mapfile -t staging < <(sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*$#\2#p' "$gomod" | sort -u)
if [ ${#staging[@]} -lt 20 ]; then
	echo "kube-apiserver: found only ${#staging[@]} staging modules in $gomod" >&2
	exit 1
fi
echo "kube-apiserver $version: replacing ${#staging[@]} staging modules with $staging_version"

{
	echo "module firebreak.local/kubeapiserverbuild"
	echo
	echo "go 1.26"
	echo
	echo "require k8s.io/kubernetes $version"
	echo
	echo "replace ("
	for m in "${staging[@]}"; do
		echo "	$m => $m $staging_version"
	done
	echo ")"
} >go.mod
cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF

# Resolve the full module graph (go.sum) for the apiserver's package.
go get "k8s.io/kubernetes/cmd/kube-apiserver@$version"

buildDate="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
major="${version#v}"; major="${major%%.*}"
minor="${version#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags="$ldflags -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=$buildDate"
done

mkdir -p "$(dirname "$out")"
echo "kube-apiserver $version: building (this takes several minutes)"
go build -trimpath -ldflags "$ldflags" -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
mv "$work/kube-apiserver" "$out.tmp"
mv "$out.tmp" "$out"
"$out" --version
echo "kube-apiserver $version: built in $(( $(date +%s) - start ))s at $out"
