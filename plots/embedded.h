/* Private to plots/: the files embedded into the binary at build time by plots/embed.cmake
 * (the generated plots_embedded.c in the build directory). */
#ifndef VLM_PLOTS_EMBEDDED_H
#define VLM_PLOTS_EMBEDDED_H

typedef struct vlm_embedded_file {
    const char *name; /* file name without directory: "ttft.gp", "fastvlm.csv" */
    const char *data; /* the bytes, NUL-terminated */
    long size;        /* bytes, without the NUL */
} vlm_embedded_file;

extern const vlm_embedded_file vlm_plot_templates[]; /* plots/templates/<name>.gp */
extern const int vlm_plot_templates_count;
extern const vlm_embedded_file vlm_published_files[]; /* results/published/<name>.csv */
extern const int vlm_published_files_count;

#endif /* VLM_PLOTS_EMBEDDED_H */
