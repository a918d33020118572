@PREAMBLE@
# MobileCLIP style: zero-shot ImageNet-1k top-1 against image-encoder latency. Measured
# latencies (bottom axis) and the papers' latencies on their own device (top axis, with
# --published) are on separate axes: they come from different machines.
# @DATA@ index 0, this machine; columns: 1 latency (ms)  2 top-1 (%)  3 label
#   4 top-1 published (1) or measured (0)  5 on the frontier (1/0)  6 model  7 res
# @DATA@ index 1, the frontier of index 0 by ascending latency; columns: 1 latency  2 top-1
# @DATA@ index 2, the published table; columns: 1 latency (ms)  2 top-1 (%)  3 name
set xlabel @XLABEL@
set key outside bottom center vertical Left reverse maxrows 3 box
set bmargin 8
set ylabel 'ImageNet-1k zero-shot top-1 (%)'
if (@LOGX@) set logscale x; set format x '%g'
if (@PUB_ON_X2@) set x2label @X2LABEL@; set x2tics; set xtics nomirror; \
    set logscale x2; set format x2 '%g'; set tmargin 8
set offsets graph 0.03, graph 0.12, graph 0.1, graph 0.1
plot for [k=1:@HAS_FRONTIER@] '@DATA@' index 1 using 1:2 with steps lw 2 \
         lc rgb '#d62728' title 'Pareto frontier (this machine)', \
     for [k=1:@HAS_FRONTIER@] '@DATA@' index 0 using 1:($5 > 0 ? $2 : NaN) with points \
         pt 6 ps 2.8 lw 2 lc rgb '#d62728' title 'on the frontier', \
     for [k=1:@HAS_MEASURED@] '@DATA@' index 0 using 1:($4 == 0 ? $2 : NaN) with points \
         pt 7 ps 1.4 lc rgb '#1f77b4' title 'measured latency, measured top-1', \
     for [k=1:@HAS_MEASURED_PUB@] '@DATA@' index 0 using 1:($4 > 0 ? $2 : NaN) with points \
         pt 5 ps 1.4 lc rgb '#ff7f0e' title 'measured latency, published top-1', \
     for [k=1:@HAS_FRONTIER@] '@DATA@' index 0 using 1:2:3 with labels left \
         offset char 1.2, char 0.6 font ',8' notitle, \
     for [k=1:@HAS_TABLE@] '@DATA@' index 2 using 1:2 axes @PUB_AXES@ with points pt 4 \
         ps 1.4 lw 2 lc rgb '#7f7f7f' title @TABLE_TITLE@, \
     for [k=1:@HAS_TABLE@] '@DATA@' index 2 using 1:2:3 axes @PUB_AXES@ with labels left \
         offset char 1.2, char -0.6 font ',8' textcolor rgb '#555555' notitle
@OUTPUT_MORE@
