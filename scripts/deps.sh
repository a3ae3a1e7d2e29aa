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
	# openssl: bus_tls_test makes its certificates with
	# scripts/bus-certs.sh
	want="$want prometheus docker-compose openssl"
	# Any kubectl will do for `kubectl kustomize`; Debian's is
	# kubernetes-client.
	command -v kubectl >/dev/null 2>&1 || want="$want kubernetes-client"
fi

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

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
