#!/bin/sh
# make run: 9ramfs behind 9mux on a unix socket in a temporary directory,
# several 9pc clients at once through the one upstream connection, and a
# report of what each saw and what 9mux counted: its control tree (-x)
# read with 9pc, and its log.  Everything started here
# is stopped by PID and the directory removed, however the demo ends.
B=${1:-build}/bin
tmp=$(mktemp -d /tmp/9mux-run.XXXXXX) || exit 1
ramfs_pid= mux_pid=
cleanup() {
	[ -n "$mux_pid" ] && kill "$mux_pid" 2>/dev/null
	[ -n "$ramfs_pid" ] && kill "$ramfs_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

waitsock() {
	i=0
	while [ ! -S "$1" ]; do
		i=$((i+1)); [ $i -gt 100 ] && { echo "run: $1 never appeared" >&2; exit 1; }
		sleep 0.05
	done
}

echo "== 9ramfs on unix!$tmp/ramfs"
"$B/9ramfs" -a "unix!$tmp/ramfs" 2>"$tmp/ramfs.log" &
ramfs_pid=$!
waitsock "$tmp/ramfs"

echo "== 9mux -v -x 'unix!$tmp/ctl' -a 'unix!$tmp/9mux' 'unix!$tmp/ramfs'"
"$B/9mux" -v -x "unix!$tmp/ctl" -a "unix!$tmp/9mux" "unix!$tmp/ramfs" 2>"$tmp/9mux.log" &
mux_pid=$!
waitsock "$tmp/9mux"
waitsock "$tmp/ctl"

A="unix!$tmp/9mux"
pids=
N=6
# how many connections 9ramfs has while the clients work: its sockets, less its listener
: >"$tmp/sampling"
(
	max=0
	while [ -e "$tmp/sampling" ]; do
		n=$(ls -l "/proc/$ramfs_pid/fd" 2>/dev/null | grep -c 'socket:')
		[ $((n - 1)) -gt $max ] && max=$((n - 1)) && echo $max >"$tmp/maxconn"
		sleep 0.01
	done
) &
sampler=$!
echo "== $N clients at once through 9mux"
i=1
while [ $i -le $N ]; do
	(
		exec >"$tmp/client$i.out" 2>&1
		f=/client$i
		"$B/9pc" -a "$A" -u "user$i" create $f || exit 1
		seq 1 $((i*2000)) | "$B/9pc" -a "$A" -u "user$i" write $f || exit 1
		"$B/9pc" -a "$A" -u "user$i" read $f >"$tmp/back$i" || exit 1
		if seq 1 $((i*2000)) | cmp -s - "$tmp/back$i"; then
			echo "wrote and read back $(wc -c <"$tmp/back$i") bytes of $f: identical"
		else
			echo "MISMATCH reading back $f"; exit 1
		fi
		"$B/9pc" -a "$A" -u "user$i" mkdir /dir$i || exit 1
		"$B/9pc" -a "$A" -u "user$i" create /dir$i/greeting || exit 1
		echo "hello from client $i" | "$B/9pc" -a "$A" -u "user$i" write /dir$i/greeting || exit 1
		"$B/9pc" -a "$A" -u "user$i" read /dir$i/greeting
	) &
	pids="$pids $!"
	i=$((i+1))
done
fail=0
for p in $pids; do
	wait "$p" || fail=1
done
rm -f "$tmp/sampling"
wait "$sampler"
i=1
while [ $i -le $N ]; do
	echo "-- client $i"
	sed 's/^/   /' "$tmp/client$i.out"
	i=$((i+1))
done
echo "== the point: $N clients, and 9ramfs had at most $(cat "$tmp/maxconn" 2>/dev/null || echo '?') connection(s) meanwhile: 9mux's one"
echo "== ls -l / through 9mux"
"$B/9pc" -a "$A" ls -l / | sed 's/^/   /'
C="unix!$tmp/ctl"
echo "== its control tree: 9pc -a '$C' ls"
"$B/9pc" -a "$C" ls | tr '\n' ' ' | sed 's/^/   /; s/ $/\n/'
echo "== 9pc -a '$C' read stats"
"$B/9pc" -a "$C" read stats | sed 's/^/   /'
echo "== 9pc -a '$C' read upstream/state; upstream/fids (none left: every client clunked its own)"
echo "   $("$B/9pc" -a "$C" read upstream/state); $("$B/9pc" -a "$C" read upstream/fids)"
echo "== stopping 9mux (SIGTERM); what it logged and counted:"
kill "$mux_pid"; wait "$mux_pid"; st=$?; mux_pid=
echo "   $(grep -c ' c[0-9]* connected on ' "$tmp/9mux.log") client connections over one upstream connection; 9mux -v logged, in order:"
total=$(wc -l <"$tmp/9mux.log")
if [ "$total" -le 16 ]; then
	sed 's/^/   /' "$tmp/9mux.log"
else
	head -n 8 "$tmp/9mux.log" | sed 's/^/   /'
	echo "   ... $((total - 12)) lines more of clients coming and going ..."
	tail -n 4 "$tmp/9mux.log" | sed 's/^/   /'
fi
echo "   exit status $st"
[ $fail = 0 ] && echo "== all $N clients succeeded" || { echo "== some client FAILED"; exit 1; }
