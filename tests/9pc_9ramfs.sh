#!/bin/sh
# 9pc against 9ramfs in 9P2000 and 9P2000.L: every command, outputs checked,
# over unix! and tcp! addresses and the name/path form.
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50	# servers get SIGKILL if SIGTERM has not ended them in 5 s

for p in 9ramfs 9pc; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done

SOCK=$T/ramfs.sock
# a TCP port that is probably free; without it the tcp! check is skipped
PORT=$(( 20000 + $$ % 20000 ))
# tcp first: the unix socket appears only once both are announced
"$B/9ramfs" -a "tcp!127.0.0.1!$PORT" -a "unix!$SOCK" </dev/null >/dev/null 2>"$T/ramfs.err" &
pid=$!
pids=$pid
if ! waitsock "$SOCK" "$pid"; then
	# the port may have been taken: run on the unix socket alone
	wait "$pid" 2>/dev/null
	PORT=
	"$B/9ramfs" -a "unix!$SOCK" </dev/null >/dev/null 2>"$T/ramfs.err" &
	pid=$!
	pids=$pid
	waitsock "$SOCK"
fi
[ -S "$SOCK" ]; ok "9ramfs is serving $SOCK"

# test data: a pattern bigger than several msizes
awk 'BEGIN { for(i = 0; i < 3000; i++) printf "line %05d of the 9pc test data\n", i }' > "$T/big"
printf 'short\n' > "$T/short"

for V in 9P2000 9P2000.L; do
	P="timeout -k 5 20 $B/9pc -a unix!$SOCK -V $V"
	D=dir$V

	$P mkdir "$D" >"$T/out" 2>"$T/err"; ok "$V: mkdir $D"
	$P mkdir "$D/sub" 2>>"$T/err"; ok "$V: mkdir $D/sub"
	$P create "$D/a" "$D/b" 2>>"$T/err"; ok "$V: create two files"
	$P create "$D/a" 2>"$T/err"; st=$?
	[ $st -ne 0 ] && grep -q '^9pc: ' "$T/err"; r=$?; ok "$V: create of an existing file fails with a message ($(cat "$T/err"))" $r

	$P ls "$D" >"$T/out" 2>"$T/err"; ok "$V: ls $D"
	is "$(cat "$T/out")" "$(printf 'a\nb\nsub/')" "$V: ls lists names, directories with /"

	$P write "$D/a" <"$T/big" 2>"$T/err"; r=$?; ok "$V: write $(wc -c <"$T/big") bytes" $r
	$P read "$D/a" >"$T/out" 2>"$T/err"; ok "$V: read"
	cmp -s "$T/out" "$T/big"; ok "$V: read gives back what write wrote"
	$P -m 512 read "$D/a" >"$T/out" 2>"$T/err"; ok "$V: read with msize 512"
	cmp -s "$T/out" "$T/big"; ok "$V: ... same data"
	$P -m 300 write "$D/b" <"$T/big" 2>"$T/err"; ok "$V: write with msize 300"
	$P read "$D/b" >"$T/out" 2>"$T/err"
	cmp -s "$T/out" "$T/big"; ok "$V: ... read back"
	$P write "$D/a" <"$T/short" 2>"$T/err"; ok "$V: write a short file over a long one"
	is "$($P read "$D/a")" "short" "$V: write truncates"

	$P stat "$D/a" >"$T/out" 2>"$T/err"; ok "$V: stat"
	is "$(grep '^name ' "$T/out")" "name a" "$V: stat name"
	is "$(grep '^length ' "$T/out")" "length 6" "$V: stat length"
	grep -q '^mode 0[0-7]* --rw' "$T/out"; ok "$V: stat mode of a plain file"
	$P stat "$D/sub" >"$T/out" 2>"$T/err"
	grep -q '^mode 0[0-7]* d-r' "$T/out"; ok "$V: stat mode of a directory"

	$P ls -l "$D" >"$T/out" 2>"$T/err"; ok "$V: ls -l"
	is "$(wc -l <"$T/out" | tr -d ' ')" 3 "$V: ls -l has three lines"
	is "$(awk '$NF == "a" { print $1, $4 }' "$T/out")" "--rw-rw-rw- 6" "$V: ls -l mode and length of a"
	is "$(awk '$NF == "b" { print $4 }' "$T/out")" "$(wc -c <"$T/big" | tr -d ' ')" "$V: ls -l length of b"
	is "$(awk '$NF == "sub" { print substr($1, 1, 1) }' "$T/out")" "d" "$V: ls -l marks the directory"
	$P ls "$D/a" >"$T/out"; is "$(cat "$T/out")" "$D/a" "$V: ls of a file names it"

	$P read "$D/nothere" >"$T/out" 2>"$T/err"; st=$?
	[ $st -ne 0 ] && [ ! -s "$T/out" ]; ok "$V: read of a missing file fails"
	grep -q '^9pc: .*\(not exist\|not found\|No such file\)' "$T/err"; r=$?; ok "$V: ... with the server's error: $(cat "$T/err")" $r
	$P write "$D/nothere" <"$T/short" 2>"$T/err"; st=$?
	[ $st -ne 0 ] && [ -s "$T/err" ]; ok "$V: write needs an existing file"

	# a path of more than 16 elements takes several Twalks
	deep=$D
	st=0
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		deep=$deep/l$i
		$P mkdir "$deep" 2>"$T/err" || st=1
	done
	[ $st -eq 0 ]; ok "$V: mkdir 20 nested directories"
	$P create "$deep/f" 2>"$T/err" && printf 'deep\n' | $P write "$deep/f" 2>"$T/err"; ok "$V: create and write a file 22 elements down"
	is "$($P read "$deep/f" 2>&1)" "deep" "$V: read it back"
	$P read "$D/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10/l11/l12/l13/l14/l15/l16/l17/nope/f" >/dev/null 2>"$T/err"; st=$?
	[ $st -ne 0 ] && grep -q '^9pc: ' "$T/err"; r=$?; ok "$V: a long walk that falls short fails ($(cat "$T/err"))" $r
	$P rm "$deep/f" 2>"$T/err"
	st=0
	while [ "$deep" != "$D" ]; do
		$P rm "$deep" 2>"$T/err" || st=1
		deep=${deep%/*}
	done
	[ $st -eq 0 ]; ok "$V: remove them again"

	$P rm "$D/sub" 2>"$T/err"; ok "$V: rm an empty directory"
	$P rm "$D/a" "$D/b" 2>"$T/err"; ok "$V: rm two files"
	$P ls "$D" >"$T/out" 2>"$T/err"; ok "$V: ls after rm"
	is "$(cat "$T/out")" "" "$V: directory is empty"
	$P rm "$D/a" 2>"$T/err"; st=$?
	[ $st -ne 0 ] && grep -q '^9pc: ' "$T/err"; ok "$V: rm of a missing file fails"
	$P rm "$D" 2>"$T/err"; ok "$V: rm $D"
done

# both dialects see the same tree
P="timeout -k 5 20 $B/9pc -a unix!$SOCK"
$P mkdir shared && $P create shared/x && printf 'both\n' | $P -V 9P2000.L write shared/x; ok "make a file in 9P2000, write it in 9P2000.L"
is "$($P read shared/x)" "both" "read it back in 9P2000"
is "$($P -V 9P2000.L ls shared)" "x" "ls in 9P2000.L"

# the name/path form: unix!$NAMESPACE/name
mkdir "$T/ns"
ln -s "$SOCK" "$T/ns/ramfs"
is "$(NAMESPACE=$T/ns timeout -k 5 20 "$B/9pc" read ramfs/shared/x 2>&1)" "both" "9pc read ramfs/shared/x with NAMESPACE"
is "$(NAMESPACE=$T/ns timeout -k 5 20 "$B/9pc" -V 9P2000.L ls ramfs/shared 2>&1)" "x" "9pc -V 9P2000.L ls ramfs/shared"
NAMESPACE=$T/ns timeout -k 5 20 "$B/9pc" read nosuch/x >/dev/null 2>"$T/err"; st=$?
[ $st -ne 0 ] && grep -q '^9pc: ' "$T/err"; r=$?; ok "a service that is not posted: error ($(cat "$T/err"))" $r

if [ -n "$PORT" ]; then
	is "$(timeout -k 5 20 "$B/9pc" -a "tcp!127.0.0.1!$PORT" read shared/x 2>&1)" "both" "9pc over tcp!127.0.0.1!$PORT"
else
	n=$((n + 1)); echo "ok $n # SKIP no free TCP port"
fi

timeout -k 5 20 "$B/9pc" -a "unix!$SOCK" -V 9P2000.u ls >/dev/null 2>&1; st=$?
[ $st -ne 0 ]; ok "9P2000.u is refused by 9pc"
timeout -k 5 20 "$B/9pc" -a "unix!$SOCK" frob >/dev/null 2>&1; st=$?
[ $st -ne 0 ]; ok "unknown command fails"

kill -0 "$pid" 2>/dev/null; ok "9ramfs still running"
done_testing
