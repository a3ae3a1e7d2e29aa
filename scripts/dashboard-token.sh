#!/bin/sh
# dashboard-token.sh - make a read-only sign-in token for media-edge's
# dashboard (docs/security.md, "The dashboard").
#
# Usage: EDGE_DASHBOARD_SECRET_FILE=/run/secrets/edge_dashboard_secret \
#            scripts/dashboard-token.sh [SECONDS]
#   (or EDGE_DASHBOARD_SECRET in the environment).  SECONDS: lifetime,
#   default 86400; media-edge refuses a token that lives longer than its
#   EDGE_DASHBOARD_TOKEN_MAX_TTL_S.  Prints the token on stdout.
# The key is on openssl's command line (hex) while it runs: use a
# machine whose process list only you can read.
set -eu

ttl=${1:-86400}
case $ttl in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
if [ -n "${EDGE_DASHBOARD_SECRET_FILE:-}" ]; then
	secret=$(cat "$EDGE_DASHBOARD_SECRET_FILE")
else
	secret=${EDGE_DASHBOARD_SECRET:-}
fi
[ ${#secret} -ge 16 ] || { echo "$0: EDGE_DASHBOARD_SECRET(_FILE): at least 16 bytes" >&2; exit 1; }
scope=dashboard:read
exp=$(( $(date +%s) + ttl ))
msg="dsh1.$scope.$exp"
hex=$(printf '%s' "$secret" | od -An -v -tx1 | tr -d ' \n')
mac=$(printf '%s' "$msg" | openssl mac -digest SHA256 -macopt "hexkey:$hex" -in /dev/stdin HMAC |
	tr 'A-F' 'a-f')
echo "$msg.$mac"
