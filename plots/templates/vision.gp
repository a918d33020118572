@PREAMBLE@
# Vision encoder latency at each resolution: median, with the bootstrap 95% confidence
# interval of the median as error bars; circled: noisy (interval wider than 5% of the median).
# @DATA@: one block (gnuplot index) per encoder, in the order of `encoders`; columns:
#   1 res (px)  2 median (ms)  3 ci_lo  4 ci_hi  5 p10  6 p90  7 samples  8 noisy (1/0)
#   9 GMACs
encoders = @ENCODERS@
n = words(encoders)
set xlabel 'input resolution (px, square image; log scale)'
set ylabel 'vision encoder latency (ms, median and 95% CI; log scale)'
set logscale xy 2
set format x '%g'
set format y '%g'
set xtics (@XTICS@) @XTIC_ROTATE@
set xrange [@XMIN@:@XMAX@]
set offsets 0, 0, graph 0.05, graph 0.05
plot for [i=1:n] '@DATA@' index (i - 1) using 1:2:3:4 with yerrorlines lw 2 \
         pt enc_point(i) ps 1.2 lc rgb enc_color(i) title word(encoders, i), \
     for [k=1:@HAS_NOISY@] for [i=1:n] '@DATA@' index (i - 1) using 1:($8 > 0 ? $2 : NaN) \
         with points pt 6 ps 2.6 lw 1.5 lc rgb '#d62728' \
         title (i == 1 ? 'noisy (CI > 5% of median)' : '')
@OUTPUT_MORE@
