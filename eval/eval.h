/*
 * vlmbench eval: data readers and scorers. Now: .npy tensors (NumPy format 1.0/2.0/3.0 read,
 * 1.0 write), used by `vlmbench infer` and by tests; later: archives, images, scorers.
 *
 *   vlm_npy a = {0};
 *   if (vlm_npy_read_f32("x.npy", &a, &err) == VLM_OK) { ... a.data[i] ...; vlm_npy_free(&a); }
 */
#ifndef VLM_EVAL_H
#define VLM_EVAL_H

#include <stdint.h>

#include "engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VLM_NPY_MAX_DIMS 8

typedef struct vlm_npy {
    int ndim;
    int64_t shape[VLM_NPY_MAX_DIMS];
    int64_t count; /* product of shape (1 for a 0-d array) */
    float *data;   /* owned: count floats, C order */
} vlm_npy;

/* Reads a .npy file holding little-endian float32, float64 or float16 ('<f4', '<f8', '<f2')
 * in C order, converting to float32. Fortran order, other dtypes, truncated data and
 * malformed headers are VLM_ERR_FORMAT with a message naming the file and the problem. */
vlm_status vlm_npy_read_f32(const char *path, vlm_npy *out, vlm_error *err);

/* Writes a float32 C-order array as .npy format 1.0. The file is written to a temporary
 * name and renamed, so a failure never leaves a partial file at path. */
vlm_status vlm_npy_write_f32(const char *path, int ndim, const int64_t *shape,
                             const float *data, vlm_error *err);

/* Frees a's data and zeroes it. NULL is a no-op. */
void vlm_npy_free(vlm_npy *a);

#ifdef __cplusplus
}
#endif

#endif /* VLM_EVAL_H */
