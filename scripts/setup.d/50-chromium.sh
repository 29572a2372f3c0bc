#!/usr/bin/env bash
# 50-chromium.sh installs a headless browser (Debian's chromium package) for
# the dashboard's browser tests in web/dashboard, which drive it from Go with
# chromedp against the real server. A rerun with chromium present does
# nothing. The tests skip without it locally and fail under CI=true.
set -euo pipefail

for b in chromium chromium-browser; do
	if command -v "$b" >/dev/null 2>&1; then
		echo "chromium: present ($("$b" --version 2>/dev/null | head -n1))"
		exit 0
	fi
done
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
	echo "chromium: not installed and not root; run: sudo apt-get install --no-install-recommends chromium fonts-dejavu-core" >&2
	exit 1
fi
apt-get update -qq
# fonts-dejavu-core: screenshots with readable text on a minimal image.
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: installed ($(chromium --version 2>/dev/null | head -n1))"
