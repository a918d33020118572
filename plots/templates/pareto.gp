@PREAMBLE@
# Accuracy against cost: every point labelled model@res; the non-dominated points (no other
# point is as cheap and as accurate, one of them strictly) joined by a step line.
# @DATA@ index 0, the points; columns: 1 cost  2 accuracy  3 label  4 accuracy published (1)
#   or measured (0)  5 on the frontier (1/0)  6 model  7 res  8 llm
# @DATA@ index 1, the frontier by ascending cost; columns: 1 cost  2 accuracy
set xlabel @XLABEL@
set key outside bottom center vertical Left reverse maxrows 3 box
set bmargin 8
set ylabel @YLABEL@
if (@LOGX@) set logscale x; set format x '%g'
set offsets graph 0.03, graph 0.12, graph 0.1, graph 0.1
plot for [k=1:@HAS_FRONTIER@] '@DATA@' index 1 using 1:2 with steps lw 2 \
         lc rgb '#d62728' title 'Pareto frontier', \
     '@DATA@' index 0 using 1:($5 > 0 ? $2 : NaN) with points pt 6 ps 2.8 lw 2 \
         lc rgb '#d62728' title 'on the frontier', \
     for [k=1:@HAS_MEASURED@] '@DATA@' index 0 using 1:($4 == 0 ? $2 : NaN) with points \
         pt 7 ps 1.4 lc rgb '#1f77b4' title @MEASURED_TITLE@, \
     for [k=1:@HAS_PUBLISHED@] '@DATA@' index 0 using 1:($4 > 0 ? $2 : NaN) with points \
         pt 5 ps 1.4 lc rgb '#ff7f0e' title @PUBLISHED_TITLE@, \
     '@DATA@' index 0 using 1:2:3 with labels left offset char 1.2, char 0.6 font ',8' \
         notitle
@OUTPUT_MORE@
