#!/bin/sh
# bench/9ramfs.sh - 9ramfs configurations side by side (-j 1 against -j N,
# or another build): each its own 9ramfs with its own 9mux in front, every
# configuration measured in turn in the same run, each point the median.
#
#	RAMFS_CONFIGS	the configurations, name=flags separated by spaces
#			("j1=-j1 jN=-jN" with N the number of processors)
#	RAMFS_OTHER	the path of another 9ramfs, measured as "other"
#	BENCH_SECONDS	seconds per run (1)
#	BENCH_REPEAT	runs per point, the configurations taking turns (5)
#
# By hand: NINEMUX_BUILD=build sh bench/9ramfs.sh
BUILD=${NINEMUX_BUILD:-build}
B=$BUILD/bin
SECS=${BENCH_SECONDS:-1}
REPEAT=${BENCH_REPEAT:-5}
N=$(nproc 2>/dev/null || echo 2)
CONFIGS=${RAMFS_CONFIGS:-"j1=-j1 j$N=-j$N"}

for p in 9ramfs 9mux 9pload; do
	[ -x "$B/$p" ] || { echo "bench/9ramfs.sh: no $B/$p: build first (make)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/9ramfs-bench.XXXXXX) || exit 1
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

waitsock() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && { echo "bench/9ramfs.sh: $1 never appeared" >&2; exit 1; }
		sleep 0.05
	done
}

# field NAME LINE: the value of NAME=value in a 9pload line
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

ticks() {
	awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }' "/proc/$1/stat" 2>/dev/null
}

HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
[ -n "$RAMFS_OTHER" ] && CONFIGS="$CONFIGS other="
echo "9ramfs benchmark: $N cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each point: the median of $REPEAT runs of $SECS s, the configurations taking turns (DIR is $T)"
echo "configurations:"
names=
for cf in $CONFIGS; do
	n=${cf%%=*}
	flags=$(printf '%s' "${cf#*=}" | tr ',' ' ')
	prog=$B/9ramfs
	[ "$n" = other ] && prog=$RAMFS_OTHER
	# shellcheck disable=SC2086
	"$prog" -S 2g $flags -a "unix!$T/ram.$n" 2>"$T/ram.$n.log" &
	eval "ram_$n=\$!"
	pids="$pids $!"
	waitsock "$T/ram.$n"
	"$B/9mux" -c 20000 -a "unix!$T/mux.$n" "unix!$T/ram.$n" 2>"$T/mux.$n.log" &
	eval "mux_$n=\$!"
	pids="$pids $!"
	waitsock "$T/mux.$n"
	"$B/9pload" -q -a "unix!$T/ram.$n" -f /9pload -s 64m prep || exit 1
	echo "  $n: $prog -S 2g $flags -a unix!DIR/ram.$n; 9mux -c 20000 -a unix!DIR/mux.$n unix!DIR/ram.$n"
	names="$names $n"
done

# run NAME VIA KEY ARGS...: one 9pload run against NAME directly or through
# its 9mux; prints KEY's value, the 9ramfs and 9mux CPU per operation in us
run() {
	n=$1 via=$2 key=$3
	shift 3
	eval "rp=\$ram_$n mp=\$mux_$n"
	a="unix!$T/ram.$n"
	[ "$via" = mux ] && a="unix!$T/mux.$n"
	r0=$(ticks "$rp") m0=$(ticks "$mp")
	l=$("$B/9pload" -a "$a" "$@" 2>>"$T/9pload.err")
	r1=$(ticks "$rp") m1=$(ticks "$mp")
	awk -v v="$(field "$key" "$l")" -v ops="$(field ops "$l")" -v r="$((r1 - r0))" -v m="$((m1 - m0))" \
	    -v hz="$HZ" -v via="$via" 'BEGIN { if (ops + 0 <= 0) ops = 1;
	    printf "%s %.2f %s\n", v, r * 1e6 / hz / ops, via == "mux" ? sprintf("%.2f", m * 1e6 / hz / ops) : "-" }'
}

# point TITLE VIA KEY ARGS...: every configuration REPEAT times in turn, then medians
point() {
	title=$1 via=$2 key=$3
	shift 3
	for n in $names; do
		: >"$T/pt.$n"
	done
	r=0
	while [ $r -lt "$REPEAT" ]; do
		for n in $names; do
			run "$n" "$via" "$key" "$@" >>"$T/pt.$n"
		done
		r=$((r + 1))
	done
	for n in $names; do
		sort -n "$T/pt.$n" | awk -v t="$title" -v n="$n" -v k="$key" '{ v[NR] = $0; all = all " " $1 }
		    END { split(v[int((NR + 1) / 2)], m, " ");
		    printf "%-26s %-6s %s %10s   9ramfs %6s us/op   9mux %6s us/op   (runs:%s)\n", t, n, k, m[1], m[2], m[3], all }'
	done
}

echo "commands (ADDR: unix!DIR/mux.NAME through 9mux, unix!DIR/ram.NAME directly):"
echo "  9pload -a ADDR -c 64 -d $SECS small; 9pload -a ADDR -c 1 -d $SECS small; 9pload -a ADDR -c 16 -d $SECS -f /9pload -s 64m read"
point "64 clients, through 9mux" mux ops_per_s -c 64 -d "$SECS" small
point "64 clients, direct" direct ops_per_s -c 64 -d "$SECS" small
point "1 client, direct" direct p50_us -c 1 -d "$SECS" small
point "1 client, through 9mux" mux p50_us -c 1 -d "$SECS" small
point "16 readers, through 9mux" mux MBps -c 16 -d "$SECS" -f /9pload -s 64m read
point "16 readers, direct" direct MBps -c 16 -d "$SECS" -f /9pload -s 64m read
