#!/bin/sh
# run.sh - run libFuzzer targets built by `make fuzz-targets`.
#
# Usage: tests/fuzz/run.sh SECONDS [name...]   (default: every target)
#
# Each target starts from its seed corpus tests/fuzz/corpus/<name>/ (read
# only: every file there is replayed first, so a kept finding fails at
# once) and writes what it learns to $BUILD/fuzz-work/<name>/.  A crash,
# leak, sanitizer report, timeout or differential mismatch is written to
# $BUILD/findings/<name>-*, the target's log to $BUILD/fuzz-logs/<name>.log.
# tests/fuzz/<name>.dict is passed as a dictionary and tests/fuzz/<name>.flags
# as more libFuzzer flags.  One line per target; exits 1 if any target found
# something.
set -u

BUILD=${BUILD:-build/fuzz}
case "$BUILD" in */fuzz) ;; *) BUILD=build/fuzz ;; esac
secs=${1:?usage: tests/fuzz/run.sh SECONDS [name...]}
shift
names="$*"
if [ -z "$names" ]; then
	for b in "$BUILD"/tests/fuzz/*_fuzz; do
		[ -x "$b" ] && names="$names $(basename "$b" _fuzz)"
	done
fi
[ -n "$names" ] || { echo "fuzz: no targets in $BUILD/tests/fuzz" >&2; exit 1; }
mkdir -p "$BUILD/findings" "$BUILD/fuzz-logs"
rc=0
for n in $names; do
	bin=$BUILD/tests/fuzz/${n}_fuzz
	seeds=tests/fuzz/corpus/$n
	work=$BUILD/fuzz-work/$n
	log=$BUILD/fuzz-logs/$n.log
	mkdir -p "$work"
	extra=""
	[ -f "tests/fuzz/$n.dict" ] && extra="-dict=tests/fuzz/$n.dict"
	[ -f "tests/fuzz/$n.flags" ] && extra="$extra $(cat "tests/fuzz/$n.flags")"
	start=$(date +%s)
	# The outer timeout only guards against a hang libFuzzer cannot see.
	timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" \
	    -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
	    -print_final_stats=1 -artifact_prefix="$BUILD/findings/$n-" \
	    $extra "$work" "$seeds" >"$log" 2>&1
	st=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	t=$(( $(date +%s) - start ))
	if [ "$st" -eq 0 ]; then
		printf '  PASS    fuzz.%-43s %9s runs %4ds\n' "$n" "${runs:-?}" "$t"
	else
		printf '  FAIL    fuzz.%-43s rc=%d  %4ds  (log: %s)\n' "$n" \
		    "$st" "$t" "$log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz: |artifact_prefix|Test unit written)' \
		    "$log" | head -n 20 | sed 's/^/    | /'
		rc=1
	fi
done
exit $rc
