#!/bin/sh
# bench/tls.sh - what TLS costs a 9mux link, in one run: a client 9mux
# dialing a server 9mux in front of 9ramfs over plain TCP, over TLS 1.3
# with a pre-shared key, and over TLS with -z 1024 on both sides, side by
# side: small-op round trip (p50) and sequential read throughput, each
# as a ratio to plain TCP; then the bytes an idle TLS link puts on the
# wire in an hour, without -Z (keep-alive pings only) and with -Z.
# Prints the command behind each figure; writes tls.dat and, with
# gnuplot, tls.png into ${NINEMUX_BUILD:-build}/bench/.
#
#	BENCH_SECONDS	seconds per run (1)
#	BENCH_REPEAT	runs per point, configurations taking turns (3): the median
#	BENCH_IDLE	seconds an idle link is watched (20)
#	BENCH_COVER	-Z of the cover-traffic run, ms (1000)
#
# Run by make bench; by hand: NINEMUX_BUILD=build sh bench/tls.sh
BUILD=${NINEMUX_BUILD:-build}
B=$BUILD/bin
OUT=$BUILD/bench
SECS=${BENCH_SECONDS:-1}
REPEAT=${BENCH_REPEAT:-3}
IDLE=${BENCH_IDLE:-20}
COVER=${BENCH_COVER:-1000}

for p in 9ramfs 9mux 9pload; do
	[ -x "$B/$p" ] || { echo "bench/tls.sh: no $B/$p: build first (make)" >&2; exit 1; }
done
command -v openssl >/dev/null 2>&1 || { echo "bench/tls.sh: no openssl to make a key" >&2; exit 1; }
mkdir -p "$OUT" || exit 1
T=$(mktemp -d /tmp/9mux-tls.XXXXXX) || exit 1
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

waitlog() {	# waitlog FILE PATTERN
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "bench/tls.sh: no '$2' in $1" >&2; cat "$1" >&2; exit 1; }
		sleep 0.05
	done
}
port() {	# port LOG: the tcp or tls port 9mux listens on
	grep 'listening on t[cl][ps]!127.0.0.1!0 (port' "$1" | sed 's/.*(port \([0-9]*\)).*/\1/' | head -n 1
}
median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
field() {	# field NAME: NAME=value of 9pload's line on standard input
	tr ' ' '\n' | sed -n "s/^$1=//p"
}

(umask 077; printf 'bench %s\n' "$(openssl rand -hex 32)" >"$T/psk")
"$B/9ramfs" -a "unix!$T/ram" 2>"$T/ram.err" &
pids="$pids $!"
# three servers: plain, TLS, TLS padded; and a client 9mux for each
"$B/9mux" -v -k 0 -a 'tcp!127.0.0.1!0' "unix!$T/ram" 2>"$T/s.tcp" &
pids="$pids $!"
"$B/9mux" -v -k 0 -S "$T/psk" -a 'tls!127.0.0.1!0' "unix!$T/ram" 2>"$T/s.tls" &
pids="$pids $!"
"$B/9mux" -v -k 0 -S "$T/psk" -z 1024 -a 'tls!127.0.0.1!0' "unix!$T/ram" 2>"$T/s.tlsz" &
pids="$pids $!"
# each server's own upstream up too: else, on a loaded machine, the first
# attach can come before the server has reached 9ramfs ("upstream not
# reachable yet")
for c in tcp tls tlsz; do waitlog "$T/s.$c" "listening on"; waitlog "$T/s.$c" "upstream unix!.* ready"; done
"$B/9mux" -v -k 0 -a "unix!$T/c.tcp" "tcp!127.0.0.1!$(port "$T/s.tcp")" 2>"$T/c.tcp.log" &
pids="$pids $!"
"$B/9mux" -v -k 0 -S "$T/psk" -a "unix!$T/c.tls" "tls!127.0.0.1!$(port "$T/s.tls")" 2>"$T/c.tls.log" &
pids="$pids $!"
"$B/9mux" -v -k 0 -S "$T/psk" -z 1024 -a "unix!$T/c.tlsz" "tls!127.0.0.1!$(port "$T/s.tlsz")" 2>"$T/c.tlsz.log" &
pids="$pids $!"
for c in tcp tls tlsz; do waitlog "$T/c.$c.log" "ready"; done
"$B/9pload" -q -a "unix!$T/c.tcp" -f /data -s 64m prep || exit 1

# point FIELD ARGS...: each configuration's median of REPEAT runs into $T/pt.CONF
point() {
	f=$1
	shift
	: >"$T/runs.tcp"; : >"$T/runs.tls"; : >"$T/runs.tlsz"
	r=0
	while [ $r -lt "$REPEAT" ]; do
		for c in tcp tls tlsz; do
			"$B/9pload" -a "unix!$T/c.$c" "$@" 2>/dev/null | field "$f" >>"$T/runs.$c"
		done
		r=$((r + 1))
	done
	for c in tcp tls tlsz; do median <"$T/runs.$c" >"$T/pt.$c"; done
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if(b > 0) printf "%.2f", a / b; else print "?" }'
}

echo "client 9mux -> server 9mux (-> 9ramfs) over plain TCP, TLS 1.3 with a pre-shared key, and TLS with -z 1024"
echo "1. small-op round trip, 1 client: p50"
echo "   command: 9pload -a ADDR -c 1 -d $SECS small"
point p50_us -c 1 -d "$SECS" small
p50tcp=$(cat "$T/pt.tcp"); p50tls=$(cat "$T/pt.tls"); p50z=$(cat "$T/pt.tlsz")
printf '   tcp %s us, tls %s us (%sx tcp), tls -z 1024 %s us (%sx tls)\n' "$p50tcp" "$p50tls" \
	"$(ratio "$p50tls" "$p50tcp")" "$p50z" "$(ratio "$p50z" "$p50tls")"
echo "2. sequential read, 1 client, 128 KiB messages"
echo "   command: 9pload -a ADDR -c 1 -d $SECS -m 131096 -f /data -s 64m read"
point MBps -c 1 -d "$SECS" -m 131096 -f /data -s 64m read
rtcp=$(cat "$T/pt.tcp"); rtls=$(cat "$T/pt.tls"); rz=$(cat "$T/pt.tlsz")
printf '   tcp %s MB/s, tls %s MB/s (%sx tcp), tls -z 1024 %s MB/s (%sx tls)\n' "$rtcp" "$rtls" \
	"$(ratio "$rtls" "$rtcp")" "$rz" "$(ratio "$rz" "$rtls")"

# bytes on the wire of an idle link, from the kernel's counters of its socket
wire() {	# wire PORT PID: bytes sent and received on PID's established connection to PORT; nothing if none
	ss -tinp state established "dport = :$1" 2>/dev/null | awk -v pid="pid=$2," '
		index($0, pid) { mine = 1; next }
		mine { for (i = 1; i <= NF; i++) { split($i, kv, ":")
			if (kv[1] == "bytes_acked" || kv[1] == "bytes_received") n += kv[2] }
			found = 1; mine = 0 }
		END { if (found) print n + 0 }'
}
idle() {	# idle ARGS: a TLS client 9mux with ARGS, idle for IDLE s: bytes an hour
	sp=$(port "$T/s.tls")
	"$B/9mux" -k 5 -S "$T/psk" "$@" -a "unix!$T/idle.sock" "tls!127.0.0.1!$sp" 2>"$T/idle.log" &
	ip=$!
	# its own connection only, once it is up and its handshake done
	_i=0
	while [ -z "$(wire "$sp" $ip)" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 100 ]; then
			echo "bench/tls.sh: the idle 9mux did not connect: $(tail -n 2 "$T/idle.log")" >&2
			kill $ip
			wait $ip 2>/dev/null
			echo "-"
			return
		fi
		sleep 0.05
	done
	sleep 1
	b0=$(wire "$sp" $ip)
	sleep "$IDLE"
	b1=$(wire "$sp" $ip)
	kill $ip
	wait $ip 2>/dev/null
	[ -n "$b1" ] || { echo "bench/tls.sh: the idle 9mux's connection went: $(tail -n 2 "$T/idle.log")" >&2; echo "-"; return; }
	awk -v a="$b0" -v b="$b1" -v s="$IDLE" 'BEGIN { printf "%.0f", (b - a) * 3600 / s }'
}
echo "3. bytes on the wire an idle TLS link sends and receives in an hour (watched $IDLE s; ss's counters)"
echo "   command: 9mux -k 5 [-Z $COVER] -S KEYS ... 'tls!...' left idle"
if command -v ss >/dev/null 2>&1; then
	hk=$(idle)
	hz=$(idle -Z "$COVER")
	hzz=$(idle -Z "$COVER" -z 1024)
	printf '   keep-alive only (-k 5): %s B/h; -Z %s: %s B/h; -Z %s -z 1024: %s B/h\n' "$hk" "$COVER" "$hz" "$COVER" "$hzz"
else
	echo "   (no ss: skipped)"
fi

{
	echo "# conf p50_us read_MBps"
	echo "tcp $p50tcp $rtcp"
	echo "tls $p50tls $rtls"
	echo "tls-z1024 $p50z $rz"
} >"$OUT/tls.dat"
if command -v gnuplot >/dev/null 2>&1; then
	gnuplot <<EOF
set terminal pngcairo size 800,400 noenhanced
set output "$OUT/tls.png"
set multiplot layout 1,2 title "what TLS costs a 9mux link (one run)"
set style data histograms
set style fill solid 0.6
set boxwidth 0.8
set yrange [0:*]
set title "small-op round trip p50, us"
plot "$OUT/tls.dat" using 2:xtic(1) notitle
set title "sequential read, MB/s"
plot "$OUT/tls.dat" using 3:xtic(1) notitle
unset multiplot
EOF
	echo "plot: $OUT/tls.png"
fi
echo "reproduce: NINEMUX_BUILD=$BUILD sh bench/tls.sh"
case "$hk $hz $hzz" in *-*) exit 1 ;; esac
