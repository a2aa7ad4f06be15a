#!/bin/sh
# make bench: run every benchmark program of bench/ in turn, then every
# benchmark script bench/*.sh.  Each prints its own table, the ratio
# against the baseline it measured in the same run, and the command that
# reproduces it; those that draw write PNG plots under $O/bench/.  At the
# end: a table of the targets (issue 16) as this run found them, the
# other figures the scripts singled out, and the machine with the CPU its
# host took away (steal) while the benchmarks ran.
#
#	BENCH_ONLY	which to run, by name ("bench_9p 9mux diod"; all)
#	BENCH_QUICK	1: a short run (BENCH_SECONDS 0.5, BENCH_REPEAT 1,
#			BENCH_SESSIONS 2000, fewer round trips counted); numbers
#			for a look, not for the README
# and the scripts' own: BENCH_SECONDS, BENCH_REPEAT, BENCH_SESSIONS,
# BENCH_CLIENTS, BENCH_NICE, NINEPSERVE, NINEMUX_ALT (see each script).
O=${1:-build}
export NINEMUX_BUILD=$O
if [ "$BENCH_QUICK" = 1 ]; then
	export BENCH_SECONDS=${BENCH_SECONDS:-0.5} BENCH_REPEAT=${BENCH_REPEAT:-1}
	export BENCH_SESSIONS=${BENCH_SESSIONS:-2000} BENCH_CG_OPS=${BENCH_CG_OPS:-600}
	export BENCH_CG_IO=${BENCH_CG_IO:-200} BENCH_COST_OPS=${BENCH_COST_OPS:-500}
	export BENCH_IDLE=${BENCH_IDLE:-5} RESTORE_REPEAT=${RESTORE_REPEAT:-1}
fi
# gnuplot for the plots, valgrind, strace and diod for their rows; without
# them the rest still comes
sh mk/deps.sh bench || echo "bench: some tools are missing; the rows and plots that need them are left out"
mkdir -p "$O/bench" || exit 1
export BENCH_SUMMARY="$O/bench/summary.txt"
: >"$BENCH_SUMMARY"

# the cpu line of /proc/stat: user nice system idle iowait irq softirq steal
cpuline() {
	sed -n 's/^cpu  *//p' /proc/stat
}
# steal A B: the percentage of CPU time stolen between two cpu lines
steal() {
	echo "$1 $2" | awk '{ for (i = 1; i <= 8; i++) { a += $i; b += $(i + 10) }
	    if (b - a > 0) printf "%.1f", ($18 - $8) * 100 / (b - a); else print "0.0" }'
}
now() {
	date +%s
}

# a sample of /proc/stat every 5 s, for the worst interval's steal
S=$(mktemp /tmp/bench-steal.XXXXXX) || exit 1
( while :; do cpuline; sleep 5; done ) >"$S" &
sampler=$!
trap 'kill $sampler 2>/dev/null; rm -f "$S"' EXIT
trap 'exit 1' INT TERM HUP

start=$(now)
cpu0=$(cpuline)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load $load0"

only() {	# only NAME: whether BENCH_ONLY lets NAME run
	[ -z "$BENCH_ONLY" ] && return 0
	case " $BENCH_ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}
# run NAME COMMAND...: one benchmark, with how long it took and the steal meanwhile
status=0
times=
run() {
	_n=$1
	shift
	echo
	echo "== $*"
	_t0=$(now)
	_c0=$(cpuline)
	"$@" || { status=1; echo "bench: $* failed" >&2; }
	_s=$(steal "$_c0" "$(cpuline)")
	_d=$(($(now) - _t0))
	echo "($_n: $_d s, CPU steal $_s%)"
	times="$times $_n ${_d}s,"
}
for b in "$O"/bench/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	only "$(basename "$b")" || continue
	run "$(basename "$b")" "$b"
done
for s in bench/*.sh; do
	[ -f "$s" ] || continue
	only "$(basename "$s" .sh)" || continue
	run "$(basename "$s" .sh)" sh "$s"
done

# ---- the summary ---------------------------------------------------------------------
total=$(($(now) - start))
stealall=$(steal "$cpu0" "$(cpuline)")
stealmax=$(awk '{ t = 0; for (i = 1; i <= 8; i++) t += $i
	if (NR > 1 && t > pt) { s = ($8 - ps) * 100 / (t - pt); if (s > m) m = s }
	pt = t; ps = $8 } END { printf "%.0f", m }' "$S")
echo
echo "== summary of this run (make bench)"
echo
echo "targets (issue 16), each a ratio within this one run:"
sort -t'|' -k1,1n "$BENCH_SUMMARY" | awk -F'|' '$4 != "" {
	n++; m[n] = $2; r[n] = $3; t[n] = $4; v[n] = $5
	if (length($2) > w1) w1 = length($2); if (length($3) > w2) w2 = length($3); if (length($4) > w3) w3 = length($4) }
	END { if (n == 0) { print "  (none measured)"; exit }
	for (i = 1; i <= n; i++) printf "  %-*s  %-*s  %-*s  %s\n", w1, m[i], w2, r[i], w3, t[i], v[i] }'
echo
echo "other figures:"
sort -t'|' -k1,1n "$BENCH_SUMMARY" | awk -F'|' '$4 == "" {
	n++; m[n] = $2; r[n] = $3; if (length($2) > w) w = length($2) }
	END { if (n == 0) print "  (none measured)"; for (i = 1; i <= n; i++) printf "  %-*s  %s\n", w, m[i], r[i] }'
echo
model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) cores${model:+ ($model)}, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "CPU steal while the benchmarks ran: $stealall% of all CPU time, at most $stealmax% in a 5 s interval (/proc/stat)"
echo "load average: $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "took $((total / 60)) min $((total % 60)) s:${times%,}"
exit $status
