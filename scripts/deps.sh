#!/bin/sh
# deps.sh - make sure the Debian packages the build, the tests and the demo
# need are installed.  As root it installs what is missing with apt-get;
# otherwise it prints one line naming the missing packages and fails.
#
# Usage: scripts/deps.sh [build|test]
set -eu

want="libnng-dev libwebsockets-dev libprotobuf-c-dev protobuf-c-compiler
libcurl4-openssl-dev libpq-dev libssl-dev libjansson-dev libcmocka-dev
postgresql pkg-config"
if [ "${1:-build}" = test ]; then
	# openssl: the test certificates (bus_tls_test through
	# scripts/bus-certs.sh) and the TLS proxy of ops_doctor_test.
	want="$want prometheus docker-compose openssl"
	# make fuzz-targets (run by make test): clang with libFuzzer and the
	# sanitizer runtimes (Debian 12 ships them in libclang-rt-14-dev).
	want="$want clang libclang-rt-14-dev"
	# Any kubectl will do for `kubectl kustomize`; Debian's is
	# kubernetes-client.
	command -v kubectl >/dev/null 2>&1 || want="$want kubernetes-client"
	# The conformance test (tests/conformance) runs tsc and the
	# providers' npm packages; any Node >= 18 will do.
	command -v node >/dev/null 2>&1 || want="$want nodejs"
	command -v npm >/dev/null 2>&1 || want="$want npm"
	# The dashboard's browser test (tests/browser, e2e_dashboard_test)
	# drives a real headless Chromium through its DevTools protocol.
	want="$want chromium"
fi

# The providers' client libraries for tests/conformance, at the exact
# versions of its package-lock.json; again only when the lock changed.
conformance_deps() {
	d=tests/conformance
	if [ ! -f "$d/node_modules/.package-lock.json" ] ||
	    [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
		echo "deps: npm ci in $d" >&2
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error) ||
			{ echo "deps: npm ci failed in $d" >&2; exit 1; }
	fi
}

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	[ "${1:-build}" = test ] && conformance_deps
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh once if a lookup fails.
if ! apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	apt-get install -y --no-install-recommends $missing >/dev/null
fi
[ "${1:-build}" = test ] && conformance_deps
exit 0
