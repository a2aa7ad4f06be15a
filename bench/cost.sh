#!/bin/sh
# bench/cost.sh - what 9mux spends per forwarded message, counted rather
# than timed, so that a regression shows on a noisy machine:
#
# 1. instructions and allocations per message: 9mux under valgrind's
#    callgrind (user-space instructions, counted exactly) while 9pload
#    makes a fixed number of round trips through it; the run with K+N
#    round trips minus the run with K, so 9mux's start-up, the clients'
#    connections and the exit cancel and only the N round trips are left.
#    A round trip is two forwarded messages (the request up, the reply
#    down).  Allocations are calls to malloc, calloc and realloc from
#    anywhere in the process; "copy" is the instructions inside memcpy,
#    memmove and memset, which under valgrind count about one a byte for
#    large copies (rep movsb), so per payload byte it is about how many
#    times each byte is copied.
# 2. system calls, context switches and CPU time per operation with 64
#    clients, for 9ramfs reached directly and through 9mux: perf stat
#    counting only while the load runs (raw_syscalls:sys_enter,
#    context-switches, task-clock; every thread, those started later
#    too), and strace -c -f's count by system call.
#
# Prints the command behind each figure, keeps cost.dat and, when it
# was there from an earlier run, prints the change from it; with gnuplot
# draws cost.png into ${NINEMUX_BUILD:-build}/bench/.
#
#	BENCH_REPEAT	callgrind pairs per workload, the median taken (3)
#	BENCH_CG_OPS	round trips N of the small-op workload (3000)
#	BENCH_CG_IO	round trips N of the 64 KiB read and write workloads (1000)
#	BENCH_COST_OPS	round trips per client of the 64-client load (1500)
#
# Run by make bench; by hand: NINEMUX_BUILD=build sh bench/cost.sh
# shellcheck disable=SC2034 # NAME is for lib/common.sh
NAME="cost"
# shellcheck source=bench/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
CGOPS=${BENCH_CG_OPS:-3000}
CGIO=${BENCH_CG_IO:-1000}
COSTOPS=${BENCH_COST_OPS:-1500}
NCL=64
need 9ramfs 9mux 9pload
status=0

"$B/9ramfs" -S 2g -a "unix!$T/ramfs" 2>"$T/ramfs.log" &
pids="$pids $!"
waitsock "$T/ramfs" $!
"$B/9pload" -q -a "unix!$T/ramfs" -f /9pload -s 64m prep || exit 1

echo "cost benchmark: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "servers (DIR is $T, removed at exit): 9ramfs -S 2g -a unix!DIR/ramfs"
echo
echo "1. instructions and allocations per forwarded message (a request or a reply)"
echo "   9mux under callgrind; each figure the median of $REPEAT pairs of runs, (run of K+N) - (run of K)"
echo "   command: valgrind --tool=callgrind --callgrind-out-file=FILE 9mux -k 0 -a unix!DIR/cg unix!DIR/ramfs"
echo "            9pload -a unix!DIR/cg -N K ARGS   then, against a new 9mux, -N K+N ARGS"
echo "            sums of FILE: awk -f bench/lib/cgsum.awk FILE"

# cgrun N ARGS...: 9pload -N N ARGS through a new 9mux under callgrind:
# cgsum's line of what that 9mux did from its start to its exit
cgrun() {
	_n=$1
	shift
	rm -f "$T/cg" "$T/cg.out"
	valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$B/9mux" -k 0 \
	    -a "unix!$T/cg" "unix!$T/ramfs" 2>"$T/cg.log" &
	_vp=$!
	pids="$pids $_vp"
	waitsock "$T/cg" $_vp
	"$B/9pload" -a "unix!$T/cg" -N "$_n" "$@" >"$T/cg.load" 2>&1 || {
		echo "bench/cost.sh: 9pload -N $_n $* through 9mux under callgrind failed: $(tail -n 2 "$T/cg.load")" >&2
		status=1
	}
	kill "$_vp"
	wait "$_vp"
	awk -f "$(dirname "$0")/lib/cgsum.awk" "$T/cg.out"
}

# cgpoint LABEL K N PAYLOAD ARGS...: the median of REPEAT pairs; prints
# a row and sets cg_ir, cg_own, cg_alloc (per message), cg_copy (per payload byte)
cgpoint() {
	_label=$1 _k=$2 _nn=$3 _pay=$4
	shift 4
	: >"$T/ir"; : >"$T/own"; : >"$T/alloc"; : >"$T/copy"
	_r=0
	while [ $_r -lt "$REPEAT" ]; do
		_a=$(cgrun "$_k" "$@")
		_b=$(cgrun $((_k + _nn)) "$@")
		# shellcheck disable=SC2086 # the fields, split on purpose
		awk -v n="$_nn" -v pay="$_pay" -v a="$_a" -v b="$_b" -v t="$T" 'BEGIN {
			split(a, x, /[ =]/); split(b, y, /[ =]/)
			m = 2 * n	# messages: a request and a reply each round trip
			printf "%.0f\n", (y[2] - x[2]) / m >>(t "/ir")
			printf "%.0f\n", ((y[2] - y[4]) - (x[2] - x[4])) / m >>(t "/own")
			printf "%.3f\n", (y[6] - x[6]) / m >>(t "/alloc")
			if (pay > 0)
				printf "%.2f\n", (y[4] - x[4]) / (n * pay) >>(t "/copy")
			else
				print "-" >>(t "/copy")
		}'
		_r=$((_r + 1))
	done
	cg_ir=$(medianof "$T/ir")
	cg_own=$(medianof "$T/own")
	cg_alloc=$(medianof "$T/alloc")
	cg_copy=$(medianof "$T/copy")
	[ "$_pay" -gt 0 ] || cg_copy=-
	printf '%-34s %6s %10s %12s %12s %10s   %s\n' "$_label" "$_nn" "$cg_ir" "$cg_own" "$cg_copy" "$cg_alloc" \
	    "runs: $(tr '\n' ' ' <"$T/ir")"
}

if command -v valgrind >/dev/null 2>&1; then
	hr
	printf '%-34s %6s %10s %12s %12s %10s\n' workload N "instr/msg" "w/o copies" "copy/byte" "allocs/msg"
	hr
	echo "workload N instr_per_msg own_per_msg copy_per_byte allocs_per_msg" >"$T/cost.dat"
	cgpoint "small ops, 1 client" $((CGOPS / 10)) "$CGOPS" 0 small
	echo "small $CGOPS $cg_ir $cg_own 0 $cg_alloc" >>"$T/cost.dat"
	summary 80 "instructions per forwarded message, small ops (callgrind)" \
	    "$cg_ir ($cg_alloc allocations)" "" ""
	cgpoint "read 64 KiB, 1 client" $((CGIO / 10)) "$CGIO" 65536 -b 64k -f /9pload -s 64m read
	echo "read64k $CGIO $cg_ir $cg_own $cg_copy $cg_alloc" >>"$T/cost.dat"
	summary 81 "instructions per forwarded message, 64 KiB reads (callgrind)" \
	    "$cg_ir ($cg_own without copies; $cg_copy copy instructions a byte; $cg_alloc allocations)" "" ""
	cgpoint "write 64 KiB, 1 client" $((CGIO / 10)) "$CGIO" 65536 -b 64k -f /w -s 8m write
	echo "write64k $CGIO $cg_ir $cg_own $cg_copy $cg_alloc" >>"$T/cost.dat"
	summary 82 "instructions per forwarded message, 64 KiB writes (callgrind)" \
	    "$cg_ir ($cg_own without copies; $cg_copy copy instructions a byte; $cg_alloc allocations)" "" ""
	echo "   (ARGS: small ops are small, read is -b 64k -f /9pload -s 64m read, write is -b 64k -f /w -s 8m write;"
	echo "    K is N/10; instr/msg counts every thread of 9mux, libc and OpenSSL included)"
	if [ -s "$OUT/cost.dat" ]; then
		echo "   change from the previous run's $OUT/cost.dat (instr/msg, allocs/msg):"
		awk 'NR == FNR { if (FNR > 1) { ir[$1] = $3; al[$1] = $6 } next }
		    FNR > 1 && ($1 in ir) && ir[$1] > 0 {
			printf "     %-10s %+.1f%%  %s -> %s instructions, %s -> %s allocations\n", $1,
			    ($3 - ir[$1]) * 100 / ir[$1], ir[$1], $3, al[$1], $6 }' "$OUT/cost.dat" "$T/cost.dat"
	fi
	cp "$T/cost.dat" "$OUT/cost.dat"
else
	echo "   (no valgrind: skipped; apt-get install valgrind)"
fi

# ---- system calls and context switches ------------------------------------------
echo
echo "2. system calls, context switches and CPU per small-op round trip, $NCL clients"
echo "   (9mux: one thread, clients peeked and written in one io_uring call; without: NINEMUX_PEEK=0 NINEMUX_RING=0 sh bench/cost.sh)"
echo "   command: 9pload -a ADDR -c $NCL -N $COSTOPS small"
echo "            under perf stat -D -1 --control fifo:CTL,ACK -x, -e raw_syscalls:sys_enter,context-switches,task-clock -- PROGRAM ..."
echo "            enabled only while 9pload runs; ADDR unix!DIR/pramfs (direct) or unix!DIR/pmux (9mux)"

perfok=0
if command -v perf >/dev/null 2>&1 &&
    perf stat -x, -o "$T/probe" -e raw_syscalls:sys_enter,context-switches,task-clock -- true >/dev/null 2>&1 &&
    grep -q '^[0-9][0-9.]*,[^,]*,raw_syscalls:sys_enter' "$T/probe"; then
	perfok=1
fi

# childof PID: the pid of PID's child
childof() {
	for _d in /proc/[0-9]*; do
		_pp=$(awk '{ sub(/^.*\) /, ""); print $2 }' "$_d/stat" 2>/dev/null)
		[ "$_pp" = "$1" ] && { echo "${_d#/proc/}"; return 0; }
	done
	return 1
}

# perfstart TAG CTLFD ACKFD PROGRAM ARGS...: PROGRAM under perf stat with
# events off; CTLFD and ACKFD are this shell's ends of its control fifos
perfstart() {
	_tag=$1 _c=$2 _a=$3
	shift 3
	mkfifo "$T/$_tag.ctl" "$T/$_tag.ack"
	perf stat -D -1 --control "fifo:$T/$_tag.ctl,$T/$_tag.ack" -x, -o "$T/$_tag.perf" \
	    -e raw_syscalls:sys_enter,context-switches,task-clock -- "$@" 2>"$T/$_tag.log" &
	eval "perf_$_tag=\$!"
	pids="$pids $!"
	eval "exec $_c>\"\$T/\$_tag.ctl\" $_a<\"\$T/\$_tag.ack\""
	_i=0
	until eval "child_$_tag=\$(childof $!)"; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && { echo "bench/cost.sh: perf started no $1" >&2; exit 1; }
		sleep 0.05
	done
	eval "pids=\"\$pids \$child_$_tag\""
}
perfctl() {	# perfctl CTLFD ACKFD enable|disable
	eval "echo $3 >&$1; read -r _ack <&$2"
}
# perfstop TAG CTLFD ACKFD: stop the program (by its pid) and its perf
perfstop() {
	_ch='' _pp=''
	eval "_ch=\$child_$1 _pp=\$perf_$1"
	kill "$_ch"
	wait "$_pp"
	eval "exec $2>&- $3<&-"
}
# perfres TAG: what a stopped perf counted, "syscalls context-switches task-clock-ms"
perfres() {
	awk -F, '$3 == "raw_syscalls:sys_enter" { s = $1 } $3 == "context-switches" { c = $1 }
	    $3 == "task-clock" { t = $1 } END { print s + 0, c + 0, t + 0 }' "$T/$1.perf"
}
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpustat() {	# cpustat: the machine's busy and idle ticks so far, "BUSY IDLE" (/proc/stat)
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}
# machval "BUSY IDLE" "BUSY IDLE" OPS: the whole machine between two cpustats:
# the CPU per op of every process (the load generator's too) and the idle share, "US PERCENT"
machval() {
	echo "$1 $2" | awk -v ops="$3" -v hz="$HZ" '{ if (ops <= 0) ops = 1
		b = $3 - $1; i = $4 - $2; if (b + i <= 0) i = 1
		printf "%.2f %.0f\n", b * 1e6 / hz / ops, 100 * i / (b + i) }'
}
machrow() {	# machrow CONFIG "US PERCENT"
	echo "$2" | awk -v c="$1" '{ printf "%-8s %-16s %12s %12s %12.2f   (idle %d%%)\n", c, "whole machine", "", "", $1, $2 }'
}
perrow() {	# perrow CONFIG PROCESS "SYSCALLS CS MS" OPS
	echo "$3" | awk -v c="$1" -v p="$2" -v ops="$4" '{ if (ops <= 0) ops = 1
		printf "%-8s %-16s %12.2f %12.3f %12.2f\n", c, p, $1 / ops, $2 / ops, $3 * 1000 / ops }'
}

if [ $perfok = 1 ]; then
	hr
	printf '%-8s %-16s %12s %12s %12s\n' config process "syscalls/op" "ctxsw/op" "CPU us/op"
	hr
	# direct: 64 connections to 9ramfs
	perfstart d 4 5 "$B/9ramfs" -S 2g -a "unix!$T/pramfs"
	waitsock "$T/pramfs"
	"$B/9pload" -q -a "unix!$T/pramfs" -f /9pload -s 1m prep
	perfctl 4 5 enable
	dm0=$(cpustat)
	l=$("$B/9pload" -a "unix!$T/pramfs" -c $NCL -N "$COSTOPS" small 2>>"$T/perf.err")
	dm1=$(cpustat)
	perfctl 4 5 disable
	dops=$(field ops "$l")
	perfstop d 4 5
	d=$(perfres d)
	perrow direct 9ramfs "$d" "$dops"
	dmach=$(machval "$dm0" "$dm1" "$dops")
	machrow direct "$dmach"
	# through 9mux: both processes counted
	rm -f "$T/pramfs"
	perfstart r 4 5 "$B/9ramfs" -S 2g -a "unix!$T/pramfs"
	waitsock "$T/pramfs"
	"$B/9pload" -q -a "unix!$T/pramfs" -f /9pload -s 1m prep
	perfstart m 6 7 "$B/9mux" -k 0 -a "unix!$T/pmux" "unix!$T/pramfs"
	waitsock "$T/pmux"
	perfctl 4 5 enable
	perfctl 6 7 enable
	mm0=$(cpustat)
	l=$("$B/9pload" -a "unix!$T/pmux" -c $NCL -N "$COSTOPS" small 2>>"$T/perf.err")
	mm1=$(cpustat)
	perfctl 6 7 disable
	perfctl 4 5 disable
	ops=$(field ops "$l")
	perfstop m 6 7
	perfstop r 4 5
	m=$(perfres m)
	r=$(perfres r)
	perrow 9mux "9mux" "$m" "$ops"
	perrow 9mux "9ramfs behind it" "$r" "$ops"
	perrow 9mux "both" "$(echo "$m $r" | awk '{ print $1 + $4, $2 + $5, $3 + $6 }')" "$ops"
	mmach=$(machval "$mm0" "$mm1" "$ops")
	machrow 9mux "$mmach"
	echo "   (whole machine: every process's CPU, the 64 load threads' too, per op, and the share the"
	echo "    cores sat idle: what one 9mux thread leaves unused, where direct connections keep both busy)"
	sc=$(echo "$m $ops" | awk '{ printf "%.2f", $1 / $4 }')
	cs=$(echo "$m $ops" | awk '{ printf "%.3f", $2 / $4 }')
	summary 83 "9mux system calls / context switches per op, 64 clients (perf)" "$sc / $cs" "" ""
	summary 84 "whole machine's CPU per op, 64 clients: 9mux / direct (idle)" \
	    "$(echo "$mmach $dmach" | awk '{ printf "%s / %s us (idle %s%% / %s%%)", $1, $3, $2, $4 }')" "" ""
	{
		echo "config syscalls_per_op ctxsw_per_op cpu_us_per_op"
		echo "$d $dops" | awk '{ printf "\"9ramfs direct\" %f %f %f\n", $1 / $4, $2 / $4, $3 * 1000 / $4 }'
		echo "$m $ops" | awk '{ printf "9mux %f %f %f\n", $1 / $4, $2 / $4, $3 * 1000 / $4 }'
		echo "$r $ops" | awk '{ printf "\"9ramfs behind\" %f %f %f\n", $1 / $4, $2 / $4, $3 * 1000 / $4 }'
	} >"$T/perf.dat"
else
	echo "   (perf stat cannot count system calls here: skipped; the strace counts below remain)"
fi

# ---- strace -c: by system call ---------------------------------------------------
STOPS=$((COSTOPS / 5))
echo
echo "3. system calls by name per small-op round trip, $NCL clients (strace -c -f)"
echo "   command: strace -c -f -o FILE -p PID   while   9pload -a ADDR -c $NCL -N $STOPS small"
echo "   (strace stops the traced program at every call, so it batches differently: the count by"
echo "    name is what this shows, the totals in 2. are the ones to compare)"
# straced PID ADDR LABEL: strace PID while the load runs; its calls per op by name
straced() {
	strace -c -f -o "$T/strace.out" -p "$1" 2>"$T/strace.log" &
	_sp=$!
	pids="$pids $_sp"
	sleep 0.5	# attached
	_l=$("$B/9pload" -a "$2" -c $NCL -N "$STOPS" small 2>>"$T/strace.err")
	kill -INT "$_sp"
	wait "$_sp"
	awk -v ops="$(field ops "$_l")" -v label="$3" '
	    $1 ~ /^-/ { rule++; next }
	    rule == 1 && NF >= 5 { name = $NF; calls[name] = $4; tot += $4; order[++k] = name }
	    END { if (ops <= 0) { print "   " label ": no operations"; exit }
		line = sprintf("   %-22s %6.2f:", label, tot / ops)
		for (i = 1; i <= k; i++)
			if (calls[order[i]] / ops >= 0.01)
				line = line sprintf(" %s %.2f", order[i], calls[order[i]] / ops)
		print line }' "$T/strace.out"
}
if command -v strace >/dev/null 2>&1; then
	"$B/9ramfs" -S 2g -a "unix!$T/sramfs" 2>"$T/sramfs.log" &
	sram=$!
	pids="$pids $sram"
	waitsock "$T/sramfs" $sram
	"$B/9pload" -q -a "unix!$T/sramfs" -f /9pload -s 1m prep
	"$B/9mux" -k 0 -a "unix!$T/smux" "unix!$T/sramfs" 2>"$T/smux.log" &
	smux=$!
	pids="$pids $smux"
	waitsock "$T/smux" $smux
	echo "   process                 all: by name (those at least 0.01 an op)"
	straced "$smux" "unix!$T/smux" "9mux"
	straced "$sram" "unix!$T/smux" "9ramfs behind 9mux"
	straced "$sram" "unix!$T/sramfs" "9ramfs, direct"
else
	echo "   (no strace: skipped; apt-get install strace)"
fi

# ---- plot -----------------------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1 && [ -s "$OUT/cost.dat" ]; then
	[ -s "$T/perf.dat" ] && cp "$T/perf.dat" "$OUT/cost-perf.dat"
	if gnuplot -e "dir='$OUT'" "$(dirname "$0")/cost.gp" 2>"$T/gnuplot.err"; then
		echo "plot: $OUT/cost.png"
	else
		echo "bench/cost.sh: gnuplot failed: $(head -n 3 "$T/gnuplot.err")" >&2
		status=1
	fi
fi
echo "reproduce: NINEMUX_BUILD=$BUILD sh bench/cost.sh"
exit $status
