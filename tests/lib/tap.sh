# tests/lib/tap.sh - what every TAP shell test starts with; source it as
#	. "$(dirname "$0")/lib/tap.sh"
# (it is kept out of tests/, where every *.sh is run as a test). Sets B,
# the programs, and T, a new directory in /tmp; on exit stops each pid in
# $pids and removes T. Knobs to set after sourcing: KILLAFTER, tenths of
# a second before a stopped pid gets SIGKILL (empty: never), and
# WAITSTEP, waitsock's pause in seconds between its 100 looks.
# shellcheck shell=sh disable=SC2034 # B and the knobs are for the scripts
B=${NINEMUX_BUILD:-build}/bin
T=$(mktemp -d "/tmp/$(basename "$0" .sh).XXXXXX") || exit 1
pids=
KILLAFTER=
WAITSTEP=0.1

alive() {	# alive PID: running, not a zombie waiting to be reaped
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
stop() {	# stop PID: SIGTERM, SIGKILL after KILLAFTER if set, then reap it
	kill "$1" 2>/dev/null || return 0
	if [ -n "$KILLAFTER" ]; then
		_i=0
		while alive "$1" && [ $_i -lt "$KILLAFTER" ]; do sleep 0.1; _i=$((_i + 1)); done
		kill -9 "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}
# termwait PID: SIGTERM, and its exit status; one that has not exited in
# 20 s is killed (status 137), so a daemon stuck at exit fails the test
# instead of hanging it.  Daemons are started without timeout(1): its
# SIGCONT after a forwarded SIGTERM can wedge LeakSanitizer at exit.
termwait() {
	kill "$1" 2>/dev/null
	_i=0
	while alive "$1" && [ $_i -lt 200 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1"
}
cleanup() {
	for _p in $pids; do stop "$_p"; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

n=0
fails=0
ok() {	# ok DESC [STATUS]: STATUS, or the status of the last command
	st=$?
	# bash sets $? from a $(...) in DESC: callers with one pass the status
	[ $# -ge 2 ] && st=$2
	n=$((n + 1))
	if [ $st -eq 0 ]; then echo "ok $n - $1"; else notok "$1"; fi
}
notok() {	# notok DESC: a failure, on standard error too, which is all prove shows in CI's log
	echo "not ok $n - $1"
	echo "not ok $n - $1" >&2
	fails=$((fails + 1))
}
is() {	# is GOT WANT DESC
	n=$((n + 1))
	if [ "$1" = "$2" ]; then echo "ok $n - $3"; else
		notok "$3"
		_d=$(printf 'got:  %s\nwant: %s\n' "$1" "$2" | sed 's/^/# /')
		echo "$_d"
		echo "$_d" >&2
	fi
}
waitsock() {	# waitsock PATH [PID]: PATH is a socket, waiting while PID lives
	_i=0
	while [ ! -S "$1" ] && { [ -z "$2" ] || kill -0 "$2" 2>/dev/null; } && [ $_i -lt 100 ]; do
		sleep "$WAITSTEP"
		_i=$((_i + 1))
	done
	[ -S "$1" ]
}
count() {	# count FILE PATTERN: lines of FILE matching PATTERN, 0 if FILE is not there yet
	_c=$(grep -c -- "$2" "$1" 2>/dev/null)
	echo "${_c:-0}"
}
waitlog() {	# waitlog FILE PATTERN [N [SECS]]: FILE has N (1) lines matching PATTERN, within SECS (10)
	_w=0
	while [ "$(count "$1" "$2")" -lt "${3:-1}" ] && [ $_w -lt $((${4:-10} * 20)) ]; do
		sleep 0.05
		_w=$((_w + 1))
	done
	[ "$(count "$1" "$2")" -ge "${3:-1}" ]
}
done_testing() {	# the plan; true when every test passed
	echo "1..$n"
	[ $fails -eq 0 ]
}
