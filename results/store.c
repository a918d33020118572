#include "results/results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

vlm_status vlm_results_append(const char *path, const json_t *record, vlm_error *err) {
    if (!json_is_object(record))
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: a results record must be a JSON object",
                             path);
    /* schema first, then the record's own fields in their order */
    json_t *rec = json_object();
    if (!rec || json_object_set_new(rec, "schema", json_integer(VLM_RESULTS_SCHEMA)) ||
        json_object_update(rec, (json_t *)record) ||
        json_object_set_new(rec, "schema", json_integer(VLM_RESULTS_SCHEMA))) {
        json_decref(rec);
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory building a record", path);
    }
    char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(rec);
    if (!line)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory encoding a record", path);
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps leaves the terminator; reuse it for the newline */

    vlm_status st = VLM_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = vlm_error_set(err, VLM_ERR_IO, "%s: cannot open for appending: %s", path,
                           strerror(errno));
        goto out;
    }
    ssize_t w = write(fd, line, len + 1);
    if (w != (ssize_t)(len + 1)) {
        int e = w < 0 ? errno : ENOSPC;
        /* never leave half a line behind */
        off_t end = lseek(fd, 0, SEEK_END);
        if (w > 0 && end >= w && ftruncate(fd, end - w) == 0)
            (void)0;
        st = vlm_error_set(err, VLM_ERR_IO, "%s: cannot append a record: %s", path,
                           strerror(e));
    } else if (fsync(fd) != 0) {
        st = vlm_error_set(err, VLM_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    }
    if (close(fd) != 0 && st == VLM_OK)
        st = vlm_error_set(err, VLM_ERR_IO, "%s: close failed: %s", path, strerror(errno));
out:
    free(line);
    return st;
}
