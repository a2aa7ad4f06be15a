#!/bin/sh
# Keep-alive (9mux -k): a plain 9P server answers the pings and sees
# nothing else; a server that never answers them is found dead in
# about 3 x -k s and redialed; a link through a relay that stops
# forwarding without closing is found dead on both sides, its clients
# get an error within 3 x -k + 1 s, and it comes back when the relay
# goes on.
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50
WAITSTEP=0.05

for p in 9mux 9ramfs 9pc 9testsrv 9pload; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done

ms() {
	date +%s%3N
}

# a plain 9P server: pings are Tflushes of unused tags, answered at once
"$B/9testsrv" -l "$T/srv.log" -a "unix!$T/srv.sock" 2>"$T/srv.err" &
srv=$!
pids="$srv"
waitsock "$T/srv.sock"
"$B/9mux" -v -k 1 -a "unix!$T/mux.sock" "unix!$T/srv.sock" 2>"$T/mux.log" &
mux=$!
pids="$pids $mux"
waitsock "$T/mux.sock"
waitlog "$T/mux.log" "ping answered in" 3
ok "9mux -k 1 pings an idle upstream, and logs each round trip: $(grep -m1 'ping answered' "$T/mux.log" | sed 's/.*: //')"
pings=$(grep -c '^Tflush' "$T/srv.log")
[ "$pings" -ge 3 ]
ok "9testsrv saw the pings: $pings Tflushes"
grep '^T' "$T/srv.log" | grep -v '^Tversion' | grep -v '^Tflush' >"$T/other"
[ ! -s "$T/other" ]
ok "and nothing else but the Tversion"
! grep -q VIOLATION "$T/srv.log"
ok "no violation of the protocol in them" $?
awk '/^Tflush/ { t = $3; o = $5; if(t == o) bad++ } END { exit bad > 0 }' "$T/srv.log"
ok "each ping's oldtag differs from its own tag"
! grep -q "dead" "$T/mux.log"
ok "the upstream is not taken for dead" $?
timeout 30 "$B/9pc" -a "unix!$T/mux.sock" read /hello >"$T/hello" 2>&1
is "$(cat "$T/hello")" "hello, world" "clients are served as ever"
termwait "$mux"
ok "9mux exits 0" $?
stop "$srv"
pids=

# a server that never answers a Tflush: dead after 3 intervals of silence
"$B/9testsrv" -x Tflush -l "$T/srvx.log" -a "unix!$T/srvx.sock" 2>"$T/srvx.err" &
srv=$!
pids="$srv"
waitsock "$T/srvx.sock"
t0=$(ms)
"$B/9mux" -v -k 1 -a "unix!$T/muxx.sock" "unix!$T/srvx.sock" 2>"$T/muxx.log" &
mux=$!
pids="$pids $mux"
waitlog "$T/muxx.log" "the connection is dead" 1 10
ok "a server that never answers pings: found dead ($(grep -m1 'is dead' "$T/muxx.log" | sed 's/.*: nothing/nothing/'))"
t1=$(ms)
# 1 s to the first ping, dead 3 s after the last byte (its Rversion)
[ $((t1 - t0)) -ge 2500 ] && [ $((t1 - t0)) -le 5000 ]
ok "in about 3 s: $((t1 - t0)) ms after 9mux started"
waitlog "$T/muxx.log" "upstream unix!$T/srvx.sock is back" 1 10
ok "and redialed"
termwait "$mux"
ok "9mux exits 0" $?
stop "$srv"
pids=

# a link through a relay that stops forwarding without closing
"$B/9ramfs" -a "unix!$T/ramS" 2>"$T/ramS.err" &
ramS=$!
"$B/9ramfs" -a "unix!$T/ramL" 2>"$T/ramL.err" &
ramL=$!
pids="$ramS $ramL"
waitsock "$T/ramS" && waitsock "$T/ramL"
"$B/9mux" -v -k 1 -l "unix!$T/link.sock" -r "unix!$T/laptop.sock" -a "unix!$T/fs.sock" "unix!$T/ramS" \
	2>"$T/muxS.log" &
muxS=$!
pids="$pids $muxS"
waitsock "$T/link.sock"
"$B/9pload" relay "unix!$T/relay.sock" "unix!$T/link.sock" 2>"$T/relay.err" &
relay=$!
pids="$pids $relay"
waitsock "$T/relay.sock"
"$B/9mux" -v -k 1 -a "unix!$T/server.sock" -e "unix!$T/ramL" "unix!$T/relay.sock" 2>"$T/muxL.log" &
muxL=$!
pids="$pids $muxL"
waitlog "$T/muxL.log" "ready" 2
ok "a laptop linked to a server through a relay"
timeout 30 "$B/9pc" -a "unix!$T/server.sock" ls / >/dev/null 2>&1 &&
	timeout 30 "$B/9pc" -V 9P2000.L -a "unix!$T/laptop.sock" ls / >/dev/null 2>&1
ok "both ways"
kill -STOP "$relay"
t0=$(ms)
timeout 30 "$B/9pc" -a "unix!$T/server.sock" ls / >"$T/outL" 2>&1 &
cL=$!
timeout 30 "$B/9pc" -V 9P2000.L -a "unix!$T/laptop.sock" ls / >"$T/outS" 2>&1 &
cS=$!
wait "$cL"
stL=$?
tL=$(ms)
wait "$cS"
stS=$?
tS=$(ms)
[ $stL -ne 0 ] && [ $stS -ne 0 ]
ok "relay stopped: a client on each side gets an error ($(cat "$T/outL"); $(cat "$T/outS"))"
[ $((tL - t0)) -le 4000 ] && [ $((tS - t0)) -le 4000 ]
ok "within 3 x -k + 1 s: $((tL - t0)) ms and $((tS - t0)) ms"
grep -q "the connection is dead" "$T/muxL.log" && grep -q "the connection is dead" "$T/muxS.log"
ok "both sides found the link dead"
kill -CONT "$relay"
waitlog "$T/muxL.log" "is back" 1 20
ok "the relay goes on: the laptop links again"
timeout 30 "$B/9pc" -a "unix!$T/server.sock" ls / >/dev/null 2>&1 &&
	timeout 30 "$B/9pc" -V 9P2000.L -a "unix!$T/laptop.sock" ls / >/dev/null 2>&1
ok "both ways again"
for p in $muxL $muxS; do
	termwait "$p"
	ok "9mux exits 0" $?
done
pids="$ramS $ramL $relay"
done_testing
