/* Whole-file reads shared by every library above the engine (vlm_read_file in engine.h). */
#include "engine/engine.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

vlm_status vlm_read_file(const char *path, uint8_t **data, size_t *len, size_t max_bytes,
                         vlm_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return vlm_error_set(err, VLM_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: too large (%lld bytes, limit %zu)", path,
                             (long long)st.st_size, max_bytes);
    }
    /* Read to the end rather than trusting st_size: the file may change under us. */
    if (max_bytes > SIZE_MAX / 4)
        max_bytes = SIZE_MAX / 4;
    size_t cap = (size_t)st.st_size + 2, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory (%lld bytes)", path,
                             (long long)st.st_size);
    }
    for (;;) {
        if (n + 1 == cap) {
            if (n > max_bytes)
                break;
            size_t ncap = cap * 2 > max_bytes + 2 ? max_bytes + 2 : cap * 2;
            uint8_t *p = realloc(buf, ncap);
            if (!p) {
                free(buf);
                fclose(f);
                return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                fclose(f);
                return vlm_error_set(err, VLM_ERR_IO, "%s: read error", path);
            }
            break;
        }
    }
    fclose(f);
    if (n > max_bytes) {
        free(buf);
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: too large (limit %zu bytes)", path,
                             max_bytes);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return VLM_OK;
}
