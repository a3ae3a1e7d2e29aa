#!/bin/sh
# bus-certs.sh - a private CA and one certificate per daemon for the bus
# (tls+tcp:// with client certificates; docs/security.md).
#
# Usage: scripts/bus-certs.sh [-f] [-k] [-n NAMESPACE] [-s NAME]... [-D DAYS] DIR [PEER...]
#
# Writes into DIR (created, mode 700):
#	ca.crt ca.key		the bus CA: made once, reused when present, so
#				adding or renewing one peer keeps every other
#				certificate valid
#	PEER.crt PEER.key	for each PEER (default: the five daemons and
#				callctl), signed by ca.key; kept when present
#				unless -f (renewal)
# Each certificate is good for both ends of a connection (serverAuth and
# clientAuth) and names, as DNS subjectAltNames, PEER and PEER-pods (the
# headless service of media-edge and ai-session), plus with -n NAMESPACE
# PEER.NAMESPACE.svc and PEER.NAMESPACE.svc.cluster.local, plus every -s
# NAME (e.g. -s localhost for a one-host run).  Keys are ECDSA P-256.
# DAYS (default 397) is the certificates' lifetime; the CA gets ten times
# that.  With -k, also print on stdout one Kubernetes Secret per PEER,
# "bus-tls-PEER" (type kubernetes.io/tls: tls.crt, tls.key and ca.crt, the
# keys cert-manager writes too), in NAMESPACE when -n is given.
#
#	scripts/bus-certs.sh secrets/bus		# compose.yaml
#	scripts/bus-certs.sh -k -n callbridge DIR | kubectl apply -f -
#
# Private keys are written 600; the operator copies them into the Secret
# or compose secret and nowhere else.  ca.key signs every peer: keep it
# offline once the certificates are made.
set -eu

DAYS=397
NS=
FORCE=0
K8S=0
SANS=
usage() {
	echo "usage: $0 [-f] [-k] [-n NAMESPACE] [-s NAME]... [-D DAYS] DIR [PEER...]" >&2
	exit 64
}
while getopts fkn:s:D: opt; do
	case $opt in
	f) FORCE=1 ;;
	k) K8S=1 ;;
	n) NS=$OPTARG ;;
	s) SANS="$SANS $OPTARG" ;;
	D) DAYS=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
DIR=$1
shift
PEERS=${*:-media-edge ai-session reasoner rate-limiter persister callctl}
case $DAYS in
'' | *[!0-9]*) usage ;;
esac
command -v openssl >/dev/null || {
	echo "bus-certs: openssl is not installed" >&2
	exit 69
}

mkdir -p "$DIR"
chmod 700 "$DIR"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -s "$DIR/ca.key" ] || [ ! -s "$DIR/ca.crt" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$DIR/ca.key" -out "$DIR/ca.crt" \
	    -days $((DAYS * 10)) -subj "/CN=callbridge bus CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$tmp/err" || {
		cat "$tmp/err" >&2
		exit 1
	}
	chmod 644 "$DIR/ca.crt"
	echo "bus-certs: new CA $DIR/ca.crt" >&2
fi

for p in $PEERS; do
	case $p in
	'' | *[!a-z0-9-]*)
		echo "bus-certs: $p: peer names are lower-case DNS labels" >&2
		exit 64
		;;
	esac
	if [ "$FORCE" -eq 0 ] && [ -s "$DIR/$p.crt" ] && [ -s "$DIR/$p.key" ]; then
		continue
	fi
	san="DNS:$p,DNS:$p-pods"
	if [ -n "$NS" ]; then
		san="$san,DNS:$p.$NS.svc,DNS:$p.$NS.svc.cluster.local"
		san="$san,DNS:$p-pods.$NS.svc,DNS:$p-pods.$NS.svc.cluster.local"
	fi
	for s in $SANS; do
		san="$san,DNS:$s"
	done
	cat >"$tmp/ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
EOF
	if ! { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$tmp/key" -out "$tmp/csr" -subj "/CN=$p" 2>"$tmp/err" &&
	    openssl x509 -req -in "$tmp/csr" -CA "$DIR/ca.crt" \
	        -CAkey "$DIR/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
	        -days "$DAYS" -extfile "$tmp/ext" -out "$tmp/crt" 2>"$tmp/err"; }
	then
		cat "$tmp/err" >&2
		exit 1
	fi
	mv "$tmp/key" "$DIR/$p.key"
	mv "$tmp/crt" "$DIR/$p.crt"
	chmod 644 "$DIR/$p.crt"
	echo "bus-certs: $DIR/$p.crt ($san)" >&2
done

# -k: the Secrets, one YAML document each.
[ "$K8S" -eq 1 ] || exit 0
b64() {
	base64 -w0 <"$1"
}
for p in $PEERS; do
	echo "---"
	echo "apiVersion: v1"
	echo "kind: Secret"
	echo "metadata:"
	echo "  name: bus-tls-$p"
	[ -z "$NS" ] || echo "  namespace: $NS"
	echo "  labels: {app.kubernetes.io/part-of: callbridge}"
	echo "type: kubernetes.io/tls"
	echo "data:"
	echo "  tls.crt: $(b64 "$DIR/$p.crt")"
	echo "  tls.key: $(b64 "$DIR/$p.key")"
	echo "  ca.crt: $(b64 "$DIR/ca.crt")"
done
