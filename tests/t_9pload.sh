#!/bin/sh
# 9pload, the benchmarks' load generator, against 9ramfs: every mode runs,
# says what it did on one line, and fails loudly when it cannot do it.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
WAITSTEP=0.05	# 5 s at most for a socket
KILLAFTER=50	# daemons are this test's own children: SIGTERM, then SIGKILL after 5 s

field() {	# field NAME LINE
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
positive() {	# positive NUMBER: whether it is a number above 0
	awk -v v="$1" 'BEGIN { exit !(v ~ /^[0-9]+(\.[0-9]+)?$/ && v + 0 > 0) }'
}

for p in 9ramfs 9pload; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done

"$B/9ramfs" -a "unix!$T/ramfs" 2>"$T/ramfs.err" &
pids="$pids $!"
waitsock "$T/ramfs"
ok "9ramfs is listening"
A="unix!$T/ramfs"
L=timeout\ 30

l=$($L "$B/9pload" -a "$A" -d 1 small 2>"$T/err")
ok "small for 1 s exits 0"
positive "$(field ops "$l")"
ok "small did round trips: $l"
awk -v a="$(field p50_us "$l")" -v b="$(field p99_us "$l")" -v m="$(field max_us "$l")" \
    'BEGIN { exit !(a > 0 && a <= b && b <= m) }'
ok "p50 <= p99 <= max, all above 0"
is "$(field op "$l") $(field clients "$l")" "small 1" "the line names the op and clients"

l=$($L "$B/9pload" -a "$A" -c 4 -d 0.5 -V 9P2000.L small 2>"$T/err")
ok "small in 9P2000.L with 4 clients exits 0"
positive "$(field ops "$l")"
ok "9P2000.L small did round trips"

$L "$B/9pload" -q -a "$A" -f /data -s 300000 prep 2>"$T/err"
ok "prep /data of 300000 bytes"
if [ -x "$B/9pc" ]; then
	sz=$($L "$B/9pc" -a "$A" read /data | wc -c)
	is "$sz" 300000 "the prepared file holds 300000 bytes"
fi
l=$($L "$B/9pload" -a "$A" -f /data -s 300000 -m 8216 -d 0.5 read 2>"$T/err")
ok "read exits 0"
positive "$(field MBps "$l")"
r=$?; ok "read moved bytes: $(field MBps "$l") MB/s" $r
is "$(field msize "$l")" 8216 "the msize asked for is the one used"

l=$($L "$B/9pload" -a "$A" -c 2 -f /w -s 64k -d 0.5 write 2>"$T/err")
ok "write with 2 clients exits 0"
positive "$(field MBps "$l")"
ok "write moved bytes"
if [ -x "$B/9pc" ]; then
	$L "$B/9pc" -a "$A" ls / >"$T/ls" 2>&1
	grep -q 'w\.0' "$T/ls" && grep -q 'w\.1' "$T/ls"
	ok "each writer wrote its own file"
fi

# -N: a fixed number of round trips rather than a time
l=$($L "$B/9pload" -a "$A" -c 2 -N 10 small 2>"$T/err")
ok "small -N 10 with 2 clients exits 0"
is "$(field ops "$l")" 24 "each client made whole walk-stat-clunk rounds up to 10: 12 each"
l=$($L "$B/9pload" -a "$A" -f /data -s 300000 -b 1000 -N 1k read 2>"$T/err")
is "$(field ops "$l")" 1024 "read -N 1k made 1024 reads"
l=$($L "$B/9pload" -a "$A" -c 3 -f /w -s 64k -N 7 write 2>"$T/err")
is "$(field ops "$l")" 21 "write -N 7 with 3 clients made 21 writes"
l=$($L "$B/9pload" -a "$A" -N 1000000 -d 0.3 small 2>"$T/err")
awk -v s="$(field secs "$l")" 'BEGIN { exit !(s > 0.2 && s < 2) }'
ok "-d still ends a run that -N would not have ended yet ($(field secs "$l") s)"

$L "$B/9pload" -a "$A" -f /no/such/file -d 0.3 small >/dev/null 2>"$T/err"
st=$?
[ $st -ne 0 ] && [ -s "$T/err" ]
ok "small on a path whose directory is missing fails, with a message (status $st)"

l=$($L "$B/9pload" -a "$A" -c 20 -d 0.2 idle 2>"$T/err")
ok "idle with 20 sessions exits 0 after -d"
is "$(printf '%s\n' "$l" | sed -n 's/^\(ready\) sessions=\([0-9]*\).*/\1 \2/p')" "ready 20" "idle prints ready for 20 sessions"

"$B/9pload" relay "unix!$T/relay" "$A" 2>"$T/relay.err" &
pids="$pids $!"
waitsock "$T/relay"
ok "the relay is listening"
l=$($L "$B/9pload" -a "unix!$T/relay" -c 3 -d 0.5 small 2>"$T/err")
ok "small through the relay exits 0"
positive "$(field ops "$l")"
ok "small through the relay did round trips"

if [ -x "$B/9mux" ]; then
	"$B/9mux" -a "unix!$T/mux" "$A" 2>"$T/mux.err" &
	pids="$pids $!"
	waitsock "$T/mux"
	ok "9mux is listening"
	l=$($L "$B/9pload" -a "unix!$T/mux" -c 3 -d 0.5 small 2>"$T/err")
	ok "small through 9mux exits 0"
	positive "$(field ops "$l")"
	ok "small through 9mux did round trips"
fi

$L "$B/9pload" -a "unix!$T/nothing" -d 0.2 small >/dev/null 2>&1
[ $? -ne 0 ]
ok "no server: 9pload fails"
$L "$B/9pload" bogus >/dev/null 2>&1
[ $? -eq 2 ]
ok "an unknown op is a usage error"

done_testing
