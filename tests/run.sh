#!/bin/sh
# run.sh - run the test binaries built by make.
#
# Usage: BUILD=build/debug tests/run.sh unit|integration|conformance|all
#
# Integration tests get TEST_PG_DSN: a throwaway PostgreSQL cluster this
# script starts in $BUILD/pg (unless TEST_PG_DSN is already set) and stops
# at exit.  Each binary's output goes to $BUILD/test-logs/; a failing
# binary's output is printed.  The last line counts the test cases:
# "tests: N passed, N failed".
#
# The e2e integration tests run with SIM_CAPTURE_DIR=$BUILD/capture: their
# simulators, which only the daemons talk to, keep a copy of each kind of
# message; the conformance phase (tests/conformance/run.sh) type-checks
# those against the providers' client libraries.
set -u

BUILD=${BUILD:-build/debug}
TOP_DIR=$(pwd)
BIN_DIR=$TOP_DIR/$BUILD/bin
LOGS=$TOP_DIR/$BUILD/test-logs
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
export TOP_DIR BIN_DIR BUILD

what=${1:-all}
mkdir -p "$LOGS"
passed=0
failed=0
failed_bins=""
pg_started=""

cleanup() {
	if [ -n "$pg_started" ]; then
		tests/pg.sh stop "$TOP_DIR/$BUILD/pg" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT INT TERM

run_bin() {
	bin=$1
	name=$(echo "$bin" | sed "s|^$BUILD/tests/||; s|/|.|g")
	log="$LOGS/$name.log"
	start=$(date +%s)
	case $name in
	integration.e2e_* | integration.ai_e2e_*)
		SIM_CAPTURE_DIR=$TOP_DIR/$BUILD/capture \
		    timeout -k 10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1
		;;
	*) timeout -k 10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1 ;;
	esac
	rc=$?
	secs=$(( $(date +%s) - start ))
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed, timed out or failed outside a test case
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
		printf '  PASS    %-48s %3d cases  %4ds\n' "$name" "$p" "$secs"
	else
		printf '  FAIL    %-48s rc=%d  %4ds  (log: %s)\n' "$name" \
		    "$rc" "$secs" "$log"
		tail -n 60 "$log" | sed 's/^/    | /'
		failed_bins="$failed_bins $name"
	fi
}

if [ "$what" = unit ] || [ "$what" = all ]; then
	echo "unit tests:"
	for b in $(find "$BUILD/tests/unit" -type f -name '*_test' | sort); do
		run_bin "$b"
	done
fi

if [ "$what" = integration ] || [ "$what" = all ]; then
	if [ -z "${TEST_PG_DSN:-}" ]; then
		TEST_PG_DSN=$(tests/pg.sh start "$TOP_DIR/$BUILD/pg") || {
			echo "tests: cannot start the test PostgreSQL" >&2
			exit 1
		}
		pg_started=1
	fi
	export TEST_PG_DSN
	rm -rf "$TOP_DIR/$BUILD/capture"
	mkdir -p "$TOP_DIR/$BUILD/capture"
	echo "integration tests (PostgreSQL: $TEST_PG_DSN):"
	for b in $(find "$BUILD/tests/integration" -type f -name '*_test' |
	    sort); do
		run_bin "$b"
	done
fi

if [ "$what" = conformance ] || [ "$what" = all ]; then
	echo "conformance with the providers' client libraries:"
	run_bin tests/conformance/run.sh
fi

echo
[ -n "$failed_bins" ] && echo "failed:$failed_bins"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
