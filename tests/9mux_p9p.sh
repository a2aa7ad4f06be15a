#!/bin/sh
# plan9port's own clients through 9mux, used as a new user would: 9mux -n
# posts 9ramfs in a private $NAMESPACE, and plan9port's 9p reaches it by
# name (9p ls ramfs/) and by address (9p -a unix!...), alone and several at
# once; 9pfuse mounts it and ordinary programs (cp, cat, ls, mkdir, mv, rm)
# work through the mount, each result checked against what 9p sees. Then
# the same clients run against 9testsrv, which must log no protocol
# violation and hold no fid once they are gone.
# plan9port is found as $PLAN9/bin/9p or 9p on PATH; its programs are run
# by full path, so its ls, cat, rm... never replace the system's here.
. "$(dirname "$0")/lib/tap.sh"
if [ -n "$PLAN9" ] && [ -x "$PLAN9/bin/9p" ]; then
	P9=$PLAN9/bin
elif command -v 9p >/dev/null 2>&1; then
	P9=$(dirname "$(command -v 9p)")
else
	echo "1..0 # SKIP plan9port not installed"
	exit 0
fi
# plan9port has its own ls, cat, sort, wc...: the system's come first here.
PATH=/usr/local/bin:/usr/bin:/bin:$PATH

# Its own stop and cleanup: the daemons are its own children, and
# 9pfuse mounts must go before T does.
stop() {	# stop PID: SIGTERM, SIGKILL after 15 s; its exit status
	kill -TERM "$1" 2>/dev/null
	i=0	# 9mux may drain for 10 s
	while alive "$1" && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
	if alive "$1"; then
		echo "# still runs 15 s after SIGTERM: $(ps -o args= -p "$1")"
		kill -KILL "$1"
	fi
	wait "$1"
}
mounted() {	# mounted DIR: a file system is mounted on DIR
	awk -v d="$1" '$2 == d { f = 1 } END { exit !f }' /proc/mounts 2>/dev/null
}
daemonpids() {	# daemonpids WORD: pids of plan9port daemons started here (they fork away)
	pgrep -f "$T/$1\$" 2>/dev/null
}
cleanup() {
	# Unmount before anything else: rm -rf must never walk into a mount.
	for m in "$T/mnt" "$T/mnt2"; do
		if mounted "$m"; then fusermount -u -z "$m" 2>/dev/null; fi
	done
	for p in $(daemonpids mnt) $(daemonpids mnt2) $(daemonpids ps.sock) $(daemonpids ps2.sock); do kill "$p" 2>/dev/null; done
	for p in $pids; do stop "$p" >/dev/null; done
	if mounted "$T/mnt" || mounted "$T/mnt2"; then
		echo "# $T left in place: still mounted" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

skip() {	# skip DESC REASON
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
lines() {	# lines TAG N: N numbered lines naming TAG, as test data
	awk -v t="$1" -v n="$2" 'BEGIN { for(k = 0; k < n; k++) printf "%s line %d of %d\n", t, k, n }'
}

for p in 9mux 9ramfs 9testsrv; do
	if [ ! -x "$B/$p" ]; then echo "not ok 1 - $B/$p is built"; echo "1..1"; exit 1; fi
done
echo "# plan9port from $P9"

NS=$T/ns
mkdir -m 700 "$NS" "$T/mnt" "$T/mnt2"

"$B/9ramfs" -a "unix!$T/ram.sock" 2>"$T/ram.err" &
ram=$!
pids="$pids $ram"
waitsock "$T/ram.sock" $ram; ok "9ramfs listens"

NAMESPACE=$NS "$B/9mux" -D -n ramfs -a "unix!$T/mux.sock" "unix!$T/ram.sock" 2>"$T/mux.err" &
mux=$!
pids="$pids $mux"
waitsock "$T/mux.sock" $mux; ok "9mux listens"
waitsock "$NS/ramfs" $mux; ok "9mux -n ramfs posts \$NAMESPACE/ramfs"
if [ ! -S "$NS/ramfs" ]; then sed 's/^/# /' "$T/mux.err"; echo "1..$n"; exit 1; fi

# 9p by service name, as plan9port's documentation has it.
p9() {	# p9 args...: plan9port's 9p with our name space
	NAMESPACE=$NS timeout 30 "$P9/9p" "$@"
}
p9a() {	# p9a args...: plan9port's 9p dialing the 9mux socket
	timeout 30 "$P9/9p" -a "unix!$T/mux.sock" "$@"
}

out=$(p9 ls ramfs/ 2>"$T/err"); ok "9p ls ramfs/"
is "$out$(cat "$T/err")" "" "the new tree is empty"

p9 create ramfs/x 2>"$T/err"; ok "9p create ramfs/x"
is "$(cat "$T/err")" "" "create says nothing"	# 9p create exits 0 even when it fails
echo "hello world" | p9 write ramfs/x 2>"$T/err"; ok "9p write ramfs/x"
is "$(p9 read ramfs/x 2>&1)" "hello world" "9p read ramfs/x gives it back"
sx=$(p9 stat ramfs/x 2>&1); ok "9p stat ramfs/x"
case "$sx" in "'x' "*" l 12 "*) true ;; *) echo "# $sx"; false ;; esac; ok "stat names x with length 12"
case "$(p9 ls -l ramfs/ 2>&1)" in *" 12 "*" x") true ;; *) false ;; esac; ok "9p ls -l ramfs/ lists x, 12 bytes"

is "$(p9a read /x 2>&1)" "hello world" "9p -a unix!.../mux.sock read /x"
is "$(p9a ls / 2>&1)" "x" "9p -a ... ls /"

# A file many messages long (9p's msize is 8192).
lines big 20000 >"$T/big"
bigsize=$(wc -c <"$T/big" | tr -d ' ')
p9 create ramfs/big 2>"$T/err" && p9 write ramfs/big <"$T/big" 2>>"$T/err"; ok "9p write of $bigsize bytes"
p9 read ramfs/big >"$T/big.got" 2>>"$T/err"; ok "9p read of it"
cmp -s "$T/big" "$T/big.got"; ok "it reads back the same"

# Several clients at once, each with its own file.
N=8
client() {	# client I
	lines "c$1" $((500 * $1)) >"$T/want$1"
	p9 create "ramfs/c$1" &&
	p9 write "ramfs/c$1" <"$T/want$1" &&
	p9a read "/c$1" >"$T/got$1" &&
	cmp -s "$T/want$1" "$T/got$1"
}
cpids=
i=1
while [ $i -le $N ]; do
	client $i 2>"$T/cerr$i" &
	cpids="$cpids $!"
	i=$((i + 1))
done
i=1
for p in $cpids; do
	wait "$p"; ok "concurrent client $i wrote and read back its file"
	i=$((i + 1))
done
is "$(p9 ls ramfs/ 2>&1 | wc -l | tr -d ' ')" $((N + 2)) "9p ls ramfs/ lists all $((N + 2)) files"

# readfd and writefd rely on Topenfd, 9pserve's own extension, which
# 9mux answers as 9pserve does: a descriptor the file is read from or
# written into.
is "$(p9 readfd ramfs/x 2>&1)" "hello world" "9p readfd ramfs/x"
p9 create ramfs/fd 2>"$T/err" && lines fd 20000 | p9 writefd ramfs/fd 2>>"$T/err"
ok "9p writefd ramfs/fd: 20000 lines into a descriptor $(cat "$T/err")"
is "$(p9 read ramfs/fd 2>&1 | cksum)" "$(lines fd 20000 | cksum)" "the file holds them: 9p read"
is "$(p9 readfd ramfs/fd 2>&1 | cksum)" "$(lines fd 20000 | cksum)" "and 9p readfd"
p9 rm ramfs/fd
is "$(p9 read ramfs/x 2>&1)" "hello world" "9mux serves on after readfd"

p9 rm ramfs/x 2>"$T/err"; ok "9p rm ramfs/x"
is "$(cat "$T/err")" "" "rm says nothing"
p9 read ramfs/x >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ]; ok "x is gone (status $rc)"

# 9pfuse, when FUSE can be used here.
fusewhy=
if [ ! -x "$P9/9pfuse" ]; then fusewhy="no 9pfuse in $P9"
elif [ ! -c /dev/fuse ]; then fusewhy="no /dev/fuse"
elif ! command -v fusermount >/dev/null 2>&1; then fusewhy="no fusermount"
fi
M=$T/mnt
if [ -z "$fusewhy" ]; then
	if ! timeout 30 "$P9/9pfuse" "unix!$T/mux.sock" "$M" 2>"$T/fuse.err" || ! mounted "$M"; then
		fusewhy="9pfuse cannot mount here: $(head -n 1 "$T/fuse.err")"
	fi
fi
if [ -n "$fusewhy" ]; then
	skip "9pfuse through 9mux" "$fusewhy"
else
	true; ok "9pfuse unix!.../mux.sock mounts"
	F="timeout 30"
	is "$(LC_ALL=C $F ls "$M" | tr '\n' ' ')" "$(p9 ls ramfs/ | LC_ALL=C sort | tr '\n' ' ')" "ls of the mount lists what 9p lists"
	$F cmp -s "$T/big" "$M/big"; ok "cat of big through the mount: what 9p wrote"
	is "$($F stat -c %s "$M/big")" "$bigsize" "its size"

	lines fused 30000 >"$T/fused"
	$F cp "$T/fused" "$M/fused"; ok "cp a file into the mount"
	$F cmp -s "$T/fused" "$M/fused"; ok "it reads back through the mount"
	p9 read ramfs/fused >"$T/fused.got" 2>&1 && cmp -s "$T/fused" "$T/fused.got"; ok "9p reads the same file"

	$F mkdir "$M/d"; ok "mkdir in the mount"
	echo one >"$M/d/a" && echo two >>"$M/d/a"; ok "write and append"
	is "$($F cat "$M/d/a" | tr '\n' ' ')" "one two " "cat gives both lines"
	$F mv "$M/d/a" "$M/d/b"; ok "mv renames"
	is "$($F ls "$M/d")" "b" "the directory holds only the new name"
	is "$(p9 read ramfs/d/b 2>&1 | tr '\n' ' ')" "one two " "9p reads the renamed file"
	$F truncate -s 3 "$M/d/b"; ok "truncate"
	is "$(p9 read ramfs/d/b 2>&1)" "one" "9p sees it truncated"
	$F chmod 600 "$M/d/b"; ok "chmod"
	is "$($F stat -c %a "$M/d/b")" "600" "the mode changed"
	$F rm "$M/d/b" && $F rmdir "$M/d"; ok "rm and rmdir"
	p9 ls ramfs/d >/dev/null 2>&1
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ]; ok "9p no longer finds d (status $rc)"
	$F rm "$M/fused"; ok "rm fused"

	# 9pfuse holds a fid for every file the kernel has looked up, until the
	# unmount: walking a tree of a few thousand files must not exhaust
	# 9mux's per-client fids (default -f 65536).
	d=0
	while [ $d -lt 45 ]; do
		mkdir "$M/many$d" 2>/dev/null
		awk -v d=$d 'BEGIN { for(f = 0; f < 100; f++) printf "ramfs/many%d/f%d\n", d, f }' |
			NAMESPACE=$NS xargs timeout 30 "$P9/9p" create 2>/dev/null
		d=$((d + 1))
	done
	k=$(timeout 120 find "$M"/many* -type f 2>/dev/null | wc -l | tr -d ' ')
	is "$k" 4500 "9pfuse: find sees 4500 files in 45 directories"

	timeout 30 fusermount -u "$M"; ok "fusermount -u"
	i=0
	while [ -n "$(daemonpids mnt)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -z "$(daemonpids mnt)" ]; ok "9pfuse exits after the unmount"
fi

# 9pserve in front of 9mux: plan9port's own multiplexer as a client of
# 9mux (with Topenfd, which 9pserve answers itself).
if [ -x "$P9/9pserve" ]; then
	timeout 30 "$P9/9pserve" -c "unix!$T/mux.sock" "unix!$T/ps.sock" 2>"$T/ps.err"
	ok "9pserve -c unix!.../mux.sock starts"
	i=0
	while [ ! -S "$T/ps.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	is "$(timeout 30 "$P9/9p" -a "unix!$T/ps.sock" read /c1 2>&1 | cksum)" "$(cksum <"$T/want1")" "9p through 9pserve through 9mux"
	is "$(timeout 30 "$P9/9p" -a "unix!$T/ps.sock" readfd /c2 2>&1 | cksum)" "$(cksum <"$T/want2")" "9p readfd through 9pserve through 9mux"
	for p in $(daemonpids ps.sock); do kill "$p" 2>/dev/null; done
else
	skip "9pserve in front of 9mux" "no 9pserve in $P9"
fi

kill -0 $mux 2>/dev/null; ok "9mux still runs"
if [ $fails -ne 0 ]; then echo "# 9mux -D trace, last lines:"; tail -n 30 "$T/mux.err" | sed 's/^/# /'; fi

# The same clients against 9testsrv, which checks the protocol rules.
"$B/9testsrv" -l "$T/srv.log" -a "unix!$T/srv.sock" 2>"$T/srv.err" &
srv=$!
pids="$pids $srv"
waitsock "$T/srv.sock" $srv; ok "9testsrv listens"
"$B/9mux" -a "unix!$T/mux2.sock" "unix!$T/srv.sock" 2>"$T/mux2.err" &
mux2=$!
pids="$pids $mux2"
waitsock "$T/mux2.sock" $mux2; ok "9mux in front of 9testsrv listens"
A="timeout 30 $P9/9p -a unix!$T/mux2.sock"
is "$($A read /hello 2>&1)" "hello, world" "9p read /hello"
is "$($A read /big 2>&1 | wc -c | tr -d ' ')" 20000 "9p read /big gives its 20000 bytes"
$A create /new 2>&1 && lines new 3000 | $A write /new && $A rm /new; ok "9p create, write, rm"
is "$($A readfd /hello 2>&1)" "hello, world" "9p readfd /hello: 9mux answers Topenfd as 9pserve does"
if [ -z "$fusewhy" ]; then
	M=$T/mnt2
	timeout 30 "$P9/9pfuse" "unix!$T/mux2.sock" "$M" 2>"$T/fuse2.err" && mounted "$M"; ok "9pfuse mounts 9testsrv through 9mux"
	is "$(timeout 30 cat "$M/sub/file" 2>&1)" "sub file" "cat sub/file"
	timeout 30 cp "$T/big" "$M/copy" && timeout 30 cmp -s "$T/big" "$M/copy" && timeout 30 rm "$M/copy"; ok "cp, cmp, rm through the mount"
	timeout 30 ls -lR "$M" >/dev/null; ok "ls -lR"
	timeout 30 fusermount -u "$M"; ok "fusermount -u"
	i=0
	while [ -n "$(daemonpids mnt2)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
# 9pserve in front of 9mux flushes the requests of a client that hangs
# up: a Tread that 9testsrv never answers (-x Tread), through 9pserve and
# directly, then the clients are killed.
if [ -x "$P9/9pserve" ]; then
	"$B/9testsrv" -x Tread -l "$T/srvx.log" -a "unix!$T/srvx.sock" 2>"$T/srvx.err" &
	srvx=$!
	pids="$pids $srvx"
	waitsock "$T/srvx.sock" $srvx
	"$B/9mux" -a "unix!$T/mux3.sock" "unix!$T/srvx.sock" 2>"$T/mux3.err" &
	mux3=$!
	pids="$pids $mux3"
	waitsock "$T/mux3.sock" $mux3; ok "9mux in front of 9testsrv -x Tread listens"
	timeout 30 "$P9/9pserve" -c "unix!$T/mux3.sock" "unix!$T/ps2.sock" 2>"$T/ps2.err"
	i=0
	while [ ! -S "$T/ps2.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	k=0
	for a in "$T/ps2.sock" "$T/mux3.sock"; do
		k=$((k + 1))
		timeout 30 "$P9/9p" -a "unix!$a" read /hello >/dev/null 2>&1 &
		c=$!
		i=0	# until its Tread is upstream
		while [ "$(grep -c '^Tread' "$T/srvx.log" 2>/dev/null)" -lt $k ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill $c
		wait $c 2>/dev/null
	done
	i=0
	while [ "$(grep -c '^Tflush' "$T/srvx.log")" -lt 2 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	is "$(grep -c '^Tflush' "$T/srvx.log")" 2 "both unanswered Treads were flushed upstream"
	i=0
	while :; do
		kill -USR1 $srvx
		sleep 0.2
		f=$(grep '^FIDS' "$T/srvx.log" | tail -n 1)
		[ "$f" = "FIDS 0" ] || [ $i -ge 25 ] && break
		i=$((i + 1))
	done
	is "$f" "FIDS 0" "and every fid clunked"
	is "$(grep '^TAGS' "$T/srvx.log" | tail -n 1)" "TAGS 0" "no tag left in flight"
	is "$(grep -c VIOLATION "$T/srvx.log")" 0 "9testsrv -x Tread saw no protocol violation"
	for p in $(daemonpids ps2.sock); do kill "$p" 2>/dev/null; done
fi

# Every client has gone: 9mux must have clunked all their fids.
i=0
while :; do
	kill -USR1 $srv
	sleep 0.2
	f=$(grep '^FIDS' "$T/srv.log" | tail -n 1)
	[ "$f" = "FIDS 0" ] || [ $i -ge 25 ] && break
	i=$((i + 1))
done
is "$f" "FIDS 0" "9testsrv holds no fid after the clients left"
is "$(grep -c VIOLATION "$T/srv.log")" 0 "9testsrv saw no protocol violation"
grep VIOLATION "$T/srv.log" | head -n 5 | sed 's/^/# /'

# Each daemon exits 0 on SIGTERM (so a sanitizer's report would count).
for p in $pids; do
	what=$(ps -o args= -p "$p" 2>/dev/null | awk '{ print $1 }')
	stop "$p"
	is $? 0 "${what##*/} exits 0 on SIGTERM"
done
pids=

done_testing
