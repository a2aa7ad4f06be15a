#!/bin/sh
# Many concurrent 9pc clients through 9mux to one 9ramfs, in both
# dialects (one 9mux asking 9P2000 upstream, another 9P2000.L, both in
# front of the same 9ramfs): each client writes its own file with its
# own msize and reads it back; then each reads another's file, across
# dialects; the listing holds every file.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

for p in 9mux 9pc 9ramfs; do
	if [ ! -x "$B/$p" ]; then echo "not ok 1 - $B/$p is built"; echo "1..1"; exit 1; fi
done

"$B/9ramfs" -a "unix!$T/ram.sock" 2>"$T/ram.err" &
ram=$!
pids="$pids $ram"
waitsock "$T/ram.sock" $ram; ok "9ramfs listens"

"$B/9mux" -a "unix!$T/mux0.sock" "unix!$T/ram.sock" 2>"$T/mux0.err" &
mux0=$!
"$B/9mux" -V 9P2000.L -a "unix!$T/muxL.sock" "unix!$T/ram.sock" 2>"$T/muxL.err" &
muxL=$!
pids="$pids $mux0 $muxL"
waitsock "$T/mux0.sock" $mux0; ok "9mux (9P2000) listens"
waitsock "$T/muxL.sock" $muxL; ok "9mux -V 9P2000.L listens"

N=${MANY:-24}
pc() {	# pc DIALECT args...: 9pc through the 9mux of that dialect
	d=$1
	shift
	if [ "$d" = L ]; then
		timeout 60 "$B/9pc" -a "unix!$T/muxL.sock" -V 9P2000.L "$@"
	else
		timeout 60 "$B/9pc" -a "unix!$T/mux0.sock" -V 9P2000 "$@"
	fi
}
client() {	# client DIALECT I MSIZE
	f=/$1-$2
	awk -v d="$1" -v i="$2" 'BEGIN { for(k = 0; k < 300 + 37 * i; k++) printf "%s client %d line %d\n", d, i, k }' >"$T/want$1$2"
	{
		pc "$1" -m "$3" create "$f" &&
		pc "$1" -m "$3" write "$f" <"$T/want$1$2" &&
		pc "$1" -m "$3" read "$f" >"$T/got$1$2" &&
		cmp -s "$T/want$1$2" "$T/got$1$2" &&
		pc "$1" stat "$f" >/dev/null
	} 2>"$T/err$1$2"
	echo $? >"$T/rc$1$2"
}

cpids=
i=1
while [ $i -le $N ]; do
	m=$(( (i % 4 == 0) ? 1024 : 8192 + 512 * i ))
	client 0 $i $m &
	cpids="$cpids $!"
	client L $i $m &
	cpids="$cpids $!"
	i=$((i + 1))
done
for p in $cpids; do wait $p; done

bad=0
for d in 0 L; do
	i=1
	while [ $i -le $N ]; do
		if [ "$(cat "$T/rc$d$i" 2>/dev/null)" != 0 ]; then
			bad=$((bad + 1))
			echo "# client $d-$i failed: $(cat "$T/err$d$i" 2>/dev/null)"
		fi
		i=$((i + 1))
	done
done
is $bad 0 "$((2 * N)) clients at once (both dialects) each wrote and read back its own file"

# Each reads another's file, through the other dialect.
cpids=
i=1
while [ $i -le $N ]; do
	j=$(( i % N + 1 ))
	( pc L read "/0-$j" >"$T/x$i" 2>/dev/null && cmp -s "$T/x$i" "$T/want0$j" ) &
	cpids="$cpids $!"
	( pc 0 read "/L-$j" >"$T/y$i" 2>/dev/null && cmp -s "$T/y$i" "$T/wantL$j" ) &
	cpids="$cpids $!"
	i=$((i + 1))
done
bad=0
for p in $cpids; do wait $p || bad=$((bad + 1)); done
is $bad 0 "$((2 * N)) clients at once read files written through the other dialect"

pc 0 ls / >"$T/ls" 2>&1; ok "ls /"
is "$(grep -c -- '^[0L]-[0-9]*$' "$T/ls")" $((2 * N)) "the listing holds every file"

i=1
while [ $i -le $N ]; do pc L rm "/L-$i" "/0-$i" 2>>"$T/rmerr" || echo fail >>"$T/rmfail"; i=$((i + 1)); done
[ ! -s "$T/rmfail" ]; ok "every file removed"
is "$(pc L ls / 2>&1 | grep -c -- '^[0L]-')" 0 "and gone"

kill -0 $mux0 2>/dev/null && kill -0 $muxL 2>/dev/null; ok "both 9mux still running"
termwait $mux0; st0=$?
termwait $muxL; stL=$?
is "$st0 $stL" "0 0" "both exit 0 on SIGTERM"
pids=$ram

done_testing
