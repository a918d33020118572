@PREAMBLE@
# Time to first token = preprocessing + vision encoder + projector + LLM prefill (medians),
# stacked per encoder at each resolution; the line joins each encoder's TTFT; '~' marks a
# prefill estimated from sampled layers. (Labels are never NaN-filtered: gnuplot 5.4.4
# crashes on a block of NaN labels.)
# @DATA@: one block (gnuplot index) per encoder, in the order of `encoders`; columns:
#   1 res (px)  2 bar centre  3 bar width  4 preprocess_ms  5 vision_ms  6 projector_ms
#   7 prefill_ms  8 ttft_ms  9-12 the stacked tops (preprocess, +vision, +projector, +prefill)
#   13 visual tokens  14 prefill tokens  15 prefill estimated from sampled layers (1/0)
encoders = @ENCODERS@
n = words(encoders)
set xlabel 'input resolution (px, square image)'
set ylabel 'time to first token (ms, medians)'
set xtics (@XTICS@) @XTIC_ROTATE@
set xrange [@XMIN@:@XMAX@]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set style fill solid 0.9 border lc rgb '#555555'
if (@HAS_ESTIMATED@) set label 1002 '~ LLM prefill estimated from sampled layers' \
    at screen 0.01, screen 0.02 font ',9' textcolor rgb '#444444'
plot for [i=1:n] '@DATA@' index (i - 1) using 2:12:3 with boxes lc rgb '#e15759' \
         title (i == 1 ? 'LLM prefill' : ''), \
     for [i=1:n] '@DATA@' index (i - 1) using 2:11:3 with boxes lc rgb '#f28e2b' \
         title (i == 1 && @HAS_PROJECTOR@ ? 'projector' : ''), \
     for [i=1:n] '@DATA@' index (i - 1) using 2:10:3 with boxes lc rgb '#4e79a7' \
         title (i == 1 ? 'vision encoder' : ''), \
     for [i=1:n] '@DATA@' index (i - 1) using 2:9:3 with boxes lc rgb '#bab0ac' \
         title (i == 1 ? 'preprocessing' : ''), \
     for [i=1:n] '@DATA@' index (i - 1) using 2:8 with linespoints lw 2 \
         pt enc_point(i) ps 1.2 lc rgb enc_color(i) title word(encoders, i).' TTFT', \
     for [i=1:n] '@DATA@' index (i - 1) using 2:12:($15 > 0 ? '~' : '') with labels \
         offset 0, 0.8 font ',10' notitle
@OUTPUT_MORE@
