#!/bin/sh
# flakes.sh [-n RUNS] [-j JOBS] [-l] [TEST ...] - run each test file RUNS
# times (30), JOBS at once (2), under load (-l: stress -c 2 beside them,
# as a busy CI machine would be), and report each file's failures; a
# test that fails one run in thirty is a bug to fix.  With no TEST, every
# compiled test of build/ and every shell test.  Build first: make tests.
# Logs of failed runs are kept in build/flakes/.  It lives in tests/lib/,
# where make test does not look for tests: it is not one.
runs=30
jobs=2
load=
while getopts n:j:l o; do
	case $o in
	n) runs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	l) load=1 ;;
	*) echo "usage: flakes.sh [-n runs] [-j jobs] [-l] [test ...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
cd "$(dirname "$0")/../.." || exit 1
[ $# -gt 0 ] || set -- build/tests/t_* tests/*.sh
export NINEMUX_BUILD=${NINEMUX_BUILD:-build}
mkdir -p build/flakes
stresspid=
if [ -n "$load" ]; then
	if command -v stress >/dev/null 2>&1; then
		stress -c 2 >/dev/null 2>&1 &
		stresspid=$!
	else
		echo "flakes.sh: no stress(1) (apt-get install stress): running without load" >&2
	fi
fi
trap '[ -n "$stresspid" ] && kill $stresspid 2>/dev/null' EXIT
trap 'exit 1' INT TERM

# one run of one file, under the same watchdog as make test: 0 or 1
one() {
	_log=build/flakes/$(basename "$1").$2.log
	if prove --exec "perl mk/watchdog.pl ${WATCHDOG:-150}" "$1" >"$_log" 2>&1; then
		rm -f "$_log"
		return 0
	fi
	return 1
}

total=0
for t in "$@"; do
	[ -e "$t" ] || continue
	fails=0
	i=1
	while [ $i -le "$runs" ]; do
		k=0
		set --
		while [ $k -lt "$jobs" ] && [ $i -le "$runs" ]; do
			( one "$t" $i ) &
			set -- "$@" $!
			i=$((i + 1))
			k=$((k + 1))
		done
		for p in "$@"; do
			wait "$p" || fails=$((fails + 1))
		done
	done
	printf '%-40s %d of %d failed\n' "$t" "$fails" "$runs"
	total=$((total + fails))
done
echo "flakes.sh: $total failed runs in all${load:+ (under stress -c 2)}; logs of each in build/flakes/"
[ $total -eq 0 ]
