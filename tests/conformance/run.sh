#!/bin/sh
# run.sh - the conformance test: what the daemons send to OpenAI, Anthropic
# and Twilio, type-checked against those providers' official client
# libraries (tests/conformance/README.md).
#
# Usage: BUILD=build/debug tests/conformance/run.sh
#
# Captures come from $SIM_CAPTURE_DIR (default $BUILD/capture), filled by
# the e2e integration tests that tests/run.sh runs with it set; when it is
# empty, this script fills it by running the demo and ai_e2e_test itself.
# Prints cmocka's summary lines so tests/run.sh counts the cases: one per
# kind of message that must have been captured, one per captured message,
# one per deliberately wrong message (which must fail).
set -u

BUILD=${BUILD:-build/debug}
TOP=$(pwd)
HERE=$TOP/tests/conformance
CAP=${SIM_CAPTURE_DIR:-$TOP/$BUILD/capture}
OUT=$TOP/$BUILD/conformance
TSC=$HERE/node_modules/.bin/tsc
passed=0
failed=0
failures=""

ok() { passed=$((passed + 1)); echo "[       OK ] $1"; }
bad() {
	failed=$((failed + 1))
	failures="$failures $1"
	echo "[  FAILED  ] $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /'
}
finish() {
	echo "[==========] $((passed + failed)) test(s) run."
	echo "[  PASSED  ] $passed test(s)."
	if [ "$failed" -gt 0 ]; then
		echo "[  FAILED  ] $failed test(s), listed below:"
		for f in $failures; do echo "[  FAILED  ] $f"; done
		exit 1
	fi
	exit 0
}

if [ ! -x "$TSC" ]; then
	bad setup "tests/conformance/node_modules is missing: run scripts/deps.sh test (npm ci)"
	finish
fi

# ---- captures: from the e2e tests, or a run of our own ----
mkdir -p "$CAP"
if ! ls "$CAP"/*.jsonl >/dev/null 2>&1; then
	echo "conformance: no captures in $CAP; running the demo and ai_e2e_test"
	# once more if it fails: on a shared box a port can be taken
	# between the demo's free_port and a daemon's bind
	for try in 1 2; do
		SIM_CAPTURE_DIR=$CAP DEMO_PG_DIR=$TOP/$BUILD/conformance-pg \
		    BUILD=$BUILD scripts/demo.sh >"$OUT.demo.log" 2>&1 && break
		[ "$try" = 2 ] &&
			bad capture-demo "scripts/demo.sh failed: see $OUT.demo.log"
	done
	SIM_CAPTURE_DIR=$CAP timeout 300 \
	    "$BUILD/tests/integration/ai_e2e_test" >"$OUT.ai_e2e.log" 2>&1 ||
		bad capture-ai_e2e "ai_e2e_test failed: see $OUT.ai_e2e.log"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
ln -s "$HERE/node_modules" "$OUT/node_modules"
if ! node "$HERE/gen.mjs" "$CAP" "$OUT" >"$OUT/gen.log" 2>&1; then
	bad generate "$(cat "$OUT/gen.log")"
	finish
fi
cat "$OUT/gen.log"

# ---- every kind of message the daemons send must have been seen ----
while read -r api kind; do
	[ -z "$api" ] && continue
	if grep -qx "$api $kind" "$OUT/kinds.txt"; then
		ok "captured $api $kind"
	else
		bad "captured:$api:$kind" "no $api $kind was captured (tests/conformance/expected-kinds.txt)"
	fi
done <<EOF
$(grep -v '^#' "$HERE/expected-kinds.txt")
EOF

# ---- the captured messages: all must compile, TwiML must match ----
cat >"$OUT/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "strict": true, "target": "es2022", "module": "nodenext",
    "moduleResolution": "nodenext", "skipLibCheck": true,
    "outDir": "js", "rootDir": "pos"
  },
  "include": ["pos/*.mts"]
}
EOF
(cd "$OUT" && "$TSC" -p tsconfig.json) >"$OUT/tsc.log" 2>&1
for f in "$OUT"/pos/*.mts; do
	name=$(basename "$f" .mts)
	errs=$(grep "^pos/$name.mts(" "$OUT/tsc.log")
	if [ -n "$errs" ]; then
		bad "$name" "$(sed -n 2,3p "$f" | cut -c1-200)
$errs"
		continue
	fi
	case $name in
	twiml.*)
		if ! out=$(node "$OUT/js/$name.mjs" 2>&1); then
			bad "$name" "$out"
			continue
		fi
		;;
	esac
	ok "$name"
done
# an error outside any one file (a broken import, say) fails the run too
if grep -v "^pos/" "$OUT/tsc.log" | grep -q "error"; then
	bad tsc "$(cat "$OUT/tsc.log")"
fi

# ---- the wrong ones: each must fail, naming the wrong property ----
for f in "$OUT"/neg/*.mts; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .mts)
	want=$(sed -n 's|^// expect: ||p' "$f" | head -n 1)
	mkdir -p "$OUT/n_$name"
	cp "$f" "$OUT/n_$name/"
	ln -s "$HERE/node_modules" "$OUT/n_$name/node_modules"
	sed -e 's|"outDir": "js", "rootDir": "pos"|"noEmit": true|' \
	    -e "s|pos/\\*.mts|$name.mts|" "$OUT/tsconfig.json" \
	    >"$OUT/n_$name/tsconfig.json"
	if (cd "$OUT/n_$name" && "$TSC" -p tsconfig.json) \
	    >"$OUT/n_$name/tsc.log" 2>&1; then
		bad "$name" "a wrong message ($want) type-checked"
	elif grep -q "error TS.*$want" "$OUT/n_$name/tsc.log"; then
		ok "$name is refused ($want)"
	else
		bad "$name" "refused, but not for $want: $(head -n 3 "$OUT/n_$name/tsc.log")"
	fi
done
[ -n "$(ls "$OUT"/neg/*.mts 2>/dev/null)" ] ||
	bad wrong-messages "no deliberately wrong message was generated"
finish
