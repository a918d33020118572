/* JSON score files written whole or not at all: a temporary file in the same directory, then
 * rename. */
#include "eval/eval.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

vlm_status vlm_json_write_file(const struct json_t *value, const char *path, vlm_error *err) {
    const size_t flags = JSON_INDENT(2) | JSON_REAL_PRECISION(17);
    if (!strcmp(path, "-")) {
        if (json_dumpf(value, stdout, flags) != 0 || fputc('\n', stdout) == EOF ||
            fflush(stdout) != 0)
            return vlm_error_set(err, VLM_ERR_IO, "cannot write JSON to stdout");
        return VLM_OK;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        vlm_status st =
            vlm_error_set(err, VLM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "w");
    int ok = f && json_dumpf(value, f, flags) == 0 && fputc('\n', f) != EOF;
    if (f)
        ok = (fclose(f) == 0) && ok;
    else
        close(fd);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    free(tmp);
    return VLM_OK;
}
