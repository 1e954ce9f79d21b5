# bench/plot.gp: the chart of docs/bench/results.md, drawn by bench/report.py:
#   gnuplot -e "qd1='A.dat'; qd32='B.dat'; ncol=N; outfile='chart.png'" bench/plot.gp
# Each .dat: a header line (workload, then one name per target), one line per workload, MiB/s,
# "-" where a job did not run.
set terminal pngcairo size 1500,1000 font "sans,11"
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set grid ytics mytics
set ylabel "MiB/s (log scale)"
set key outside right top vertical
set xtics rotate by -20
set multiplot layout 2,1
set title "iodepth 32, direct I/O, same machine, one run"
plot for [i=2:ncol] qd32 using i:xtic(1) title columnheader(i)
set title "iodepth 1"
plot for [i=2:ncol] qd1 using i:xtic(1) title columnheader(i)
unset multiplot
