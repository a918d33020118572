/* vlmbench plot: charts from results files (plots/plots.h), drawn with gnuplot. */
#include "cli/cli.h"
#include "plots/plots.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vlm_cmd_plot(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"published", no_argument, NULL, 'p'},
                                         {"published-dir", required_argument, NULL, 'P'},
                                         {0}};
    vlm_plot_params p = vlm_plot_default_params();
    p.log = stderr;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': p.out_dir = optarg; break;
        case 'f':
            if (!strcmp(optarg, "png"))
                p.formats = VLM_PLOT_PNG;
            else if (!strcmp(optarg, "svg"))
                p.formats = VLM_PLOT_SVG;
            else if (!strcmp(optarg, "both"))
                p.formats = VLM_PLOT_PNG | VLM_PLOT_SVG;
            else {
                fprintf(stderr, "vlmbench plot: --format wants png, svg or both, got '%s'\n",
                        optarg);
                return VLM_EXIT_USAGE;
            }
            break;
        case 'p': p.published = 1; break;
        case 'P': p.published = 1, p.published_dir = optarg; break;
        default: return vlm_cli_bad_option("plot", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        fputs("vlmbench plot: no results file given\n\n", stderr);
        for (int i = 0; i < vlm_cli_command_count; i++)
            if (!strcmp(vlm_cli_commands[i].name, "plot"))
                vlm_cli_usage(stderr, &vlm_cli_commands[i]);
        return VLM_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1])
            return vlm_cli_bad_option("plot", argv[i]);
    vlm_error err = {0};
    vlm_plot_report rep;
    if (vlm_plot_files((const char *const *)argv + optind, argc - optind, &p, &rep, &err) != VLM_OK)
        return vlm_cli_fail("plot", &err);
    printf("%s: %d chart%s (each a .dat and a .gp) for %d machine fingerprint%s; %d image%s "
           "drawn%s\n",
           rep.out_dir, rep.charts, rep.charts == 1 ? "" : "s", rep.groups,
           rep.groups == 1 ? "" : "s", rep.images, rep.images == 1 ? "" : "s",
           rep.gnuplot_missing ? " (gnuplot not found)" : "");
    return VLM_EXIT_OK;
}
