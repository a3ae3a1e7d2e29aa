#!/bin/sh
# bench-base.sh REV - run the audio-path bench on the build of REV, for a
# side-by-side comparison with this tree in the same session (`make bench
# BENCH_BASE=REV` runs this first, then the bench of this tree).
#
# REV's files are exported (git archive) to build/bench-base/<sha>/ (kept
# between runs: only its first build is slow) and built MODE=release there; this tree's scripts/bench.sh then drives its binaries with the same
# BENCH_CALLS / BENCH_SECONDS, so both runs print the same figures.
#
#   BENCH_CALLS=300 BENCH_SECONDS=20 scripts/bench-base.sh 4205a8e
set -eu

[ $# -eq 1 ] || { echo "usage: bench-base.sh REV" >&2; exit 2; }
sha=$(git rev-parse --verify "$1^{commit}")
dir=$(pwd)/build/bench-base/$sha
if [ ! -f "$dir/Makefile" ]; then
	mkdir -p "$dir"
	git archive "$sha" | tar -x -C "$dir"
fi
# deps/proto race under -j on a fresh tree (README): build it serially.
make -C "$dir" --no-print-directory -j1 MODE=release all >/dev/null
echo "== base $1 ($(git rev-parse --short "$sha"))"
BENCH_BIN=$dir/build/release/bin scripts/bench.sh
echo "== this tree ($(git rev-parse --short HEAD))"
