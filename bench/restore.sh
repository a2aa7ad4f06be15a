#!/bin/sh
# bench/restore.sh - reconnect (9mux -P): how long 9mux takes to restore
# many open fids after the upstream connection is cut, and how many
# messages it sends for them.
#
# 9ramfs behind 9pload's relay behind 9mux -P 60; 9pload open holds
# CLIENTS sessions of FIDS fids each, walked to one file and open; the
# relay is killed and started again (the server keeps its files), and
# then 9pload reads a byte through every fid.  Reported: the restore as
# 9mux times it (from the new connection's Rversion until every fid is
# back: attaches, walks and opens), the messages it sent, and from the
# cut until every fid had read again (which includes 9mux's first
# redial, 1 s after a loss).
#
#	RESTORE_CLIENTS	sessions (100)
#	RESTORE_FIDS	open fids each (100): 10,000 in all
#	RESTORE_REPEAT	cuts, each measured (3)
#
# By hand: NINEMUX_BUILD=build sh bench/restore.sh
BUILD=${NINEMUX_BUILD:-build}
B=$BUILD/bin
C=${RESTORE_CLIENTS:-100}
F=${RESTORE_FIDS:-100}
REPEAT=${RESTORE_REPEAT:-3}

for p in 9ramfs 9mux 9pload; do
	[ -x "$B/$p" ] || { echo "bench/restore.sh: no $B/$p: build first (make)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/restore-bench.XXXXXX) || exit 1
pids=
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	exec 3>&- 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

waitsock() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "bench/restore.sh: $1 never appeared" >&2; exit 1; }
		sleep 0.05
	done
}
# waitline FILE PATTERN N: FILE has N lines matching PATTERN (within 120 s)
waitline() {
	i=0
	while [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -lt "$3" ]; do
		i=$((i + 1))
		[ $i -gt 2400 ] && { echo "bench/restore.sh: no \"$2\" in $1" >&2; sed 's/^/  /' "$1" >&2; exit 1; }
		sleep 0.05
	done
}
ms() {
	date +%s%3N
}

"$B/9ramfs" -a "unix!$T/ram.sock" 2>"$T/ram.log" &
pids="$pids $!"
waitsock "$T/ram.sock"
"$B/9pload" relay "unix!$T/relay.sock" "unix!$T/ram.sock" 2>"$T/relay.log" &
relay=$!
waitsock "$T/relay.sock"
"$B/9mux" -v -P 60 -f $((F + 16)) -a "unix!$T/mux.sock" "unix!$T/relay.sock" 2>"$T/mux.log" &
pids="$pids $!"
waitsock "$T/mux.sock"
mkfifo "$T/go"
"$B/9pload" -a "unix!$T/mux.sock" -c "$C" -n "$F" -f /restore -s 4k open <"$T/go" >"$T/load.out" 2>&1 &
load=$!
pids="$pids $load"
exec 3>"$T/go"
waitline "$T/load.out" "op=open" 1

echo "restore benchmark: $(nproc 2>/dev/null || echo '?') cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(grep op=open "$T/load.out")"
echo "each cut: the relay between 9mux -P and 9ramfs killed and started again"
printf '%-6s %-10s %-14s %-12s %s\n' cut fids restore_ms messages cut_to_all_read_ms
k=1
while [ "$k" -le "$REPEAT" ]; do
	t0=$(ms)
	kill "$relay"
	wait "$relay" 2>/dev/null
	"$B/9pload" relay "unix!$T/relay.sock" "unix!$T/ram.sock" 2>>"$T/relay.log" &
	relay=$!
	if [ "$k" -eq "$REPEAT" ]; then
		# the last cut: every fid reads again, timed from the cut
		echo >&3
		waitline "$T/load.out" "op=reread" 1
		t1=$(ms)
		all=$((t1 - t0))
	else
		all=-
	fi
	waitline "$T/mux.log" "restored:" "$k"
	line=$(grep "restored:" "$T/mux.log" | sed -n "${k}p")
	fids=$(printf '%s\n' "$line" | sed -n 's/.*restored: \([0-9]*\) fids restored.*/\1/p')
	msgs=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) messages.*/\1/p')
	took=$(printf '%s\n' "$line" | sed -n 's/.*; in \([0-9.]*\) ms.*/\1/p')
	printf '%-6s %-10s %-14s %-12s %s\n' "$k" "$fids" "$took" "$msgs" "$all"
	k=$((k + 1))
done
kill "$relay" 2>/dev/null
grep -q "errors=0" "$T/load.out" || { echo "bench/restore.sh: reads failed after the restore:" >&2; cat "$T/load.out" >&2; exit 1; }
echo "$(grep op=reread "$T/load.out")"
echo "reproduce: RESTORE_CLIENTS=$C RESTORE_FIDS=$F RESTORE_REPEAT=$REPEAT NINEMUX_BUILD=$BUILD sh bench/restore.sh"
