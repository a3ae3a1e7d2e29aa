#!/bin/sh
# gen-ipc-doc.sh - the message reference of docs/ipc.md, from proto/bus.proto.
#
# Usage: scripts/gen-ipc-doc.sh [PROTO]   (default proto/bus.proto)
#
# Prints Markdown: the envelope's fields, every message type of the body
# oneof (the name callctl uses, e.g. `callctl req persister call_open`),
# then each message with its fields, numbers and the .proto comments, and
# each enum.  docs/ipc.md holds this output between the lines
# "<!-- BEGIN generated: scripts/gen-ipc-doc.sh -->" and "<!-- END generated -->";
# tests/integration/ops_deploy_test.c fails when they differ.
set -eu

proto=${1:-proto/bus.proto}
[ -r "$proto" ] || { echo "gen-ipc-doc: cannot read $proto" >&2; exit 1; }

awk '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function md(s) {
	gsub(/\|/, "\\|", s)
	gsub(/</, "\\&lt;", s)
	return s
}
# A field line: "  [repeated] type name = N;  // comment"
function field(line, cmt,    f, n, parts, num, type, name, rest) {
	rest = line
	sub(/;.*/, "", rest)
	n = split(rest, parts, "=")
	num = trim(parts[2])
	f = trim(parts[1])
	name = f; sub(/.*[ \t]/, "", name)
	type = f; sub(/[ \t]+[A-Za-z_0-9]+$/, "", type)
	return sprintf("| `%s` | %s | `%s` | %s |", name, num, type, md(cmt))
}
BEGIN { depth = 0; nmsg = 0 }
{
	line = $0
	cmt = ""
	if (index(line, "//") > 0) {
		cmt = trim(substr(line, index(line, "//") + 2))
		line = substr(line, 1, index(line, "//") - 1)
	}
	t = trim(line)
}
# A comment-only line continues the previous field comment.
t == "" && cmt != "" && depth > 0 && last != "" {
	# Not sub(): an "&" in the comment would stand for the match.
	b = body[cur, nrow[cur]]
	body[cur, nrow[cur]] = substr(b, 1, length(b) - 2) " " md(cmt) " |"
	next
}
t == "" { next }
/^[ \t]*message[ \t]/ && depth == 0 {
	split(t, w, /[ \t{]+/)
	cur = w[2]; order[++nmsg] = cur; nrow[cur] = 0; mcmt[cur] = cmt
	kind[cur] = "message"
	depth = 1
	if (t ~ /\{\}$/ || t ~ /\{[ \t]*\}$/) { depth = 0 }
	last = ""
	next
}
/^[ \t]*enum[ \t]/ {
	split(t, w, /[ \t{]+/)
	en = (depth == 0) ? w[2] : cur "." w[2]
	order[++nmsg] = en; kind[en] = "enum"; nrow[en] = 0; mcmt[en] = cmt
	saved = cur; cur = en
	depth++
	inenum = depth
	last = ""
	next
}
/^[ \t]*oneof[ \t]/ { depth++; inoneof = depth; next }
t ~ /^\}/ {
	if (inenum == depth) { inenum = 0; cur = saved }
	if (inoneof == depth) inoneof = 0
	depth--
	last = ""
	next
}
inenum && depth == inenum {
	split(t, w, /[ \t=;]+/)
	body[cur, ++nrow[cur]] = sprintf("| `%s` | %s | %s |", w[1], w[2], md(cmt))
	last = cur
	next
}
# The body oneof of the Envelope lists the message types; a oneof in any
# other message (BatchItem.item) is listed with the fields of its message.
inoneof && cur == "Envelope" {
	split(t, w, /[ \t=;]+/)
	types[++ntypes] = sprintf("| `%s` | %s | [%s](#%s) |", w[2], w[3], w[1], tolower(w[1]))
	next
}
depth >= 1 && t ~ /=/ {
	body[cur, ++nrow[cur]] = field(t, cmt)
	last = cur
	next
}
END {
	print "### Message types"
	print ""
	print "The `body` of the envelope is exactly one of these.  The first column is"
	print "the name `callctl req` and `callctl tap --type` take and print."
	print ""
	print "| type | field | message |"
	print "|---|---|---|"
	for (i = 1; i <= ntypes; i++) print types[i]
	for (i = 1; i <= nmsg; i++) {
		m = order[i]
		print ""
		print "### " m
		print ""
		if (mcmt[m] != "") { print md(mcmt[m]); print "" }
		if (nrow[m] == 0) { print "No fields."; continue }
		if (kind[m] == "enum") {
			print "| value | number | meaning |"
			print "|---|---|---|"
		} else {
			print "| field | number | type | meaning |"
			print "|---|---|---|---|"
		}
		for (j = 1; j <= nrow[m]; j++) print body[m, j]
	}
}' "$proto"
