#!/usr/bin/env bash
# 45-buildah.sh installs what `make image` and the image test need: buildah
# (Debian's package; it builds the FROM-scratch image without a daemon or a
# registry), and ca-certificates, whose bundle the image copies in. A rerun
# with both present does nothing.
set -euo pipefail

missing=()
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -eq 0 ]; then
	echo "buildah: present ($(buildah --version))"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "buildah: not installed and not root; run: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "buildah: installed ($(buildah --version))"
