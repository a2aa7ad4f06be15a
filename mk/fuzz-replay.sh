#!/bin/sh
# Replay every committed fuzz corpus through its target (built by
# make fuzzbuild with ASan and UBSan): one TAP line per target.
n=0; fail=0
for t in build/fuzz/*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	n=$((n+1))
	if [ ! -d "fuzz/corpus/$name" ]; then
		echo "not ok $n - $name has no corpus in fuzz/corpus/$name"; fail=1; continue
	fi
	if out=$("$t" -runs=0 "fuzz/corpus/$name" 2>&1); then
		echo "ok $n - $name replays $(ls "fuzz/corpus/$name" | wc -l) inputs"
	else
		echo "not ok $n - $name"; echo "$out" | tail -30 | sed 's/^/# /'; fail=1
	fi
done
echo "1..$n"
exit $fail
