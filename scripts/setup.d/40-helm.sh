#!/usr/bin/env bash
# 40-helm.sh builds helm from the Go module proxy for the tests of the Helm
# chart in deploy/helm/firebreak (helm lint, helm template), and caches it under
#   $HOME/.cache/firebreak/helm/<version>/helm
# A rerun with the binary present does nothing. About 2 minutes cold on an
# idle 2-core machine.
#
# Environment:
#   HELM_VERSION                 helm version to build (default v4.3.2)
#   FIREBREAK_HELM_CACHE         cache root (default $HOME/.cache/firebreak/helm)
set -euo pipefail

version="${HELM_VERSION:-v4.3.2}"
cache_root="${FIREBREAK_HELM_CACHE:-$HOME/.cache/firebreak/helm}"
out="$cache_root/$version/helm"

if [ -x "$out" ]; then
	echo "helm $version: cached at $out"
	exit 0
fi

command -v go >/dev/null || { echo "helm: go is not installed" >&2; exit 1; }

start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Outside any workspace or module, so `go install pkg@version` resolves the
# module's own go.mod; GOBIN points at a scratch directory so a half-written
# binary never lands in the cache.
export GOWORK=off GO111MODULE=on GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$work/bin"
cd "$work"
echo "helm $version: building helm.sh/helm/v4/cmd/helm (this takes a few minutes)"
go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" "helm.sh/helm/v4/cmd/helm@$version"
mkdir -p "$(dirname "$out")"
mv "$work/bin/helm" "$out.tmp"
mv "$out.tmp" "$out"
"$out" version
echo "helm $version: built in $(( $(date +%s) - start ))s at $out"
