#!/bin/sh
# Debian's diod (a third-party 9P2000.L server) behind 9mux -V 9P2000.L,
# with several `9pc -V 9P2000.L` clients at once writing, reading, listing
# and removing files through the one upstream connection: what each wrote
# is checked against the exported directory itself, and what each reads
# back against what it wrote.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

DIOD=$(command -v diod || ls /usr/sbin/diod 2>/dev/null)
if [ -z "$DIOD" ]; then echo "1..0 # SKIP diod is not installed"; exit 0; fi
for p in 9mux 9pc; do
	if [ ! -x "$B/$p" ]; then echo "not ok 1 - $B/$p is built"; echo "1..1"; exit 1; fi
done

E=$T/export
mkdir "$E"
chmod 755 "$E"
printf 'already there\n' > "$E/old.txt"

# diod without munge (-n) or a user database (-N), in the foreground.
"$DIOD" -f -n -N -c /dev/null -l "$T/diod.sock" -e "$E" >"$T/diod.log" 2>&1 &
diod=$!
pids="$pids $diod"
waitsock "$T/diod.sock" $diod; ok "diod serves $E"
if [ $? -ne 0 ] || [ ! -S "$T/diod.sock" ]; then sed 's/^/# /' "$T/diod.log"; echo "1..$n"; exit 1; fi

"$B/9mux" -V 9P2000.L -a "unix!$T/mux.sock" "unix!$T/diod.sock" 2>"$T/mux.err" &
mux=$!
pids="$pids $mux"
waitsock "$T/mux.sock" $mux; ok "9mux -V 9P2000.L listens in front of diod"
if [ ! -S "$T/mux.sock" ]; then sed 's/^/# /' "$T/mux.err"; echo "1..$n"; exit 1; fi

P="timeout 60 $B/9pc -a unix!$T/mux.sock -V 9P2000.L -A $E"

$P read /old.txt >"$T/old.out" 2>"$T/old.err"; ok "read a file diod already had"
is "$(cat "$T/old.out")" "already there" "its content"

# Each client: its own directory, a file several messages long, read back,
# listed, a second file created and removed.
N=8
client() {	# client I
	i=$1
	d=/c$i
	awk -v i="$i" 'BEGIN { for(k = 0; k < 4000; k++) printf "client %d line %d\n", i, k }' >"$T/want$i"
	{
		$P mkdir "$d" &&
		$P create "$d/data" &&
		$P write "$d/data" <"$T/want$i" &&
		$P read "$d/data" >"$T/got$i" &&
		cmp -s "$T/want$i" "$T/got$i" &&
		$P create "$d/tmp" &&
		$P ls "$d" >"$T/ls$i" &&
		$P rm "$d/tmp" &&
		$P stat "$d/data" >"$T/stat$i"
	} 2>"$T/err$i"
	echo $? >"$T/rc$i"
}
i=1
cpids=
while [ $i -le $N ]; do
	client $i &
	cpids="$cpids $!"
	i=$((i + 1))
done
for p in $cpids; do wait $p; done

i=1
while [ $i -le $N ]; do
	is "$(cat "$T/rc$i" 2>/dev/null)" 0 "client $i: mkdir, write, read back equal, create, ls, rm, stat"
	[ -s "$T/err$i" ] && sed 's/^/# /' "$T/err$i"
	cmp -s "$T/want$i" "$E/c$i/data"; ok "client $i: the export holds exactly what it wrote"
	grep -qs '^tmp$' "$T/ls$i"; ok "client $i: ls showed the created file"
	[ ! -e "$E/c$i/tmp" ]; ok "client $i: rm removed it from the export"
	grep -qs "$(wc -c <"$T/want$i" | tr -d ' ')" "$T/stat$i"; ok "client $i: stat shows the length"
	i=$((i + 1))
done

# Many short sessions at once: each reads every other client's file.
i=1
cpids=
while [ $i -le $N ]; do
	( j=$(( i % N + 1 )); $P read "/c$j/data" >"$T/cross$i" 2>/dev/null; cmp -s "$T/cross$i" "$T/want$j" ) &
	cpids="$cpids $!"
	i=$((i + 1))
done
bad=0
for p in $cpids; do wait $p || bad=$((bad + 1)); done
is $bad 0 "$N clients reading each other's files at once"

kill -0 $mux 2>/dev/null; ok "9mux still running"
kill -0 $diod 2>/dev/null; ok "diod still running"
termwait $mux; st=$?
is $st 0 "9mux exits 0 on SIGTERM"
pids=$diod

done_testing
