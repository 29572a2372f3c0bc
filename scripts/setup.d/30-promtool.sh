#!/usr/bin/env bash
# 30-promtool.sh installs promtool (Debian's prometheus package) so that the
# test of testdata/alerts/firebreak-rules.yml can check the example alerting
# rules with `promtool check rules` and `promtool test rules`. A rerun with
# promtool present does nothing. The package's prometheus service is not
# started (policy-rc.d refuses it in containers; elsewhere it is stopped).
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	echo "promtool: present ($(promtool --version 2>&1 | head -n1))"
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
	echo "promtool: not installed and not root; run: sudo apt-get install --no-install-recommends prometheus" >&2
	exit 1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
	systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "promtool: installed ($(promtool --version 2>&1 | head -n1))"
