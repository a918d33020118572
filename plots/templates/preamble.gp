# @CHART@.gp: written by `vlmbench plot` from the template plots/templates/@TEMPLATE@.gp.
# Redraw: run `gnuplot @CHART@.gp` in this folder; it reads @CHART@.dat and writes @IMAGES@.
reset
set encoding utf8
set termoption noenhanced
# title, and below it the machine fingerprint of every number on the chart
set label 1000 @TITLE@ at screen 0.5, screen 0.965 center noenhanced font ',15'
set label 1001 @SUBTITLE@ at screen 0.5, screen 0.93 center noenhanced font ',10' \
    textcolor rgb '#444444'
set tmargin 5
set grid back lc rgb '#dddddd' lw 1
set border lc rgb '#444444'
set key outside right top vertical Left reverse noenhanced box lc rgb '#bbbbbb' spacing 1.2
# encoder colours and point types, in the order of the data blocks
enc_colors = '#1f77b4 #2ca02c #9467bd #8c564b #17becf #bcbd22 #7f7f7f #e377c2'
enc_points = '7 5 9 11 13 15 7 5'
enc_color(i) = word(enc_colors, (i - 1) % 8 + 1)
enc_point(i) = int(word(enc_points, (i - 1) % 8 + 1))
@OUTPUT@
