#!/bin/sh
# Peer links (9mux -l, -r, -e): a "server" 9mux in front of its 9ramfs
# accepts a link from a "laptop" 9mux that exports its own 9ramfs.
# Clients on each side reach the other side's files at once, over one
# TCP connection; -r with no link up errors cleanly; the link survives
# neither side's kill -9 silently: clients get errors at once, the
# laptop redials, and new sessions work both ways again.
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50
WAITSTEP=0.05

for p in 9mux 9ramfs 9pc; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done

K=2	# -k: a dead link is found within 3 x K s
pc() {	# pc SOCK ARGS: 9pc on a unix socket in T
	# over the link the dialect is the laptop's export's, which 9ramfs
	# answers 9P2000.L (the server's side offers it): its clients speak it
	_s=$1
	shift
	case $_s in
	laptop.sock) timeout -k 5 30 "$B/9pc" -V 9P2000.L -a "unix!$T/$_s" "$@" ;;
	*) timeout -k 5 30 "$B/9pc" -a "unix!$T/$_s" "$@" ;;
	esac
}
port() {	# port LOG: the TCP port 9mux logged it listens on for links
	sed -n 's/.*listening on tcp!127\.0\.0\.1![0-9]* (port \([0-9]*\)) for links.*/\1/p' "$1" | tail -n 1
}
tcpconns() {	# tcpconns PORT: established TCP connections to PORT, counted once each
	_p=$(printf '%04X' "$1")
	awk -v p="$_p" 'FNR > 1 { split($3, r, ":"); if(r[2] == p && $4 == "01") n++ } END { print n + 0 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
ms() {	# ms: milliseconds since the epoch
	date +%s%3N
}

"$B/9ramfs" -a "unix!$T/ramS" 2>"$T/ramS.err" &
ramS=$!
"$B/9ramfs" -a "unix!$T/ramL" 2>"$T/ramL.err" &
ramL=$!
pids="$ramS $ramL"
waitsock "$T/ramS" && waitsock "$T/ramL"
ok "two 9ramfs, the server's and the laptop's"

startserver() {	# startserver PORTSPEC
	"$B/9mux" -v -k $K -l "tcp!127.0.0.1!$1" -r "unix!$T/laptop.sock" -a "unix!$T/fs.sock" \
		"unix!$T/ramS" 2>>"$T/muxS.log" &
	muxS=$!
	pids="$pids $muxS"
}
startlaptop() {
	"$B/9mux" -v -k $K -a "unix!$T/server.sock" -e "unix!$T/ramL" "tcp!127.0.0.1!$PORT" 2>>"$T/muxL.log" &
	muxL=$!
	pids="$pids $muxL"
}

startserver 0
waitsock "$T/laptop.sock" "$muxS"
ok "the server's 9mux listens for links"
PORT=$(port "$T/muxS.log")
[ -n "$PORT" ]
ok "it says on which port: $PORT"

# no link yet: a -r client is answered, and told why (in words: 9P2000)
timeout -k 5 30 "$B/9pc" -a "unix!$T/laptop.sock" ls / >"$T/out" 2>&1
st=$?
[ $st -ne 0 ] && grep -q "no link from a peer is up" "$T/out"
ok "-r with no link up: an error that says so ($(cat "$T/out"))" $?

startlaptop
waitsock "$T/server.sock" "$muxL"
waitlog "$T/muxL.log" "upstream tcp!127.0.0.1!$PORT ready"
ok "the laptop's 9mux links to it"
waitlog "$T/muxS.log" "link.* ready"
ok "and the server's link channel is ready too"

# both ways at once
N=4
i=1
cpids=
while [ $i -le $N ]; do
	seq 1 $((i * 3000)) | sed "s/^/laptop $i /" >"$T/wantL$i"
	seq 1 $((i * 3000)) | sed "s/^/server $i /" >"$T/wantS$i"
	( pc server.sock create "/fromlaptop$i" && pc server.sock write "/fromlaptop$i" <"$T/wantL$i" &&
	  pc server.sock read "/fromlaptop$i" >"$T/gotL$i" && cmp -s "$T/wantL$i" "$T/gotL$i" ) &
	cpids="$cpids $!"
	( pc laptop.sock create "/fromserver$i" && pc laptop.sock write "/fromserver$i" <"$T/wantS$i" &&
	  pc laptop.sock read "/fromserver$i" >"$T/gotS$i" && cmp -s "$T/wantS$i" "$T/gotS$i" ) &
	cpids="$cpids $!"
	i=$((i + 1))
done
bad=0
for p in $cpids; do wait "$p" || bad=$((bad + 1)); done
is "$bad" 0 "$N laptop clients wrote and read back files on the server, $N server clients on the laptop, at once"
i=1
good=0
while [ $i -le $N ]; do
	timeout 30 "$B/9pc" -a "unix!$T/ramS" read "/fromlaptop$i" | cmp -s - "$T/wantL$i" &&
	timeout 30 "$B/9pc" -a "unix!$T/ramL" read "/fromserver$i" | cmp -s - "$T/wantS$i" && good=$((good + 1))
	i=$((i + 1))
done
is "$good" "$N" "each file is where it belongs: read straight from each side's 9ramfs"
is "$(tcpconns "$PORT")" 1 "all of it over one TCP connection"

# a bulk transfer one way does not stop small requests the other way
head -c 32000000 /dev/zero >"$T/zeros"
pc server.sock create /bulk
pc server.sock write /bulk <"$T/zeros" &
bulk=$!
small=0
i=0
while [ $i -lt 20 ]; do
	pc laptop.sock ls / >/dev/null 2>&1 && small=$((small + 1))
	i=$((i + 1))
done
wait "$bulk"
ok "a 32 MB write from the laptop" $?
is "$small" 20 "and meanwhile 20 small requests from the server to the laptop"
is "$(pc server.sock stat /bulk 2>/dev/null | awk '$1 == "length" { print $2 }')" "32000000" "the bulk file has all its bytes"

# kill -9 the laptop: the server's clients over the link get an error at once
head -c 4000000 /dev/urandom >"$T/rnd"
pc laptop.sock create /rnd && pc laptop.sock write /rnd <"$T/rnd"
ok "a 4 MB file on the laptop"
( while :; do pc laptop.sock read /rnd >/dev/null 2>&1 || exit 0; done ) &
reader=$!
sleep 0.3
t0=$(ms)
kill -9 "$muxL"
wait "$muxL" 2>/dev/null
i=0
while kill -0 "$reader" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
t1=$(ms)
! kill -0 "$reader" 2>/dev/null
ok "laptop killed: a server client reading over the link gets an error, in $((t1 - t0)) ms" $?
[ $((t1 - t0)) -le $((3 * K * 1000 + 1000)) ]
ok "within 3 x -k + 1 s"
kill "$reader" 2>/dev/null
pc laptop.sock ls / >"$T/out" 2>&1
[ $? -ne 0 ]
ok "new clients over the link meanwhile: an error ($(cat "$T/out"))" $?
startlaptop
waitlog "$T/muxL.log" "upstream tcp!127.0.0.1!$PORT ready" 2
ok "the laptop back: linked again"
is "$(pc laptop.sock read /fromserver1 2>&1 | cmp -s - "$T/wantS1"; echo $?)" 0 "a new session server to laptop works"
is "$(pc server.sock read /fromlaptop1 2>&1 | cmp -s - "$T/wantL1"; echo $?)" 0 "and laptop to server"

# kill -9 the server: the laptop's clients get an error; the laptop redials
( while :; do pc server.sock read /bulk >/dev/null 2>&1 || exit 0; done ) &
reader=$!
sleep 0.3
t0=$(ms)
kill -9 "$muxS"
wait "$muxS" 2>/dev/null
i=0
while kill -0 "$reader" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
t1=$(ms)
! kill -0 "$reader" 2>/dev/null
ok "server killed: a laptop client reading over the link gets an error, in $((t1 - t0)) ms" $?
[ $((t1 - t0)) -le $((3 * K * 1000 + 1000)) ]
ok "within 3 x -k + 1 s"
kill "$reader" 2>/dev/null
waitlog "$T/muxL.log" "upstream tcp!127.0.0.1!$PORT lost"
ok "the laptop logs the loss"
startserver "$PORT"
waitsock "$T/laptop.sock" "$muxS"
waitlog "$T/muxL.log" "upstream tcp!127.0.0.1!$PORT is back"
ok "the server back on the same port: the laptop redialed"
is "$(pc laptop.sock read /fromserver2 2>&1 | cmp -s - "$T/wantS2"; echo $?)" 0 "a new session server to laptop works"
is "$(pc server.sock read /fromlaptop2 2>&1 | cmp -s - "$T/wantL2"; echo $?)" 0 "and laptop to server"
is "$(tcpconns "$PORT")" 1 "still one TCP connection"

for p in $muxS $muxL; do
	termwait "$p"
	ok "9mux $p exits 0 at SIGTERM" $?
done
pids="$ramS $ramL"
done_testing
