#!/bin/sh
# A throwaway PostgreSQL cluster for tests, from Debian's own binaries.
#
#   tests/pg.sh start DIR    initdb (once) and start; prints the DSN on stdout
#   tests/pg.sh stop DIR     fast shutdown (waits)
#   tests/pg.sh kill DIR     immediate shutdown, like a crash (no checkpoint)
#   tests/pg.sh status DIR   exit 0 if running, 3 if not, 4 if no cluster
#
# Data lives in DIR/data, the server log in DIR/postgres.log.  The server
# listens only on a Unix socket in DIR (no TCP), trusts local connections,
# keeps fsync on and allows 200 connections.  initdb refuses to run as root,
# so as root DIR is handed to the "postgres" system user (created by Debian's
# postgresql package) and the server runs as that user.
set -eu

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: tests/pg.sh start|stop|kill|status DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# Newest installed major version, e.g. /usr/lib/postgresql/15/bin.
bindir=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
	[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && bindir=$d
done
[ -n "$bindir" ] || die "no PostgreSQL server binaries under" \
	"/usr/lib/postgresql/*/bin (apt-get install postgresql)"

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

absdir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

prepare_dir() {
	dir=$(absdir "$dir")
	# The socket path must fit in sun_path (107 bytes).
	[ ${#dir} -le 90 ] || die "$dir: path too long for a Unix socket"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 ||
			die "no 'postgres' user (is the postgresql package installed?)"
		chown postgres:postgres "$dir"
		chmod 0755 "$dir"
		runuser -u postgres -- test -w "$dir" ||
			die "$dir: not reachable by user postgres" \
				"(a parent directory lacks o+x)"
	fi
}

pg_init() {
	[ -f "$dir/data/PG_VERSION" ] && return 0
	as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust \
		-E UTF8 --locale=C.UTF-8 --no-instructions \
		>"$dir/initdb.log" 2>&1 ||
		{
			cat "$dir/initdb.log" >&2
			die "initdb failed"
		}
	cat >>"$dir/data/postgresql.conf" <<EOF

# tests/pg.sh: private socket only, durable writes.
listen_addresses = ''
unix_socket_directories = '$dir'
unix_socket_permissions = 0777
max_connections = 200
fsync = on
synchronous_commit = on
logging_collector = off
log_min_messages = warning
EOF
}

pg_status() {
	[ -f "$dir/data/PG_VERSION" ] || return 4
	as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 ||
		return 3
	return 0
}

case $cmd in
start)
	prepare_dir
	pg_init
	if ! pg_status; then
		# cd: runuser keeps the cwd, which postgres may not be able to read
		(cd "$dir" && as_owner "$bindir/pg_ctl" -D "$dir/data" \
			-l "$dir/postgres.log" -w -t 60 start >/dev/null) ||
			{
				tail -n 20 "$dir/postgres.log" >&2 || true
				die "server did not start"
			}
	fi
	echo "host=$dir dbname=postgres user=postgres"
	;;
stop | kill)
	[ -d "$dir" ] || exit 0
	dir=$(cd "$dir" && pwd -P)
	pg_status || exit 0
	mode=fast
	[ "$cmd" = kill ] && mode=immediate
	(cd "$dir" && as_owner "$bindir/pg_ctl" -D "$dir/data" -m $mode \
		-w -t 60 stop >/dev/null)
	;;
status)
	[ -d "$dir" ] || exit 4
	dir=$(cd "$dir" && pwd -P)
	set +e
	pg_status
	rc=$?
	case $rc in
	0) echo "running" ;;
	3) echo "stopped" ;;
	*) echo "no cluster" ;;
	esac
	exit $rc
	;;
*)
	usage
	;;
esac
