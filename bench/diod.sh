#!/bin/sh
# bench/diod.sh - bench/9mux.sh with Debian's diod as the server instead of
# 9ramfs: 9mux -V 9P2000.L in front of diod beside diod reached directly
# and through the ideal relay, in one run (the round trip, sequential
# reads and writes with 1 and 16 clients, small ops with 1, 16 and 64),
# so that the results do not rest on our own server alone.  Writes
# diod-*.dat and diod-*.png into ${NINEMUX_BUILD:-build}/bench/; takes
# bench/9mux.sh's variables (BENCH_SECONDS, BENCH_REPEAT, BENCH_CLIENTS,
# NINEMUX_ALT, BENCH_NICE).
#
# Run by make bench; by hand: NINEMUX_BUILD=build sh bench/diod.sh
BENCH_UPSTREAM=diod exec sh "$(dirname "$0")/9mux.sh"
