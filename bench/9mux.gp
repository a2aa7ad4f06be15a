# bench/9mux.gp - plots of bench/9mux.sh's .dat files.
#	gnuplot -e "dir='build/bench'" bench/9mux.gp
#	gnuplot -e "dir='build/bench'; prefix='diod'; server='diod'" bench/9mux.gp
# Each .dat has a header line naming its columns, first the row label.
# prefix names the files (9mux-*.dat, diod-*.dat); the fairness and the
# memory plots are drawn when their .dat files are there.
if (!exists("dir")) dir = "build/bench"
if (!exists("prefix")) prefix = "9mux"
if (!exists("server")) server = "9ramfs"
f = dir."/".prefix
have(name) = system("test -s '".f."-".name.".dat' && echo 1 || echo 0") + 0

set terminal pngcairo size 900,560 font "sans,11" noenhanced
set grid ytics
set key top left autotitle columnhead
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]

set output f."-rtt.png"
set title "small-op round trip, 1 client (walk, stat, clunk), server ".server
set ylabel "microseconds (log scale)"
set logscale y
set yrange [1:*]
plot f."-rtt.dat" using 2:xtic(1) title "p50", \
     "" using 3 title "p99"

unset logscale y
set yrange [0:*]
set output f."-seq.png"
set title "sequential throughput, server ".server.(server eq "diod" ? " (msize 64 KiB)" : " (msize 128 KiB + 24)")
set ylabel "MB/s"
plot for [i=2:*] f."-seq.dat" using i:xtic(1) title columnheader(i)

if (have("fairness")) {
	set output f."-fairness.png"
	set title "small-op p99, 1 client: alone and while 1 client streams reads"
	set ylabel "p99, microseconds (log scale)"
	set logscale y
	set yrange [1:*]
	plot f."-fairness.dat" using 2:xtic(1) title "alone", \
	     "" using 3 title "with a stream"
}

unset logscale y
set yrange [0:*]
if (have("memory")) {
	set output f."-memory.png"
	set title "resident size with idle sessions"
	set ylabel "MiB"
	set key top right
	plot f."-memory.dat" using ($2/1024):xtic(1) title "before", \
	     "" using ($3/1024) title "with the idle sessions"
}

# throughput by clients: lines on a log scale of clients
set output f."-smallops.png"
set style data linespoints
set title "small-op throughput by clients, server ".server." (one connection each; 9mux: one upstream)"
set ylabel "round trips per second"
set xlabel "clients"
set logscale x 2
set xrange [*:*]
set key top right
unset xtics
set xtics
plot for [i=2:*] f."-smallops.dat" using 1:i title columnheader(i) lw 2 pt 7
