/* Warning lines collected while reading inputs (vlm_warnings in eval.h). */
#include "eval/eval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends line (length k, newline included) to w->text; dropped when out of memory. */
static void append(vlm_warnings *w, const char *line, size_t k) {
    char *t = realloc(w->text, w->len + k + 1);
    if (!t)
        return;
    memcpy(t + w->len, line, k);
    w->len += k;
    t[w->len] = '\0';
    w->text = t;
}

void vlm_warnf(vlm_warnings *w, const char *fmt, ...) {
    if (++w->count > VLM_WARNINGS_KEPT)
        return;
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k > sizeof line - 2)
        k = sizeof line - 2;
    line[k++] = '\n';
    append(w, line, (size_t)k);
}

char *vlm_warnings_take(vlm_warnings *w) {
    if (w->count > VLM_WARNINGS_KEPT) {
        char line[64];
        int k = snprintf(line, sizeof line, "... and %d more warnings\n",
                         w->count - VLM_WARNINGS_KEPT);
        append(w, line, (size_t)k);
    }
    char *t = w->text;
    *w = (vlm_warnings){0};
    return t;
}

void vlm_warnings_free(vlm_warnings *w) {
    free(w->text);
    *w = (vlm_warnings){0};
}
