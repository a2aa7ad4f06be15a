#!/bin/sh
# libsynfs end to end: tests/synfs_prog/synfsd serves a synthetic tree on
# a unix socket from one poll loop; 9pc (9P2000 and 9P2000.L) and diod's
# 9P2000.L clients list, read and write it, clients come and go under
# clients/, ctl kill drops one, and a client sending garbage is dropped
# alone.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50

SRV=${NINEMUX_BUILD:-build}/tests/synfs_prog/synfsd
for p in "$SRV" "$B/9pc"; do
	if [ ! -x "$p" ]; then echo "1..0 # SKIP $p not built"; exit 0; fi
done

SOCK=$T/synfs.sock
# -q 2048: a pipelining client fills the output queue many times over
"$SRV" -q 2048 "unix!$SOCK" </dev/null >/dev/null 2>"$T/log" &
srv=$!
pids=$srv
waitsock "$SOCK" "$srv"; ok "synfsd is serving $SOCK"
if [ ! -S "$SOCK" ]; then sed 's/^/# /' "$T/log"; echo "1..$n"; exit 1; fi

P="timeout -k 5 20 $B/9pc -a unix!$SOCK"
PL="$P -V 9P2000.L"

# ls, read
$P ls >"$T/out" 2>"$T/err"; ok "ls /"
is "$(tr '\n' ' ' <"$T/out")" "big clients/ ctl echo stats version " "ls / names the tree"
$P ls -l >"$T/out" 2>"$T/err"; ok "ls -l /"
is "$(awk '$NF == "ctl" { print $1, $2, $4 }' "$T/out")" "---w--w---- synfsd 0" "ls -l: ctl is mode 0220, owner synfsd, length 0"
is "$(awk '$NF == "clients" { print $1 }' "$T/out")" "d-r-xr-xr-x" "ls -l: clients is a directory, 0555"
is "$($P read version)" "synfsd 1" "read version"
awk 'BEGIN { for(i = 0; i < 10000; i++) printf "%09d\n", i }' >"$T/big"
$P -m 4096 read big >"$T/out" 2>"$T/err"; ok "read big at msize 4096"
cmp -s "$T/out" "$T/big"; ok "big is 100000 bytes, all right"

# write ctl
echo "echo hello, synfs" | $P write ctl 2>"$T/err"; ok "write ctl: echo hello, synfs"
is "$($P read echo)" "hello, synfs" "read echo says what ctl was told"
grep -q '^ctl: echo hello, synfs$' "$T/log"; ok "the write callback saw the whole line"
echo frobnicate | $P write ctl >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ]; ok "write ctl frobnicate fails" $?
grep -q 'unknown command: frobnicate' "$T/err"; ok "with the callback's error ($(cat "$T/err"))"
$P read ctl >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q 'permission denied' "$T/err"; ok "read ctl: permission denied"
echo x | $P write version >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q 'permission denied' "$T/err"; ok "write version: permission denied"
$P rm version >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q 'permission denied' "$T/err"; ok "rm version: permission denied"
$P create newfile >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q 'permission denied' "$T/err"; ok "create: permission denied"

# stats: each 9pc is one connection
c0=$($P read stats | awk '$1 == "conns" { print $2 }')
for i in 1 2 3; do $P read version >/dev/null; done
c1=$($P read stats | awk '$1 == "conns" { print $2 }')
is "$((c1 - c0))" 4 "stats: conns went up by exactly 4 for 4 runs of 9pc"
is "$($P read stats | awk '$1 == "clients_now" { print $2 }')" 1 "stats: clients_now 1 (the reader itself)"

# clients come and go: a 9pc holds ctl open while its standard input is open
mkfifo "$T/fifo"
$P write ctl <"$T/fifo" >/dev/null 2>"$T/holder.err" &
holder=$!
exec 3>"$T/fifo"
i=0
while [ "$($P ls clients | wc -l)" -lt 2 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
$P ls clients >"$T/out"
is "$(wc -l <"$T/out" | tr -d ' ')" 2 "ls clients: the holder and ls itself"
hid=$(sort -n "$T/out" | head -1 | tr -d /)
is "$($P read "clients/$hid/id")" "$hid" "read clients/$hid/id"
echo "kill $hid" | $P write ctl 2>"$T/err"; ok "write ctl: kill $hid"
is "$($P ls clients | wc -l | tr -d ' ')" 1 "ls clients: the holder is gone"
$P read "clients/$hid/id" >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q 'file does not exist' "$T/err"; ok "clients/$hid/id: file does not exist ($(cat "$T/err"))"
echo "echo too late" >&3
exec 3>&-
wait $holder; st=$?
[ $st -ne 0 ]; ok "the killed holder's write failed (exit $st)" $?
echo "kill $hid" | $P write ctl >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q 'no such client' "$T/err"; ok "kill $hid again: no such client"

# 9P2000.L
$PL ls -l >"$T/out" 2>"$T/err"; ok "9P2000.L: ls -l /"
is "$(awk '$NF == "ctl" { print $1 }' "$T/out")" "---w--w----" "9P2000.L: ctl is mode 0220"
is "$($PL read version)" "synfsd 1" "9P2000.L: read version"
echo "echo over dotl" | $PL write ctl 2>"$T/err"; ok "9P2000.L: write ctl"
is "$($PL read echo)" "over dotl" "9P2000.L: read echo"
$PL -m 4096 read big | cmp -s - "$T/big"; ok "9P2000.L: read big at msize 4096"

# diod's clients
PATH=$PATH:/usr/sbin
if command -v diodcat >/dev/null 2>&1 && command -v diodls >/dev/null 2>&1; then
	is "$(timeout -k 5 20 diodcat -s "$SOCK" -a / version 2>"$T/err")" "synfsd 1" "diodcat version"
	timeout -k 5 20 diodcat -s "$SOCK" -a / -m 4096 big 2>"$T/err" | cmp -s - "$T/big"; ok "diodcat -m 4096 big"
	is "$(timeout -k 5 20 diodls -s "$SOCK" -a / / 2>"$T/err" | LC_ALL=C sort | tr '\n' ' ')" \
		"big clients ctl echo stats version " "diodls /"
	timeout -k 5 20 diodls -s "$SOCK" -a / -l / >"$T/out" 2>"$T/err"; ok "diodls -l / (walks from an open directory)"
	is "$(awk '$NF == "ctl" { print $1 }' "$T/out")" "--w--w----." "diodls -l: ctl is mode 0220"
	timeout -k 5 20 diodcat -s "$SOCK" -a / nothere >/dev/null 2>"$T/err"; st=$?
	[ $st -ne 0 ]; ok "diodcat nothere fails ($(head -1 "$T/err"))" $?
else
	echo "# diodcat and diodls not installed: skipped"
fi

# a client that pipelines 3000 Tstats: taken in turns as the queue drains, all answered
perl -MIO::Socket::UNIX -e '
	alarm 20;
	my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 2;
	sub msg { my ($type, $tag, $body) = @_; pack("VCv", 7 + length($body), $type, $tag) . $body }
	my $out = msg(100, 0xffff, pack("V", 8192) . pack("v/a*", "9P2000"));
	$out .= msg(104, 1, pack("VV", 1, 0xffffffff) . pack("v/a*", "u") . pack("v/a*", ""));
	$out .= msg(124, $_, pack("V", 1)) for 1..3000;
	my $pid = fork;
	if(!$pid){ print $s $out; $s->flush; exit 0 }
	my ($buf, $got, $stats) = ("", 0, 0);
	while($got < 3002){
		my $r = sysread($s, $buf, 65536, length $buf);
		last if !$r;
		while(length($buf) >= 4 && length($buf) >= unpack("V", $buf)){
			my $sz = unpack("V", $buf);
			$stats++ if unpack("C", substr($buf, 4, 1)) == 125;
			$got++;
			substr($buf, 0, $sz) = "";
		}
	}
	waitpid $pid, 0;
	print "$got $stats\n";' "$SOCK" >"$T/out" 2>&1
is "$(cat "$T/out")" "3002 3000" "3000 pipelined Tstats at -q 2048: 3002 replies, 3000 Rstats"

# a client sending garbage is dropped, and nobody else notices
perl -MIO::Socket::UNIX -e '
	my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 2;
	print $s pack("V", 0xffffffff), "junk";
	$s->flush; my $b; exit(sysread($s, $b, 1) == 0 ? 0 : 1);' "$SOCK"
ok "a frame of size 2^32-1: the server hangs up on that client"
grep -q 'bad frame: size 4294967295 above msize 65536' "$T/log"; ok "and says why"
is "$($P read version)" "synfsd 1" "others are still served"

termwait "$srv"; st=$?
pids=
is "$st" 0 "SIGTERM: synfsd exits 0"
grep -q '^synfsd: stopped$' "$T/log"; ok "and says it stopped"
[ ! -e "$SOCK" ]; ok "its socket is removed" $?
done_testing
