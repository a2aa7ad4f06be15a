#!/bin/sh
# fuzz.sh SECONDS TARGET... - run each libFuzzer target (built by make
# fuzzbuild) for SECONDS over its committed corpus, new inputs going to
# build/fuzzcorpus/NAME.  Every target gets its time even when one before
# it crashed; then one line a target with its executions a second, and
# the exit status is 1 if any target failed, naming it.
secs=$1
shift
mkdir -p build/fuzzlog
failed=
report=
for t in "$@"; do
	name=$(basename "$t")
	log=build/fuzzlog/$name.log
	mkdir -p "build/fuzzcorpus/$name" "build/fuzzcrash/$name"
	echo "fuzz $name for ${secs}s (log in $log)"
	start=$(date +%s)
	# libFuzzer writes its crashing input where artifact_prefix says, not in the tree
	if "$t" -max_total_time="$secs" -print_final_stats=1 \
	    -artifact_prefix="build/fuzzcrash/$name/" \
	    "build/fuzzcorpus/$name" "fuzz/corpus/$name" >"$log" 2>&1; then
		status=ok
	else
		status=FAILED
		failed="$failed $name"
		tail -40 "$log" | sed "s/^/$name: /"
	fi
	end=$(date +%s)
	units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	elapsed=$((end - start))
	[ "$elapsed" -gt 0 ] || elapsed=1
	rate=$(( ${units:-0} / elapsed ))
	line=$(printf '%-10s %-6s %10s executions in %4d s: %6d exec/s' \
	    "$name" "$status" "${units:-?}" "$elapsed" "$rate")
	if [ "$status" != ok ]; then
		input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
		line="$line; input: ${input:-none written, see $log}"
	fi
	echo "$line"
	report="$report$line
"
done
echo "fuzz summary:"
printf '%s' "$report"
if [ -n "$failed" ]; then
	echo "fuzz FAILED:$failed" >&2
	exit 1
fi
