# bench/9mux.gp - plots of bench/9mux.sh's .dat files.
#	gnuplot -e "dir='build/bench'" bench/9mux.gp
# Each .dat has a header line naming its columns, first the row label.
if (!exists("dir")) dir = "build/bench"

set terminal pngcairo size 900,560 font "sans,11" noenhanced
set grid ytics
set key top left autotitle columnhead
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]

set output dir."/9mux-rtt.png"
set title "small-op round trip, 1 client (walk, stat, clunk)"
set ylabel "microseconds (log scale)"
set logscale y
set yrange [1:*]
plot dir."/9mux-rtt.dat" using 2:xtic(1) title "p50", \
     "" using 3 title "p99"

unset logscale y
set yrange [0:*]
set output dir."/9mux-seq.png"
set title "sequential throughput (msize 128 KiB + 24)"
set ylabel "MB/s"
plot for [i=2:*] dir."/9mux-seq.dat" using i:xtic(1) title columnheader(i)

set output dir."/9mux-fairness.png"
set title "small-op p99, 1 client: alone and while 1 client streams reads"
set ylabel "p99, microseconds (log scale)"
set logscale y
set yrange [1:*]
plot dir."/9mux-fairness.dat" using 2:xtic(1) title "alone", \
     "" using 3 title "with a stream"

unset logscale y
set yrange [0:*]
set output dir."/9mux-memory.png"
set title "resident size with idle sessions"
set ylabel "MiB"
set key top right
plot dir."/9mux-memory.dat" using ($2/1024):xtic(1) title "before", \
     "" using ($3/1024) title "with the idle sessions"

# throughput by clients: lines on a log scale of clients
set output dir."/9mux-smallops.png"
set style data linespoints
set title "small-op throughput by clients (one connection each; 9mux: one upstream)"
set ylabel "round trips per second"
set xlabel "clients"
set logscale x 2
set xrange [*:*]
set key top right
unset xtics
set xtics
plot for [i=2:*] dir."/9mux-smallops.dat" using 1:i title columnheader(i) lw 2 pt 7
