#!/usr/bin/env bash
# setup.sh prepares a fresh Debian machine for the test suite: the Debian
# packages the tests drive for real, then every script in scripts/setup.d in
# order (test binaries that are built once and cached). A rerun on a prepared
# machine does nothing but check.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: a real Alertmanager (and amtool), nftables
# and iproute2 for the firewall tests in network namespaces.
packages=(prometheus-alertmanager nftables iproute2 curl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for s in scripts/setup.d/*.sh; do
	[ -e "$s" ] || continue
	echo "setup: $s"
	bash "$s"
done
