#!/bin/sh
# 9mux under systemd's own tools: systemd-socket-activate passes it a
# client socket and a control socket (--fdname=client:ctl), which it
# serves, the control tree's ctl killing a client as the manual says;
# --accept (one connected socket per client) is refused; and the unit
# files of dist/, as make install puts them, pass systemd-analyze verify.
# (t_9mux_activate plays the protocol itself, every odd case included.)
# shellcheck source=SCRIPTDIR/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"
KILLAFTER=50
ROOT=$(cd "$(dirname "$0")/.." && pwd)

for p in 9mux 9ramfs 9pc; do
	if [ ! -x "$B/$p" ]; then echo "1..0 # SKIP $B/$p not built"; exit 0; fi
done
SSA=$(command -v systemd-socket-activate)

"$B/9ramfs" -a "unix!$T/ramfs" 2>"$T/ramfs.log" &
ramfs=$!
pids=$ramfs
waitsock "$T/ramfs" "$ramfs"

if [ -z "$SSA" ]; then
	echo "# SKIP systemd-socket-activate is not installed (Debian's systemd package)"
else
	# it listens, and execs 9mux in its own place at the first connection
	"$SSA" -l "$T/client" -l "$T/ctl" --fdname=client:ctl "$B/9mux" -v -k 0 "unix!$T/ramfs" \
		</dev/null >"$T/ssa.out" 2>"$T/mux.log" &
	mux=$!
	pids="$pids $mux"
	waitsock "$T/client" "$mux" && waitsock "$T/ctl" "$mux"
	ok "systemd-socket-activate listens on the client and the ctl socket"
	P="timeout -k 5 20 $B/9pc -a unix!$T/client"
	C="timeout -k 5 20 $B/9pc -a unix!$T/ctl"
	$P create /hello 2>"$T/err"
	ok "9mux, started at the first connection, serves it on the passed client socket"
	echo "hello, socket" | $P write /hello && is "$($P read /hello)" "hello, socket" "write and read back through it"
	is "$(cat "/proc/$mux/comm" 2>/dev/null)" "9mux" "9mux runs in systemd-socket-activate's place (pid $mux)"
	grep -q "socket 3 from systemd, named client" "$T/mux.log" && grep -q "socket 4 from systemd, named ctl" "$T/mux.log"
	ok "it took socket 3 for clients and socket 4 for the control tree"
	is "$($C read stats | awk '$1 == "clients" { print $2 }')" 3 "9pc read stats on the ctl socket: clients 3"
	is "$($C read upstream/state)" "up" "upstream/state: up"

	# a client that stays, killed by the control file
	mkfifo "$T/fifo"
	$P write /hello <"$T/fifo" >/dev/null 2>"$T/holder.err" &
	holder=$!
	exec 3>"$T/fifo"
	i=0
	while [ "$($C ls clients | wc -l)" -lt 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	id=$($C ls clients | tr -d /)
	is "$(echo "$id" | wc -w)" 1 "clients/ holds the one client that stays ($id)"
	is "$($C read "clients/$id/addr")" "unix!$T/client" "clients/$id/addr: the passed socket"
	echo "kill $id" | $C write ctl
	ok "echo 'kill $id' | 9pc -a unix!ctl write ctl"
	echo "too late" >&3
	exec 3>&-
	wait "$holder" 2>/dev/null
	st=$?
	[ $st -ne 0 ]
	ok "the killed client's write failed (exit $st)" $?
	is "$($C ls clients | wc -l | tr -d ' ')" 0 "clients/ is empty"
	termwait "$mux"
	ok "SIGTERM: 9mux exits 0"
	[ -S "$T/client" ]
	ok "the passed socket's file stays, as a socket unit's does"

	# --accept: a connected socket per client is no listener for a multiplexer
	"$SSA" --accept -l "$T/acc" "$B/9mux" "unix!$T/ramfs" </dev/null >/dev/null 2>"$T/acc.log" &
	acc=$!
	pids="$pids $acc"
	waitsock "$T/acc" "$acc"
	timeout -k 5 20 "$B/9pc" -a "unix!$T/acc" ls / >/dev/null 2>&1
	st=$?
	i=0
	while ! grep -q "Accept=yes" "$T/acc.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ $st -ne 0 ] && grep -q "is not listening: 9mux takes sockets of Accept=no units" "$T/acc.log"
	ok "systemd-socket-activate --accept: 9mux refuses the connected socket, saying why"
	stop "$acc"
fi

# the unit files, installed as make install does, with the path of the installed 9mux
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "# SKIP systemd-analyze is not installed"
	done_testing
	exit
fi
mkdir -p "$T/probe"
printf '[Service]\nExecStart=/bin/true\n' >"$T/probe/probe.service"
if ! systemd-analyze verify "$T/probe/probe.service" >"$T/probe.out" 2>&1; then
	echo "# SKIP systemd-analyze verify cannot run here: $(head -1 "$T/probe.out")"
	done_testing
	exit
fi
old=""
[ -f "${NINEMUX_BUILD:-build}/bin/9mux" ] && old="-o all"
# shellcheck disable=SC2086
make --no-print-directory -s -C "$ROOT" $old install O="${NINEMUX_BUILD:-build}" DESTDIR= PREFIX="$T/p" >"$T/install.log" 2>&1
ok "make install PREFIX=\$T/p"
U=$T/p/lib/systemd/system
for u in 9mux.service 9mux.socket 9mux-ctl.socket 9mux@.service 9mux@.socket 9mux-ctl@.socket; do
	[ -f "$U/$u" ] || echo "# missing $u"
done
[ "$(find "$U" -type f | wc -l)" -eq 6 ]
ok "six units under \$PREFIX/lib/systemd/system"
grep -q "^ExecStart=$T/p/bin/9mux " "$U/9mux.service" && grep -q "^ExecStart=$T/p/bin/9mux " "$U/9mux@.service"
ok "their ExecStart is the installed 9mux"
grep -q '^Type=notify$' "$U/9mux.service" && grep -q '^FileDescriptorName=client$' "$U/9mux.socket" &&
	grep -q '^FileDescriptorName=ctl$' "$U/9mux-ctl.socket"
ok "Type=notify; the sockets named client and ctl"
man=--man=yes
command -v man >/dev/null 2>&1 || man=--man=no
(cd "$U" && MANPATH=$T/p/share/man systemd-analyze verify $man ./9mux.service ./9mux.socket ./9mux-ctl.socket) >"$T/verify.out" 2>&1
st=$?
[ $st -eq 0 ] && [ ! -s "$T/verify.out" ]
ok "systemd-analyze verify 9mux.service 9mux.socket 9mux-ctl.socket: no complaint" $?
sed 's/^/# /' "$T/verify.out"
(cd "$U" && MANPATH=$T/p/share/man systemd-analyze verify $man ./9mux@t.service ./9mux@t.socket ./9mux-ctl@t.socket) >"$T/verify.out" 2>&1
st=$?
[ $st -eq 0 ] && [ ! -s "$T/verify.out" ]
ok "systemd-analyze verify 9mux@t.service 9mux@t.socket 9mux-ctl@t.socket: no complaint" $?
sed 's/^/# /' "$T/verify.out"
done_testing
