#!/bin/sh
# make bench: run every benchmark program of bench/ in turn, then every
# benchmark script bench/*.sh.  Each prints its own table, the ratio
# against the baseline it measured in the same run, and the command that
# reproduces it; those that draw write PNG plots under $O/bench/.
O=${1:-build}
export NINEMUX_BUILD=$O
# gnuplot for the plots; without it the tables still come
sh mk/deps.sh bench || echo "bench: no gnuplot, so no plots"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
status=0
for b in "$O"/bench/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	echo
	echo "== $b"
	"$b" || status=1
done
for s in bench/*.sh; do
	[ -f "$s" ] || continue
	echo
	echo "== $s"
	sh "$s" || status=1
done
exit $status
