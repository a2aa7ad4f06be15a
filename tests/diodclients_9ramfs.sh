#!/bin/sh
# diod's own 9P2000.L clients (diodcat, diodls, diodload from Debian's diod
# package) against 9ramfs; the tree is made and checked with 9pc.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50	# servers get SIGKILL if SIGTERM has not ended them in 5 s

for p in diodcat diodls diodload; do
	command -v $p >/dev/null 2>&1 || [ -x /usr/sbin/$p ] || { echo "1..0 # SKIP $p is not installed"; exit 0; }
done
PATH=$PATH:/usr/sbin
for p in 9ramfs 9pc; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done

SOCK=$T/ramfs.sock
"$B/9ramfs" -a "unix!$SOCK" </dev/null >/dev/null 2>"$T/ramfs.err" &
pid=$!
pids=$pid
waitsock "$SOCK" "$pid"; ok "9ramfs is serving $SOCK"

P="timeout -k 5 20 $B/9pc -a unix!$SOCK -V 9P2000.L"
awk 'BEGIN { for(i = 0; i < 5000; i++) printf "%05d the quick brown fox\n", i }' > "$T/big"
printf 'hello, diod\n' > "$T/hello"
$P mkdir d && $P create d/hello d/big zero null &&
	$P write d/hello <"$T/hello" && $P write d/big <"$T/big" && $P write zero <"$T/big"
ok "9pc makes the tree"

# diodcat: file contents, several msizes
timeout -k 5 20 diodcat -s "$SOCK" -a / d/hello >"$T/out" 2>"$T/err"; ok "diodcat d/hello"
cmp -s "$T/out" "$T/hello"; ok "diodcat prints the file"
[ ! -s "$T/err" ] || { sed 's/^/# /' "$T/err"; false; }; ok "diodcat says nothing on stderr"
timeout -k 5 20 diodcat -s "$SOCK" -a / -m 4096 d/big >"$T/out" 2>"$T/err"; ok "diodcat -m 4096 d/big"
cmp -s "$T/out" "$T/big"; r=$?; ok "diodcat reads $(wc -c <"$T/big") bytes right" $r
timeout -k 5 20 diodcat -s "$SOCK" -a / d/nothere >"$T/out" 2>"$T/err"; st=$?
[ $st -ne 0 ]; r=$?; ok "diodcat of a missing file fails ($(head -1 "$T/err"))" $r

# diodls: names.  (diodls -l walks from the directory fid it has opened,
# which 9P forbids and 9ramfs refuses with EBADF, so it is not run.)
timeout -k 5 20 diodls -s "$SOCK" -a / d >"$T/out" 2>"$T/err"; ok "diodls d"
is "$(grep -v '^\.\.\?$' "$T/out" | LC_ALL=C sort)" "$(printf 'big\nhello')" "diodls names the files"
[ ! -s "$T/err" ] || { sed 's/^/# /' "$T/err"; false; }; ok "diodls says nothing on stderr"

# diodload: threads reading zero and writing null on one connection each;
# it attaches to aname "ctl", which 9ramfs must accept as its root
timeout -k 5 60 diodload -s "$SOCK" -m 8192 -n 4 -r 1 >"$T/out" 2>&1; ok "diodload exits 0"
sed 's/^/# /' "$T/out"
! grep -v 'ops/s' "$T/out" | grep -q .; ok "diodload reports no errors"
ops=$(sed -n 's/.*: \([0-9][0-9]*\) ops\/s.*/\1/p' "$T/out")
[ -n "$ops" ] && [ "$ops" -gt 0 ]; ok "diodload did work: ${ops:-no} ops/s"
# its npc_pwrite sends one Twrite of msize-IOHDRSZ bytes
is "$($P stat null | awk '$1 == "length" { print $2 }')" $((8192 - 24)) "null holds what diodload wrote"
timeout -k 5 60 diodload -g -s "$SOCK" -n 4 -r 1 >"$T/out" 2>&1; ok "diodload -g exits 0"
! grep -v 'ops/s' "$T/out" | grep -q .; ok "diodload -g reports no errors"
ops=$(sed -n 's/.*: \([0-9][0-9]*\) ops\/s.*/\1/p' "$T/out")
[ -n "$ops" ] && [ "$ops" -gt 0 ]; ok "diodload -g did work: ${ops:-no} ops/s"

kill -0 "$pid" 2>/dev/null; ok "9ramfs still running"
is "$($P read d/hello)" "hello, diod" "9ramfs still serves the tree"
done_testing
