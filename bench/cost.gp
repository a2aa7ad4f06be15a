# bench/cost.gp - plots of bench/cost.sh's .dat files.
#	gnuplot -e "dir='build/bench'" bench/cost.gp
if (!exists("dir")) dir = "build/bench"

set terminal pngcairo size 1000,560 font "sans,11" noenhanced
set grid ytics
set key top left autotitle columnhead
set style data histograms
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]

have_perf = system("test -s '".dir."/cost-perf.dat' && echo 1 || echo 0") + 0
set output dir."/cost.png"
if (have_perf) set multiplot layout 1,2 title "what 9mux spends per message (counted, not timed)"

set style histogram rowstacked
set title "instructions per forwarded message (callgrind)"
set ylabel "instructions"
plot dir."/cost.dat" using 4:xtic(1) title "9mux's work", \
     "" using ($3 - $4) title "copying (memcpy, memmove)"

if (have_perf) {
	set style histogram clustered gap 1
	set title "per small-op round trip, 64 clients (perf stat)"
	set ylabel "per round trip"
	plot dir."/cost-perf.dat" using 2:xtic(1) title "system calls", \
	     "" using 3 title "context switches"
	unset multiplot
}
