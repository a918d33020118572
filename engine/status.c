#include "engine/engine.h"

#include <stdarg.h>
#include <stdio.h>

const char *vlm_status_name(vlm_status status) {
    switch (status) {
    case VLM_OK: return "ok";
    case VLM_ERR_INVALID: return "invalid input";
    case VLM_ERR_IO: return "i/o error";
    case VLM_ERR_FORMAT: return "malformed file";
    case VLM_ERR_NOMEM: return "out of memory";
    case VLM_ERR_UNSUPPORTED: return "unsupported";
    case VLM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

vlm_status vlm_error_set(vlm_error *err, vlm_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void vlm_error_clear(vlm_error *err) {
    if (err) {
        err->status = VLM_OK;
        err->msg[0] = '\0';
    }
}
