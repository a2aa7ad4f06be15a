#!/bin/sh
# bench/9mux.sh - 9mux against the same 9ramfs reached directly and through
# an ideal one-hop byte relay (and plan9port's 9pserve when NINEPSERVE names
# it), every configuration measured side by side in this one run.  Prints
# tables with ratios and the command behind each, writes .dat files and,
# when gnuplot is there, PNG plots into ${NINEMUX_BUILD:-build}/bench/.
# With BENCH_UPSTREAM=diod the server is Debian's diod instead (9P2000.L,
# a worker pool per connection; bench/diod.sh): the round trip, the
# sequential and the small-op tables, files named diod-*.
#
#	BENCH_SECONDS	seconds per run (1)
#	BENCH_REPEAT	runs per point, the configurations taking turns (3);
#			each point reports the run with the median result
#	BENCH_SESSIONS	idle sessions for the memory test (10000)
#	BENCH_CLIENTS	client counts for small-op throughput ("1 16 64 256";
#			with diod "1 16 64")
#	BENCH_UPSTREAM	the server: 9ramfs (the default) or diod
#	NINEPSERVE	path of plan9port's 9pserve, to include it
#	BENCH_NICE	a niceness for the whole run (e.g. -10, as root) so that
#			other work on a shared machine disturbs it less
#	NINEMUX_ALT	path of another 9mux (a change being tried), measured
#			as the configuration "alt" beside this build's
#	BENCH_9PSERVE_SESSIONS	idle sessions for 9pserve, which opens about
#			300 a second (2000)
#
# Run by make bench; by hand: NINEMUX_BUILD=build sh bench/9mux.sh
BUILD=${NINEMUX_BUILD:-build}
B=$BUILD/bin
OUT=$BUILD/bench
SECS=${BENCH_SECONDS:-1}
REPEAT=${BENCH_REPEAT:-3}
SESSIONS=${BENCH_SESSIONS:-10000}
PSESSIONS=${BENCH_9PSERVE_SESSIONS:-2000}
STREAMMSIZE=1048600	# 1 MiB of data per Rread for the streaming client
UPSTREAM=${BENCH_UPSTREAM:-9ramfs}
case $UPSTREAM in
9ramfs)
	CLIENTS=${BENCH_CLIENTS:-"1 16 64 256"}
	PRE=9mux	# the .dat and .png files' prefix
	SKEY=0		# make bench's summary: 9ramfs's rows first, then diod's
	;;
diod)
	CLIENTS=${BENCH_CLIENTS:-"1 16 64"}
	PRE=diod
	SKEY=5
	DIOD=$(command -v diod || ls /usr/sbin/diod 2>/dev/null)
	if [ -z "$DIOD" ]; then
		echo "bench/9mux.sh: no diod, so no diod rows (apt-get install diod)"
		exit 0
	fi
	;;
*)
	echo "bench/9mux.sh: BENCH_UPSTREAM is 9ramfs or diod, not $UPSTREAM" >&2
	exit 2
	;;
esac

for p in 9ramfs 9mux 9pload; do
	[ -x "$B/$p" ] || { echo "bench/9mux.sh: no $B/$p: build first (make)" >&2; exit 1; }
done
mkdir -p "$OUT" || exit 1
# everything started from here on inherits it
[ -n "$BENCH_NICE" ] && { renice -n "$BENCH_NICE" -p $$ >/dev/null || exit 1; }
# 10,000 sessions are 10,000 descriptors in 9mux and in 9pload
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

T=$(mktemp -d /tmp/9mux-bench.XXXXXX) || exit 1
pids=
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

status=0
fail() {
	echo "bench/9mux.sh: $*" >&2
	status=1
}

waitsock() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "bench/9mux.sh: $1 never appeared" >&2; exit 1; }
		sleep 0.05
	done
}

# The pid of the process whose command line holds every word given.
findpid() {
	for d in /proc/[0-9]*; do
		{ c=$(tr '\0' ' ' <"$d/cmdline"); } 2>/dev/null || continue
		m=1
		for w in "$@"; do
			case $c in *"$w"*) ;; *) m=0 ;; esac
		done
		[ $m = 1 ] && { echo "${d#/proc/}"; return 0; }
	done
	return 1
}

rsskib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# Start one of everything: 9ramfs, and in front of it 9mux, the relay, 9pserve.
# start_mux NAME [PROGRAM]: a 9mux listening on unix!$T/NAME; its pid in $lastpid.
start_mux() {
	n=$1
	p=${2:-$B/9mux}
	if [ $# -ge 2 ]; then shift 2; else shift; fi
	# shellcheck disable=SC2086 # MUXFLAGS: words on purpose
	"$p" -c 20000 $MUXFLAGS "$@" -a "unix!$T/$n" "unix!$UP" 2>>"$T/$n.log" &
	lastpid=$!
	pids="$pids $lastpid"
	waitsock "$T/$n"
}

# start_9pserve NAME: plan9port's 9pserve, which forks into the background.
start_9pserve() {
	"$B/9pload" -a "unix!$T/ramfs" stdio "$NINEPSERVE" -u "unix!$T/$1" 2>>"$T/$1.log"
	waitsock "$T/$1"
	lastpid=$(findpid 9pserve "$T/$1") || { echo "bench/9mux.sh: cannot find 9pserve's pid" >&2; exit 1; }
	pids="$pids $lastpid"
}

if [ "$UPSTREAM" = diod ]; then
	# diod without munge (-n) or a user database (-N), in the foreground,
	# exporting DIR/export to clients that attach with that path as aname
	# and as this user; it would die of SIGPIPE when a client hangs up, so
	# it starts with SIGPIPE ignored.  Its msize is 64 KiB, and it refuses
	# a Tread for more than msize - 24 bytes (the protocol allows - 11):
	# so -b 65512 for reads and writes alike, on every path.
	UP=$T/diod
	mkdir "$T/export" && chmod 755 "$T/export" || exit 1
	(trap '' PIPE; exec "$DIOD" -f -n -N -c /dev/null -l "$UP" -e "$T/export") >"$T/diod.log" 2>&1 &
	MUXFLAGS="-V 9P2000.L"
	LOADFLAGS="-V 9P2000.L -A $T/export -u $(id -un)"
	IOFLAGS="-b 65512"
else
	UP=$T/ramfs
	"$B/9ramfs" -S 2g -a "unix!$UP" 2>"$T/ramfs.log" &
	MUXFLAGS=
	LOADFLAGS=
	IOFLAGS=
fi
pid_direct=$!
pids="$pids $!"
waitsock "$UP"
start_mux mux
pid_9mux=$lastpid
"$B/9pload" relay "unix!$T/relay" "unix!$UP" 2>"$T/relay.log" &
pid_relay=$!
pids="$pids $!"
waitsock "$T/relay"
if [ "$UPSTREAM" = 9ramfs ]; then
	# the fairness test also runs a 9mux that lets reads as large as the msize through
	start_mux muxi8m "$B/9mux" -i 8m
	pid_9mux_i8m=$lastpid
fi
CONFIGS="direct relay 9mux"
if [ -n "$NINEMUX_ALT" ]; then
	start_mux alt "$NINEMUX_ALT"
	pid_alt=$lastpid
	CONFIGS="$CONFIGS alt"
fi
if [ -n "$NINEPSERVE" ] && [ "$UPSTREAM" = 9ramfs ]; then
	start_9pserve 9pserve
	pid_9pserve=$lastpid
	CONFIGS="$CONFIGS 9pserve"
fi
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

addr() {
	case $1 in
	direct)	echo "unix!$UP" ;;
	relay)	echo "unix!$T/relay" ;;
	9mux)	echo "unix!$T/mux" ;;
	9pserve) echo "unix!$T/9pserve" ;;
	alt)	echo "unix!$T/alt" ;;
	9mux-i8m) echo "unix!$T/muxi8m" ;;
	esac
}

# field NAME LINE: the value of NAME=value in a 9pload line
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# ratio A B: A/B to two places, or - when either is missing
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "-"; else printf "%.2f\n", a / b }'
}

# load CONFIG ARGS...: one 9pload run; its line on stdout, or nothing
# cputicks CONFIG: CPU time so far of 9ramfs and of CONFIG's hop, in ticks
cputicks() {
	eval "hop=\$pid_$(printf '%s' "$1" | tr -c 'A-Za-z0-9_' '_')"
	[ "$1" = direct ] && hop=
	cat "/proc/$pid_direct/stat" ${hop:+"/proc/$hop/stat"} 2>/dev/null |
	    awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# load CONFIG ARGS...: one 9pload run; its line on stdout, or nothing.
# srvcpu_us is the CPU time 9ramfs and the hop spent per round trip: a
# cost that, unlike the times, other work on the machine hardly moves.
load() {
	c=$1
	shift
	t0=$(cputicks "$c")
	# shellcheck disable=SC2086 # LOADFLAGS: words on purpose
	line=$("$B/9pload" $LOADFLAGS -a "$(addr "$c")" "$@" 2>>"$T/9pload.err") || {
		fail "9pload $* against $c failed: $(tail -n 3 "$T/9pload.err")"
		line=
	}
	t1=$(cputicks "$c")
	[ -n "$line" ] && line="$line srvcpu_us=$(awk -v a="$t0" -v b="$t1" -v n="$(field ops "$line")" -v hz="$HZ" \
	    'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1e6 / hz / n; else print "-" }')"
	echo "$line"
}

# point KEY ARGS...: run 9pload ARGS against every configuration REPEAT
# times, taking turns so that whatever else the machine does falls on all
# alike; line_CONFIG is then the run with the median KEY.
point() {
	key=$1
	shift
	for c in $CONFIGS; do
		: >"$T/pt.$c"
	done
	rep=0
	while [ $rep -lt "$REPEAT" ]; do
		for c in $CONFIGS; do
			l=$(load "$c" "$@")
			[ -n "$l" ] && printf '%s %s\n' "$(field "$key" "$l")" "$l" >>"$T/pt.$c"
		done
		rep=$((rep + 1))
	done
	for c in $CONFIGS; do
		eval "line_$c=\$(median \"\$T/pt.\$c\")"
	done
}

# median FILE: of lines "value rest", the rest of the median one
median() {
	sort -n "$1" | awk '{ v[NR] = $0 } END { if (NR > 0) { l = v[int((NR + 1) / 2)]; sub(/^[^ ]* /, "", l); print l } }'
}

# target TEXT: say how a target fared, and keep it for the summary
target() {
	echo "target: $1"
	echo "  $1" >>"$T/targets"
}

# summary KEY MEASURE RESULT TARGET VERDICT: a row of make bench's closing
# table (mk/bench.sh sorts the rows by KEY); nothing when run by hand
summary() {
	[ -n "$BENCH_SUMMARY" ] || return 0
	printf '%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5" >>"$BENCH_SUMMARY"
}

# verdict VALUE le|ge LIMIT: whether VALUE is at most, or at least, LIMIT
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "" || v == "-") { print "NOT MEASURED"; exit }
		m = (op == "le") ? (v + 0 <= l + 0) : (v + 0 >= l + 0)
		print m ? "MET" : "NOT MET" }'
}

hr() {
	echo "--------------------------------------------------------------------------"
}

echo "9mux benchmark, upstream $UPSTREAM: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each point: the median of $REPEAT runs of $SECS s, the configurations taking turns${BENCH_NICE:+; niceness $BENCH_NICE}"
echo "servers (DIR is $T, removed at exit):"
if [ "$UPSTREAM" = diod ]; then
echo "  diod -f -n -N -c /dev/null -l DIR/diod -e DIR/export   direct: ADDR=unix!DIR/diod"
echo "  9mux -c 20000 -V 9P2000.L -a unix!DIR/mux unix!DIR/diod  9mux:   ADDR=unix!DIR/mux"
echo "  9pload relay unix!DIR/relay unix!DIR/diod             relay:  ADDR=unix!DIR/relay"
L=" -V 9P2000.L -A DIR/export -u $(id -un)"	# in the commands printed
else
echo "  9ramfs -S 2g -a unix!DIR/ramfs                        direct: ADDR=unix!DIR/ramfs"
echo "  9mux -c 20000 -a unix!DIR/mux unix!DIR/ramfs          9mux:   ADDR=unix!DIR/mux"
echo "  9pload relay unix!DIR/relay unix!DIR/ramfs            relay:  ADDR=unix!DIR/relay"
L=
fi
[ -n "$NINEPSERVE" ] && [ "$UPSTREAM" = 9ramfs ] &&
echo "  9pload -a unix!DIR/ramfs stdio $NINEPSERVE -u unix!DIR/9pserve   9pserve: ADDR=unix!DIR/9pserve (msize 8192)"
[ -n "$NINEMUX_ALT" ] &&
echo "  $NINEMUX_ALT -c 20000${MUXFLAGS:+ $MUXFLAGS} -a unix!DIR/alt unix!DIR/${UP##*/}   alt: ADDR=unix!DIR/alt"
echo "relay: a byte copier, one thread per direction per client: the least any one-hop proxy costs"
echo "whole run: ${BENCH_UPSTREAM:+BENCH_UPSTREAM=$BENCH_UPSTREAM }NINEMUX_BUILD=$BUILD sh bench/9mux.sh   (or make bench)"

# the files: one to read and walk to, warmed up through every path
# shellcheck disable=SC2086 # LOADFLAGS: words on purpose
"$B/9pload" -q $LOADFLAGS -a "unix!$UP" -f /9pload -s 64m prep || fail "prep failed"
for c in $CONFIGS; do
	load "$c" -d 0.3 -c 4 small >/dev/null
done

# ---- small-op round trip ------------------------------------------------
echo
echo "1. small-op round trip, 1 client (walk, stat, clunk: each one round trip)"
echo "   command: 9pload$L -a ADDR -c 1 -d $SECS small"
hr
printf '%-9s %10s %10s %10s %12s %12s %12s\n' config p50_us p99_us ops/s "p50/direct" "p50/relay" "srv CPU us"
hr
echo "config p50_us p99_us ops_per_s" >"$OUT/$PRE-rtt.dat"
point p50_us -c 1 -d "$SECS" small
for c in $CONFIGS; do
	eval "l=\$line_$c"
	eval "rtt_p50_$c=\$(field p50_us \"\$l\")"
	eval "rtt_p99_$c=\$(field p99_us \"\$l\")"
	eval "rtt_ops_$c=\$(field ops_per_s \"\$l\")"
	eval "rtt_cpu_$c=\$(field srvcpu_us \"\$l\")"
done
for c in $CONFIGS; do
	eval "p50=\$rtt_p50_$c p99=\$rtt_p99_$c ops=\$rtt_ops_$c cpu=\$rtt_cpu_$c"
	printf '%-9s %10s %10s %10s %12s %12s %12s\n' "$c" "$p50" "$p99" "$ops" \
	    "$(ratio "$p50" "$rtt_p50_direct")" "$(ratio "$p50" "$rtt_p50_relay")" "$cpu"
	echo "$c ${p50:-0} ${p99:-0} ${ops:-0}" >>"$OUT/$PRE-rtt.dat"
done
r=$(ratio "$rtt_p50_9mux" "$rtt_p50_relay")
target "9mux p50 within 1.10x of the relay: $r -> $(verdict "$r" le 1.10)"
summary "$((SKEY + 30))" "small-op p50, 1 client: 9mux / ideal relay ($UPSTREAM)" \
    "$rtt_p50_9mux / $rtt_p50_relay us = ${r}x" "<= 1.10x" "$(verdict "$r" le 1.10)"

# ---- sequential throughput ------------------------------------------------
echo
if [ "$UPSTREAM" = diod ]; then
echo "2. sequential throughput, MB/s (10^6 bytes/s); msize 64 KiB (diod's), one file per writer"
else
echo "2. sequential throughput, MB/s (10^6 bytes/s); msize 128 KiB + 24, one file per writer"
fi
echo "   command: 9pload$L -a ADDR -c N -d $SECS${IOFLAGS:+ $IOFLAGS} -f /9pload -s 64m read"
echo "            9pload$L -a ADDR -c N -d $SECS${IOFLAGS:+ $IOFLAGS} -f /w -s 8m write"
hr
printf '%-10s' test
for c in $CONFIGS; do printf ' %10s' "$c"; done
printf ' %12s %12s\n' "9mux/direct" "9mux/relay"
hr
printf 'test' >"$OUT/$PRE-seq.dat"
for c in $CONFIGS; do printf ' %s' "$c" >>"$OUT/$PRE-seq.dat"; done
echo >>"$OUT/$PRE-seq.dat"
for op in read write; do
	for n in 1 16; do
		if [ $op = read ]; then
			args="$IOFLAGS -f /9pload -s 64m read"
		else
			args="$IOFLAGS -f /w -s 8m write"
		fi
		printf '%-10s' "$op-$n"
		printf '%s' "$op-$n" >>"$OUT/$PRE-seq.dat"
		# shellcheck disable=SC2086
		point MBps -c $n -d "$SECS" $args
		for c in $CONFIGS; do
			eval "l=\$line_$c"
			v=$(field MBps "$l")
			eval "seq_$c=\$v"
			printf ' %10s' "${v:--}"
			printf ' %s' "${v:-0}" >>"$OUT/$PRE-seq.dat"
		done
		echo >>"$OUT/$PRE-seq.dat"
		r=$(ratio "$seq_9mux" "$seq_relay")
		printf ' %12s %12s\n' "$(ratio "$seq_9mux" "$seq_direct")" "$r"
		[ $op = read ] && k=0 || k=2
		[ $n = 1 ] || k=$((k + 1))
		summary "$((SKEY + 20 + k))" "sequential $op, $n client$([ $n = 1 ] || echo s): 9mux / ideal relay ($UPSTREAM)" \
		    "$seq_9mux / $seq_relay MB/s = ${r}x" ">= 1.0x" "$(verdict "$r" ge 1.0)"
	done
done

# ---- small-op throughput by clients ---------------------------------------
echo
echo "3. small-op throughput, ops/s, by clients (each client its own connection;"
echo "   9mux carries them all on one upstream connection)"
echo "   command: 9pload$L -a ADDR -c N -d $SECS small"
hr
printf '%-8s' clients
for c in $CONFIGS; do printf ' %10s' "$c"; done
printf ' %12s %10s %10s %s\n' "9mux/direct" "p99 direct" "p99 9mux" "  srv CPU us/op:$(for c in $CONFIGS; do printf ' %s' "$c"; done)"
hr
printf 'clients' >"$OUT/$PRE-smallops.dat"
for c in $CONFIGS; do printf ' %s' "$c" >>"$OUT/$PRE-smallops.dat"; done
echo >>"$OUT/$PRE-smallops.dat"
for n in $CLIENTS; do
	printf '%-8s' "$n"
	printf '%s' "$n" >>"$OUT/$PRE-smallops.dat"
	point ops_per_s -c "$n" -d "$SECS" small
	for c in $CONFIGS; do
		eval "l=\$line_$c"
		v=$(field ops_per_s "$l")
		eval "ops_$c=\$v"
		eval "p99_$c=\$(field p99_us \"\$l\")"
		eval "cpu_$c=\$(field srvcpu_us \"\$l\")"
		printf ' %10s' "${v:--}"
		printf ' %s' "${v:-0}" >>"$OUT/$PRE-smallops.dat"
	done
	echo >>"$OUT/$PRE-smallops.dat"
	r=$(ratio "$ops_9mux" "$ops_direct")
	[ "$n" = 64 ] && r64=$r ops64_9mux=$ops_9mux ops64_direct=$ops_direct
	printf ' %12s %10s %10s   ' "$r" "$p99_direct" "$p99_9mux"
	for c in $CONFIGS; do
		eval "printf ' %s' \"\$cpu_$c\""
	done
	echo
done
if [ -n "$r64" ]; then
	target "64-client throughput through 9mux at least direct's: $r64 -> $(verdict "$r64" ge 1.0)"
	summary "$((SKEY + 10))" "small-op throughput, 64 clients: 9mux / direct connections ($UPSTREAM)" \
	    "$ops64_9mux / $ops64_direct ops/s = ${r64}x" ">= 1.0x" "$(verdict "$r64" ge 1.0)"
fi

# fairness and memory: 9mux's own, measured with 9ramfs
if [ "$UPSTREAM" = 9ramfs ]; then
	# ---- fairness -------------------------------------------------------------
	echo
	echo "4. fairness: small-op p99 of 1 client, alone and while 1 client streams reads"
	echo "   (9mux cuts reads to its iounit, -i 128k by default; 9mux-i8m is 9mux -i 8m)"
	echo "   command: 9pload -a ADDR -c 1 -d $SECS small"
	echo "   stream:  9pload -a ADDR -c 1 -m $STREAMMSIZE -d $(awk -v s="$SECS" 'BEGIN { print s + 1 }') -f /9pload -s 64m read   (started 0.5 s before)"
	FAIRCONFIGS="$CONFIGS 9mux-i8m"
	hr
	printf '%-9s %12s %12s %12s %12s %12s\n' config "p99 alone" "p99 stream" ratio "p50 stream" "stream MB/s"
	hr
	echo "config alone stream" >"$OUT/9mux-fairness.dat"
	for c in $FAIRCONFIGS; do
		: >"$T/alone.$c"
		: >"$T/with.$c"
	done
	rep=0
	while [ $rep -lt "$REPEAT" ]; do
		for c in $FAIRCONFIGS; do
			l=$(load "$c" -c 1 -d "$SECS" small)
			[ -n "$l" ] && printf '%s %s\n' "$(field p99_us "$l")" "$l" >>"$T/alone.$c"
			"$B/9pload" -a "$(addr "$c")" -c 1 -m $STREAMMSIZE -d "$(awk -v s="$SECS" 'BEGIN { print s + 1 }')" \
			    -f /9pload -s 64m read >"$T/stream.out" 2>>"$T/9pload.err" &
			sp=$!
			sleep 0.5
			l=$(load "$c" -c 1 -d "$SECS" small)
			wait $sp || fail "the stream against $c failed"
			[ -n "$l" ] && printf '%s %s streamMBps=%s\n' "$(field p99_us "$l")" "$l" \
			    "$(field MBps "$(cat "$T/stream.out")")" >>"$T/with.$c"
		done
		rep=$((rep + 1))
	done
	for c in $FAIRCONFIGS; do
		alone=$(field p99_us "$(median "$T/alone.$c")")
		l=$(median "$T/with.$c")
		with=$(field p99_us "$l")
		r=$(ratio "$with" "$alone")
		[ "$c" = 9mux ] && rfair=$r rfair_with=$with rfair_alone=$alone
		[ "$c" = direct ] && rfairdirect=$r
		printf '%-9s %12s %12s %12s %12s %12s\n' "$c" "$alone" "$with" "$r" "$(field p50_us "$l")" \
		    "$(field streamMBps "$l")"
		echo "$c ${alone:-0} ${with:-0}" >>"$OUT/9mux-fairness.dat"
	done
	target "9mux p99 with a stream within 2x of alone: $rfair -> $(verdict "$rfair" le 2.0) (direct connections: $rfairdirect)"
	summary 40 "small-op p99 beside a 1 MiB read stream / alone, 9mux ($UPSTREAM)" \
	    "$rfair_with / $rfair_alone us = ${rfair}x (direct ${rfairdirect}x)" "<= 2x" "$(verdict "$rfair" le 2.0)"

	# ---- memory with idle sessions ----------------------------------------------
	echo
	echo "5. memory: resident size of a fresh multiplexer holding N idle sessions"
	echo "   (each: its own connection, Tversion, Tattach, then nothing)"
	echo "   command: 9pload -a ADDR -c N idle   (VmRSS from /proc/PID/status once it prints ready)"
	hr
	printf '%-9s %8s %12s %12s %14s %12s\n' config N "RSS before" "RSS idle" "per session" "open secs"
	hr
	echo "config before_kib idle_kib" >"$OUT/9mux-memory.dat"
	memcfgs=9mux
	[ -n "$NINEMUX_ALT" ] && memcfgs="$memcfgs alt"
	[ -n "$NINEPSERVE" ] && memcfgs="$memcfgs 9pserve"
	for c in $memcfgs; do
		if [ $c = 9mux ]; then
			start_mux memmux
			a="unix!$T/memmux"
			n=$SESSIONS
		elif [ $c = alt ]; then
			start_mux memalt "$NINEMUX_ALT"
			a="unix!$T/memalt"
			n=$SESSIONS
		else
			start_9pserve mem9pserve
			a="unix!$T/mem9pserve"
			n=$PSESSIONS
		fi
		mp=$lastpid
		before=$(rsskib "$mp")
		"$B/9pload" -a "$a" -c "$n" idle >"$T/idle.out" 2>>"$T/9pload.err" &
		ip=$!
		i=0
		while ! grep -q '^ready' "$T/idle.out" 2>/dev/null; do
			i=$((i + 1))
			if [ $i -gt 1200 ] || ! kill -0 $ip 2>/dev/null; then
				fail "$n idle sessions through $c never became ready: $(tail -n 2 "$T/9pload.err")"
				break
			fi
			sleep 0.05
		done
		sleep 0.5
		after=$(rsskib "$mp")
		kill $ip 2>/dev/null
		wait $ip 2>/dev/null
		kill "$mp" 2>/dev/null
		printf '%-9s %8s %8s KiB %8s KiB %12s B %12s\n' "$c" "$n" "$before" "$after" \
		    "$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')" \
		    "$(field secs "$(cat "$T/idle.out")")"
		[ $c = 9mux ] && mux_idle=$after
		echo "$c($n) ${before:-0} ${after:-0}" >>"$OUT/9mux-memory.dat"
	done
	mib=$(awk -v k="$mux_idle" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')
	target "9mux with $SESSIONS idle sessions under 40 MiB: ${mib:--} MiB -> $(verdict "$mib" le 39.99)"
	summary 50 "resident size of 9mux with $SESSIONS idle sessions" "${mib:--} MiB" "< 40 MiB" "$(verdict "$mib" le 39.99)"
fi

echo
echo "targets (9mux, this run):"
cat "$T/targets"

# ---- plots ----------------------------------------------------------------------
echo
if command -v gnuplot >/dev/null 2>&1; then
	if gnuplot -e "dir='$OUT'; prefix='$PRE'; server='$UPSTREAM'" bench/9mux.gp 2>"$T/gnuplot.err"; then
		echo "plots: $(ls "$OUT"/"$PRE"-*.png | tr '\n' ' ')"
	else
		fail "gnuplot failed: $(head -n 5 "$T/gnuplot.err")"
	fi
else
	echo "no gnuplot: data in $OUT/$PRE-*.dat, no plots"
fi
exit $status
