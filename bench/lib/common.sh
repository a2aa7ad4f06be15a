# bench/lib/common.sh - what the newer benchmark scripts share; source it as
#	. "$(dirname "$0")/lib/common.sh"
# (it is kept out of bench/, where make bench runs every *.sh).  Before
# sourcing set NAME, the script's name for messages.  Sets BUILD, B (the
# programs), OUT (plots and .dat files), SECS and REPEAT from BENCH_SECONDS
# and BENCH_REPEAT, and T, a new directory in /tmp; on exit stops each pid
# in $pids, by its pid, and removes T.
# shellcheck shell=sh disable=SC2034 # the variables are for the scripts
BUILD=${NINEMUX_BUILD:-build}
B=$BUILD/bin
OUT=$BUILD/bench
SECS=${BENCH_SECONDS:-1}
REPEAT=${BENCH_REPEAT:-3}
NAME=${NAME:-bench}

mkdir -p "$OUT" || exit 1
T=$(mktemp -d "/tmp/$NAME-bench.XXXXXX") || exit 1
pids=
cleanup() {
	for _p in $pids; do
		kill "$_p" 2>/dev/null
	done
	for _p in $pids; do
		wait "$_p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

need() {	# need PROGRAM...: each of this build's programs is there
	for _p in "$@"; do
		[ -x "$B/$_p" ] || { echo "bench/$NAME.sh: no $B/$_p: build first (make)" >&2; exit 1; }
	done
}
waitsock() {	# waitsock PATH [PID]: PATH is a socket within 10 s, while PID lives
	_i=0
	while [ ! -S "$1" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 200 ] || { [ -n "$2" ] && ! kill -0 "$2" 2>/dev/null; }; then
			echo "bench/$NAME.sh: $1 never appeared" >&2
			exit 1
		fi
		sleep 0.05
	done
}
waitlog() {	# waitlog FILE PATTERN: a line of FILE matches PATTERN within 10 s
	_i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -gt 200 ] && { echo "bench/$NAME.sh: no \"$2\" in $1" >&2; sed 's/^/  /' "$1" >&2; exit 1; }
		sleep 0.05
	done
}
field() {	# field NAME LINE: the value of NAME=value in a 9pload line
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
ratio() {	# ratio A B: A/B to two places, or - when either is missing
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b + 0 <= 0) print "-"; else printf "%.2f\n", a / b }'
}
medianof() {	# medianof FILE: the median of the first column of FILE's lines
	sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR > 0) print v[int((NR + 1) / 2)] }'
}
hr() {
	echo "--------------------------------------------------------------------------"
}
# verdict VALUE OP LIMIT: MET or NOT MET for VALUE <= or >= LIMIT (OP le or ge)
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "" || v == "-") { print "NOT MEASURED"; exit }
		m = (op == "le") ? (v + 0 <= l + 0) : (v + 0 >= l + 0)
		print m ? "MET" : "NOT MET" }'
}
# summary KEY MEASURE RESULT TARGET VERDICT: a row of make bench's closing
# table (mk/bench.sh sorts the rows by KEY); nothing when run by hand.
summary() {
	[ -n "$BENCH_SUMMARY" ] || return 0
	printf '%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5" >>"$BENCH_SUMMARY"
}
