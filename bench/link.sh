#!/bin/sh
# bench/link.sh - the small-op round trip through a peer link, in each
# direction, beside the same path without one, in one run.  A "server"
# 9mux in front of its 9ramfs accepts a link (-l) from a "laptop" 9mux
# (-e) that exports its own 9ramfs; the server's clients reach the
# laptop's files over the link (-r) and the laptop's clients the server's.
# Beside them: the server's 9ramfs directly, through one 9mux, and
# through two 9mux joined by plain TCP (a client 9mux whose upstream is
# a server 9mux: the hops of a link without the link).  Every client
# speaks 9P2000.L (the laptop exports 9ramfs, which the link offers in
# 9P2000.L), so every path carries the same messages.  Prints the
# command behind each figure; writes link.dat and, with gnuplot,
# link.png into ${NINEMUX_BUILD:-build}/bench/.
#
#	BENCH_SECONDS	seconds per run (1)
#	BENCH_REPEAT	runs per point, the configurations taking turns (3): the median
#
# Run by make bench; by hand: NINEMUX_BUILD=build sh bench/link.sh
# shellcheck disable=SC2034 # NAME is for lib/common.sh
NAME="link"
# shellcheck source=bench/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
need 9ramfs 9mux 9pload
status=0
V="-V 9P2000.L"

port() {	# port LOG: the TCP port a 9mux logged it listens on
	sed -n 's/.*listening on tcp!127\.0\.0\.1!0 (port \([0-9]*\)).*/\1/p' "$1" | head -n 1
}

"$B/9ramfs" -S 1g -a "unix!$T/ramS" 2>"$T/ramS.log" &
pids="$pids $!"
waitsock "$T/ramS" $!
"$B/9ramfs" -S 1g -a "unix!$T/ramL" 2>"$T/ramL.log" &
pids="$pids $!"
waitsock "$T/ramL" $!
# one hop
"$B/9mux" $V -k 0 -a "unix!$T/mux" "unix!$T/ramS" 2>"$T/mux.log" &
pids="$pids $!"
waitsock "$T/mux" $!
# two hops over TCP, no link
"$B/9mux" -v $V -k 0 -a 'tcp!127.0.0.1!0' "unix!$T/ramS" 2>"$T/chainS.log" &
pids="$pids $!"
waitlog "$T/chainS.log" "listening on"
"$B/9mux" $V -k 0 -a "unix!$T/chain" "tcp!127.0.0.1!$(port "$T/chainS.log")" 2>"$T/chainC.log" &
pids="$pids $!"
waitsock "$T/chain" $!
# the link: the server listens for it, the laptop dials it
"$B/9mux" -v $V -k 0 -l 'tcp!127.0.0.1!0' -r "unix!$T/tolaptop" -a "unix!$T/server" "unix!$T/ramS" \
    2>"$T/linkS.log" &
pids="$pids $!"
waitlog "$T/linkS.log" "for links"
lport=$(port "$T/linkS.log")
"$B/9mux" -v $V -k 0 -a "unix!$T/toserver" -e "unix!$T/ramL" "tcp!127.0.0.1!$lport" 2>"$T/linkL.log" &
pids="$pids $!"
waitlog "$T/linkL.log" "upstream tcp!127.0.0.1!$lport ready"
waitlog "$T/linkS.log" "link.* ready"

CONFIGS="direct 9mux tcp-chain link-up link-down"
addr() {
	case $1 in
	direct)		echo "unix!$T/ramS" ;;
	9mux)		echo "unix!$T/mux" ;;
	tcp-chain)	echo "unix!$T/chain" ;;
	link-up)	echo "unix!$T/toserver" ;;
	link-down)	echo "unix!$T/tolaptop" ;;
	esac
}

echo "link benchmark: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each point: the median of $REPEAT runs of $SECS s, the configurations taking turns"
echo "servers (DIR is $T, removed at exit):"
echo "  9ramfs -S 1g -a unix!DIR/ramS; 9ramfs -S 1g -a unix!DIR/ramL          (the server's, the laptop's)"
echo "  direct:    ADDR=unix!DIR/ramS"
echo "  9mux:      9mux $V -k 0 -a unix!DIR/mux unix!DIR/ramS"
echo "  tcp-chain: 9mux $V -k 0 -a tcp!127.0.0.1!0 unix!DIR/ramS; 9mux $V -k 0 -a unix!DIR/chain tcp!127.0.0.1!PORT"
echo "  link:      9mux $V -k 0 -l tcp!127.0.0.1!0 -r unix!DIR/tolaptop -a unix!DIR/server unix!DIR/ramS"
echo "             9mux $V -k 0 -a unix!DIR/toserver -e unix!DIR/ramL tcp!127.0.0.1!PORT"
echo "    link-up:   the laptop's clients to the server's 9ramfs, ADDR=unix!DIR/toserver"
echo "    link-down: the server's clients to the laptop's 9ramfs over the link, ADDR=unix!DIR/tolaptop"
echo
echo "small-op round trip, 1 client (walk, getattr, clunk: each one round trip)"
echo "   command: 9pload $V -a ADDR -c 1 -d $SECS small"

for c in $CONFIGS; do
	"$B/9pload" $V -a "$(addr $c)" -c 2 -d 0.2 small >/dev/null 2>>"$T/9pload.err" ||
	    { echo "bench/link.sh: 9pload against $c failed: $(tail -n 2 "$T/9pload.err")" >&2; status=1; }
	: >"$T/pt.$c"
done
r=0
while [ $r -lt "$REPEAT" ]; do
	for c in $CONFIGS; do
		l=$("$B/9pload" $V -a "$(addr $c)" -c 1 -d "$SECS" small 2>>"$T/9pload.err")
		[ -n "$l" ] && echo "$(field p50_us "$l") $l" >>"$T/pt.$c"
	done
	r=$((r + 1))
done
for c in $CONFIGS; do
	sort -n "$T/pt.$c" | awk '{ v[NR] = $0 } END { if (NR > 0) { l = v[int((NR + 1) / 2)]; sub(/^[^ ]* /, "", l); print l } }' >"$T/med.$c"
done
p50_9mux=$(field p50_us "$(cat "$T/med.9mux")")
p50_tcp_chain=$(field p50_us "$(cat "$T/med.tcp-chain")")
p50_link_up=$(field p50_us "$(cat "$T/med.link-up")")
p50_link_down=$(field p50_us "$(cat "$T/med.link-down")")
hr
printf '%-10s %10s %10s %10s %12s %12s\n' config p50_us p99_us ops/s "p50/9mux" "p50/chain"
hr
echo "config p50_us p99_us" >"$T/link.dat"
for c in $CONFIGS; do
	l=$(cat "$T/med.$c")
	p50=$(field p50_us "$l")
	p99=$(field p99_us "$l")
	printf '%-10s %10s %10s %10s %12s %12s\n' "$c" "${p50:--}" "${p99:--}" "$(field ops_per_s "$l")" \
	    "$(ratio "$p50" "$p50_9mux")" "$(ratio "$p50" "$p50_tcp_chain")"
	echo "$c ${p50:-0} ${p99:-0}" >>"$T/link.dat"
done
cp "$T/link.dat" "$OUT/link.dat"
echo "(p50/chain: the link against the same two 9mux hops over TCP without a link)"
summary 70 "small-op p50 over a peer link, laptop to server / two 9mux hops over TCP" \
    "$p50_link_up / $p50_tcp_chain us = $(ratio "$p50_link_up" "$p50_tcp_chain")x" "" ""
summary 71 "small-op p50 over a peer link, server to laptop / two 9mux hops over TCP" \
    "$p50_link_down / $p50_tcp_chain us = $(ratio "$p50_link_down" "$p50_tcp_chain")x" "" ""

if command -v gnuplot >/dev/null 2>&1; then
	gnuplot <<EOF 2>"$T/gnuplot.err" || { echo "bench/link.sh: gnuplot failed: $(head -n 3 "$T/gnuplot.err")" >&2; status=1; }
set terminal pngcairo size 900,560 font "sans,11" noenhanced
set output "$OUT/link.png"
set grid ytics
set key top left autotitle columnhead
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set title "small-op round trip, 1 client: through a peer link and without one"
set ylabel "microseconds (log scale)"
plot "$OUT/link.dat" using 2:xtic(1) title "p50", "" using 3 title "p99"
EOF
	[ -s "$OUT/link.png" ] && echo "plot: $OUT/link.png"
fi
echo "reproduce: NINEMUX_BUILD=$BUILD sh bench/link.sh"
exit $status
