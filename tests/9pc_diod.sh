#!/bin/sh
# 9pc -V 9P2000.L against Debian's diod, a third-party 9P2000.L server,
# exporting a temporary directory: what 9pc writes, lists, reads and
# removes is checked against the directory itself.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50	# servers get SIGKILL if SIGTERM has not ended them in 5 s

DIOD=$(command -v diod || ls /usr/sbin/diod 2>/dev/null)
if [ -z "$DIOD" ]; then echo "1..0 # SKIP diod is not installed"; exit 0; fi
if [ ! -x "$B/9pc" ]; then echo "1..0 # SKIP $B/9pc not built"; exit 0; fi

E=$T/export
mkdir "$E" "$E/sub"
chmod 755 "$E"
printf 'hello from the export\n' > "$E/hello.txt"
printf 'inner\n' > "$E/sub/inner"
chmod 640 "$E/sub/inner"

# diod without munge; it must stay in the foreground to be killed by pid
startdiod() {	# startdiod LISTEN LOG
	"$DIOD" -f -n -c /dev/null -l "$1" -e "$E" </dev/null >"$2" 2>&1 &
	pids="$pids $!"
	lastpid=$!
}
SOCK=$T/diod.sock
startdiod "$SOCK" "$T/diod.log"
waitsock "$SOCK" "$lastpid"; ok "diod is serving $E on $SOCK"
if [ ! -S "$SOCK" ]; then sed 's/^/# /' "$T/diod.log"; echo "1..$n"; exit 1; fi

P="timeout -k 5 20 $B/9pc -a unix!$SOCK -V 9P2000.L -A $E"

# ls against the directory's own listing
$P ls >"$T/out" 2>"$T/err"; ok "ls"
want=$(cd "$E" && LC_ALL=C ls -1p)
is "$(LC_ALL=C sort "$T/out")" "$want" "ls names what the directory holds"

$P ls -l >"$T/out" 2>"$T/err"; ok "ls -l"
for f in hello.txt sub; do
	got=$(awk -v f="$f" '$NF == f { print substr($1, 1, 1) substr($1, 3), $2, $3, $4 }' "$T/out")
	want=$(stat -c '%A %u %g %s' "$E/$f")
	is "$got" "$want" "ls -l $f: mode, uid, gid and length as stat(1) sees them"
done
$P ls -l sub >"$T/out" 2>"$T/err"
is "$(awk '{ print $1, $4, $NF }' "$T/out")" "--rw-r----- 6 inner" "ls -l sub: mode 640, length 6"

# read
$P read hello.txt >"$T/out" 2>"$T/err"; ok "read hello.txt"
cmp -s "$T/out" "$E/hello.txt"; ok "read gives the file's bytes"

# create and write, checked in the directory
awk 'BEGIN { for(i = 0; i < 20000; i++) printf "%06d abcdefghijklmnopqrstuvwxyz\n", i }' > "$T/big"
$P create big 2>"$T/err"; ok "create big"
[ -f "$E/big" ] && [ ! -s "$E/big" ]; ok "an empty file appeared in the directory"
$P write big <"$T/big" 2>"$T/err"; r=$?; ok "write $(wc -c <"$T/big") bytes" $r
cmp -s "$E/big" "$T/big"; ok "the directory's file holds what 9pc wrote"
$P -m 4096 read big >"$T/out" 2>"$T/err"; ok "read it back with msize 4096"
cmp -s "$T/out" "$T/big"; ok "... the same bytes"
printf 'tiny\n' | $P -m 1000 write big 2>"$T/err"; ok "write a short file over it, msize 1000"
is "$(cat "$E/big")" "tiny" "write truncated the file"
printf 'changed locally\n' > "$E/hello.txt"
is "$($P read hello.txt)" "changed locally" "9pc reads a change made in the directory"

# stat against stat(1)
$P stat big >"$T/out" 2>"$T/err"; ok "stat big"
is "$(awk '$1 == "length" { print $2 }' "$T/out")" "$(stat -c %s "$E/big")" "stat length"
is "$(awk '$1 == "umode" { print $2 }' "$T/out")" "$(printf '0%o' "0x$(stat -c %f "$E/big")")" "stat umode"
is "$(awk '$1 == "mtime" { print $2 }' "$T/out")" "$(stat -c %Y "$E/big")" "stat mtime"
is "$(awk '$1 == "uid" { print $2 }' "$T/out")" "$(stat -c %u "$E/big")" "stat uid"

# mkdir, and a file in it
$P mkdir newdir 2>"$T/err"; ok "mkdir newdir"
[ -d "$E/newdir" ]; ok "the directory exists"
$P create newdir/f 2>"$T/err" && printf 'in newdir\n' | $P write newdir/f 2>>"$T/err"; ok "create and write newdir/f"
is "$(cat "$E/newdir/f" 2>&1)" "in newdir" "newdir/f holds the data"
is "$($P ls newdir)" "f" "ls newdir"

# remove
$P rm newdir/f 2>"$T/err"; ok "rm newdir/f"
[ ! -e "$E/newdir/f" ]; ok "newdir/f is gone from the directory"
$P rm newdir big 2>"$T/err"; ok "rm newdir big"
[ ! -e "$E/newdir" ] && [ ! -e "$E/big" ]; ok "both are gone"
$P rm sub 2>"$T/err"; st=$?
[ $st -ne 0 ] && [ -d "$E/sub" ]; ok "rm of a non-empty directory fails, directory kept"
grep -q '^9pc: .*Directory not empty' "$T/err"; r=$?; ok "... with diod's error: $(cat "$T/err")" $r

# failures: the server's error text and a non-zero status
$P read nothere >"$T/out" 2>"$T/err"; st=$?
[ $st -ne 0 ] && [ ! -s "$T/out" ]; ok "read of a missing file fails"
grep -q '^9pc: .*No such file or directory' "$T/err"; r=$?; ok "... with ENOENT's text: $(cat "$T/err")" $r
$P create hello.txt 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q '^9pc: .*File exists' "$T/err"; r=$?; ok "create of an existing file: $(cat "$T/err")" $r
is "$(cat "$E/hello.txt")" "changed locally" "... and the file is untouched"

# the same over TCP, and by name in the namespace directory
PORT=$(( 20000 + ($$ * 7) % 20000 ))
startdiod "127.0.0.1:$PORT" "$T/diodtcp.log"
i=0
until grep -q . "$T/diodtcp.log" 2>/dev/null || timeout -k 2 5 "$B/9pc" -a "tcp!127.0.0.1!$PORT" -V 9P2000.L -A "$E" ls >/dev/null 2>&1 || [ $i -ge 50 ]; do
	sleep 0.1; i=$((i + 1))
done
if kill -0 "$lastpid" 2>/dev/null; then
	is "$(timeout -k 5 20 "$B/9pc" -a "tcp!127.0.0.1!$PORT" -V 9P2000.L -A "$E" read sub/inner 2>&1)" "inner" "read over tcp!127.0.0.1!$PORT"
else
	n=$((n + 1)); echo "ok $n # SKIP port $PORT was taken"
fi
mkdir "$T/ns"
ln -s "$SOCK" "$T/ns/diod"
is "$(NAMESPACE=$T/ns timeout -k 5 20 "$B/9pc" -V 9P2000.L -A "$E" read diod/sub/inner 2>&1)" "inner" "9pc read diod/sub/inner through NAMESPACE"

kill -0 $pids 2>/dev/null; ok "diod still running"
done_testing
