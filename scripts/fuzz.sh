#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the packages that parse outside input
# (the source decoders, Slack's interaction callback) for a short time
# (FUZZTIME, default 5s each), one after the other. A failure leaves the
# crashing input in <package>/testdata/fuzz/<Target>/, where plain `go test`
# replays it from then on; commit it with the fix.
#
#   scripts/fuzz.sh                      # every target, 5s each
#   FUZZTIME=1m scripts/fuzz.sh FuzzFalco
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(./web/sources/ ./actions/slack/)
fuzztime=${FUZZTIME:-5s}
# The machines are shared: two fuzzing workers unless told otherwise.
parallel=${FUZZ_PARALLEL:-2}

failed=()
count=0
for pkg in "${packages[@]}"; do
	mapfile -t targets < <(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in "${targets[@]}"; do
		if [ $# -gt 0 ] && [[ ! " $* " == *" $t "* ]]; then
			continue
		fi
		count=$((count + 1))
		echo "fuzz: $pkg $t for $fuzztime"
		if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$pkg"; then
			failed+=("$t")
		fi
	done
done
if [ "$count" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: $count targets passed"
