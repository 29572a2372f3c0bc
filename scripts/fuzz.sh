#!/usr/bin/env bash
# fuzz.sh runs every decoder fuzz target in web/sources for a short time
# (FUZZTIME, default 5s each), one after the other. A failure leaves the
# crashing input in web/sources/testdata/fuzz/<Target>/, where plain
# `go test` replays it from then on; commit it with the fix.
#
#   scripts/fuzz.sh                 # every target, 5s each
#   FUZZTIME=1m scripts/fuzz.sh FuzzFalco
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=./web/sources/
fuzztime=${FUZZTIME:-5s}
# The machines are shared: two fuzzing workers unless told otherwise.
parallel=${FUZZ_PARALLEL:-2}

if [ $# -gt 0 ]; then
	targets=("$@")
else
	mapfile -t targets < <(go test -list '^Fuzz' "$pkg" | grep '^Fuzz')
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found in $pkg" >&2
	exit 1
fi

failed=()
for t in "${targets[@]}"; do
	echo "fuzz: $t for $fuzztime"
	if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$pkg"; then
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets passed"
