@PREAMBLE@
# Visual tokens the LLM receives from each encoder at each resolution.
# @DATA@: one block (gnuplot index) per encoder, in the order of `encoders`; columns:
#   1 res (px)  2 visual tokens
encoders = @ENCODERS@
n = words(encoders)
set xlabel 'input resolution (px, square image)'
set ylabel 'visual tokens (log scale)'
set logscale y 2
set format y '%g'
set xtics (@XTICS@) @XTIC_ROTATE@
set xrange [@XMIN@:@XMAX@]
set offsets 0, 0, graph 0.05, graph 0.05
# encoders with the same token formula overlap: later ones are drawn smaller on top
plot for [i=1:n] '@DATA@' index (i - 1) using 1:2 with linespoints lw 2 dt i \
         pt enc_point(i) ps (1.8 - 0.3 * ((i - 1) % 4)) lc rgb enc_color(i) \
         title word(encoders, i), \
     '@DATA@' index 0 using 1:2:(sprintf('%d', $2)) with labels offset 0, 1.3 font ',9' \
         notitle
@OUTPUT_MORE@
