#!/usr/bin/env bash
# Short fuzz runs of every fuzz target, as CI does them (make fuzz).
# Targets are found by grepping the sources: listing them with go test would
# compile every package.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is mid-call (go.dev/issue/75804,
# fixed in Go 1.27): no input failed and none is written to testdata/fuzz.
# Such a run is repeated once; a failure that wrote a reproducer, or any other
# failure, fails at once.
set -euo pipefail
go=${GO:-go}
fuzztime=${FUZZTIME:-10s}
minimize=${FUZZMINIMIZE:-2s}

reproducers() { [ -d "$1/testdata/fuzz/$2" ] && find "$1/testdata/fuzz/$2" -type f | sort; true; }

for f in $(grep -rl --include='*_test.go' '^func Fuzz' .); do
	pkg=$(dirname "$f")
	for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		for try in 1 2; do
			echo "fuzz $pkg $t"
			before=$(reproducers "$pkg" "$t")
			out=$(mktemp)
			if "$go" test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" 2>&1 | tee "$out"; then
				rm -f "$out"
				break
			fi
			race=false
			if grep -q '^    context deadline exceeded$' "$out" && [ "$(reproducers "$pkg" "$t")" = "$before" ]; then
				race=true
			fi
			rm -f "$out"
			if ! $race || [ "$try" = 2 ]; then
				exit 1
			fi
			echo "fuzz $pkg $t: the coordinator's deadline race (go.dev/issue/75804), no failing input; once more"
		done
	done
done
