#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the packages that parse or write outside
# input (the source decoders, Slack's interaction callback, the inbox's event
# encoder and its handoff, the write-ahead log's recovery, the audit trail's
# record-head reader and its stored-record codec) for a bounded number of executions (FUZZTIME,
# default 100000x each), one after the other. The budget is a count, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can report a spurious "context deadline exceeded" failure at
# the deadline on a loaded machine (Go issue 75804, fixed in Go 1.27). A failure leaves the
# crashing input in <package>/testdata/fuzz/<Target>/, where plain `go test`
# replays it from then on; commit it with the fix.
#
#   scripts/fuzz.sh                          # every target, 100,000 executions each
#   FUZZTIME=1000000x scripts/fuzz.sh FuzzFalco
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(./web/sources/ ./web/ ./store/ ./store/wal/ ./engine/audit/)
fuzztime=${FUZZTIME:-100000x}
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
		# A bounded minimisation: an input of a slow target (the log's
		# recovery opens a whole log per input) can stall it for a minute.
		if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s -parallel "$parallel" "$pkg"; then
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
