#include "engine/models/models.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mb_name(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

static bool map_name(const mb *b, const char *logical, char *out, size_t size) {
    if (b->map)
        return b->map(b, logical, out, size);
    snprintf(out, size, "%s%s", b->prefix ? b->prefix : "", logical);
    return true;
}

bool mb_has_ckpt(const mb *b) {
    return b->nshards > 0;
}

const vlm_tensor_view *mb_find(const mb *b, const char *name, const vlm_weights **shard) {
    for (int i = 0; i < b->nshards; i++) {
        const vlm_tensor_view *t = vlm_weights_find(b->shards[i], name);
        if (t) {
            if (shard)
                *shard = b->shards[i];
            return t;
        }
    }
    return NULL;
}

bool mb_has(mb *b, const char *logical) {
    char name[512];
    return b->nshards && map_name(b, logical, name, sizeof name) && mb_find(b, name, NULL);
}

float *mb_alloc(mb *b, int64_t n) {
    if (b->ntmp == b->captmp) {
        int cap = b->captmp ? 2 * b->captmp : 32;
        float **t = realloc(b->tmp, (size_t)cap * sizeof *t);
        if (!t) {
            vg_fail(b->g, VLM_ERR_NOMEM, "out of memory reading weights");
            return NULL;
        }
        b->tmp = t;
        b->captmp = cap;
    }
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p) {
        vg_fail(b->g, VLM_ERR_NOMEM, "out of memory: %lld floats for weights", (long long)n);
        return NULL;
    }
    b->tmp[b->ntmp++] = p;
    b->tmp_bytes += (size_t)(n > 0 ? n : 1) * sizeof *p;
    if (b->tmp_bytes > b->tmp_peak)
        b->tmp_peak = b->tmp_bytes;
    return p;
}

void mb_tmp_reset(mb *b) {
    for (int i = 0; i < b->ntmp; i++)
        free(b->tmp[i]);
    b->ntmp = 0;
    b->tmp_bytes = 0;
}

/* splitmix64, counter-based: element i of a tensor whose stream starts at s0 is
 * mix(s0 + (i + 1) * golden), so elements can be drawn in parallel and in any order. */
static uint64_t splitmix_at(uint64_t s0, uint64_t i) {
    uint64_t z = s0 + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void synthesise(float *dst, int64_t count, int ndim, const int64_t *shape, mb_init init,
                       uint64_t seed, const char *logical) {
    uint64_t s = seed ^ fnv1a(logical);
    float lo = 0, hi = 0;
    switch (init) {
    case MB_INIT_FANIN: {
        int64_t fan_in = ndim > 0 && shape[0] > 0 ? count / shape[0] : 1;
        float a = sqrtf(3.0f / (float)(fan_in > 0 ? fan_in : 1));
        lo = -a, hi = a;
        break;
    }
    case MB_INIT_BIAS: lo = -0.02f, hi = 0.02f; break;
    case MB_INIT_NORM_W:
    case MB_INIT_STAT_VAR: lo = 0.8f, hi = 1.2f; break;
    case MB_INIT_STAT_MEAN: lo = -0.05f, hi = 0.05f; break;
    case MB_INIT_SCALE: lo = 0.05f, hi = 0.15f; break;
    case MB_INIT_DW_IDENT: lo = -0.05f, hi = 0.05f; break;
    }
#pragma omp parallel for schedule(static) if (count > 65536)
    for (int64_t i = 0; i < count; i++)
        dst[i] = lo + (hi - lo) * (float)((splitmix_at(s, (uint64_t)i) >> 40) * (1.0 / 16777216.0));
    if (init == MB_INIT_DW_IDENT && ndim == 4) /* [c, 1, k, k]: 1 at the centre */
        for (int64_t o = 0; o < shape[0]; o++)
            dst[(o * shape[2] + shape[2] / 2) * shape[3] + shape[3] / 2] += 1.0f;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

static float *get_any(mb *b, const char *logical, mb_init init, bool count_param, int nshapes,
                      const int ndims[], const int64_t *const shapes[]) {
    if (vg_status(b->g, NULL) != VLM_OK)
        return NULL;
    int64_t count = 1;
    for (int i = 0; i < ndims[0]; i++)
        count *= shapes[0][i];
    if (count_param) {
        b->params += count;
        if (b->in_head)
            b->params_head += count;
    }
    if (b->facts_only)
        return NULL;
    float *dst = mb_alloc(b, count);
    if (!dst)
        return NULL;
    if (!b->nshards) {
        synthesise(dst, count, ndims[0], shapes[0], init, b->seed, logical);
        return dst;
    }
    char name[512], want[160], got[160];
    map_name(b, logical, name, sizeof name);
    const vlm_weights *shard = NULL;
    const vlm_tensor_view *t = mb_find(b, name, &shard);
    shape_str(want, sizeof want, ndims[0], shapes[0]);
    if (!t) {
        vg_fail(b->g, VLM_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", b->ckpt_path,
                name, want);
        return NULL;
    }
    for (int k = 0; k < nshapes; k++) {
        if (t->ndim != ndims[k] || memcmp(t->shape, shapes[k], (size_t)ndims[k] * sizeof(int64_t)))
            continue;
        vlm_error err = {0};
        if (vlm_weights_read_f32(shard, name, ndims[k], shapes[k], dst, &err) != VLM_OK) {
            vg_fail(b->g, err.status, "%s", err.msg);
            return NULL;
        }
        return dst;
    }
    shape_str(got, sizeof got, t->ndim, t->shape);
    vg_fail(b->g, VLM_ERR_FORMAT, "%s: tensor '%s' has shape %s but the model expects %s",
            vlm_weights_path(shard), name, got, want);
    return NULL;
}

float *mb_get(mb *b, const char *logical, mb_init init, bool count_param, int ndim,
              const int64_t *shape) {
    return get_any(b, logical, init, count_param, 1, (const int[]){ndim},
                   (const int64_t *const[]){shape});
}

float *mb_get_flat(mb *b, const char *logical, mb_init init, int64_t count, int nshapes,
                   const int ndims[], const int64_t *const shapes[]) {
    (void)count;
    return get_any(b, logical, init, true, nshapes, ndims, shapes);
}

void mb_fold_bn(float *w, float *bias, int64_t cout, int64_t per_out, const float *gamma,
                const float *beta, const float *mean, const float *var, float eps, bool has_bias) {
    for (int64_t o = 0; o < cout; o++) {
        double s = gamma[o] / sqrt((double)var[o] + eps);
        for (int64_t i = 0; i < per_out; i++)
            w[o * per_out + i] = (float)(w[o * per_out + i] * s);
        double b0 = has_bias ? bias[o] : 0.0;
        bias[o] = (float)(beta[o] + (b0 - mean[o]) * s);
    }
}

void mb_add_centered(float *dst, int64_t K, const float *src, int64_t k, int64_t cout,
                     int64_t cin_g) {
    int64_t off = (K - k) / 2;
    for (int64_t o = 0; o < cout * cin_g; o++)
        for (int64_t y = 0; y < k; y++)
            for (int64_t x = 0; x < k; x++)
                dst[(o * K + y + off) * K + x + off] += src[(o * k + y) * k + x];
}

void mb_add_identity(float *dst, int64_t K, int64_t cout, int64_t cin_g, float value) {
    for (int64_t o = 0; o < cout; o++)
        dst[((o * cin_g + o % cin_g) * K + K / 2) * K + K / 2] += value;
}

vg_tensor mb_image_input(mb *b, int64_t h, int64_t w, vg_tensor *external) {
    vg_graph *g = b->g;
    int64_t dims[4] = {1, 3, h, w};
    vg_tensor in = vg_new(g, 4, dims, dnnl_f32);
    vg_tensor nchw = vg_view(g, in, 4, dims, (int64_t[]){3 * h * w, h * w, w, 1}, 0);
    vg_mark_external(g, in);
    *external = in;
    return vg_reorder(g, nchw, vg_new(g, 4, dims, 0));
}

int mb_find_prefix(mb *b, const char *const *suffixes, const char *const *probes, int n) {
    for (int sh = 0; sh < b->nshards; sh++)
        for (int i = 0; i < vlm_weights_count(b->shards[sh]); i++) {
            const char *name = vlm_weights_at(b->shards[sh], i)->name;
            size_t len = strlen(name);
            for (int k = 0; k < n; k++) {
                size_t sl = strlen(suffixes[k]);
                if (len < sl || strcmp(name + len - sl, suffixes[k]) ||
                    (len > sl && name[len - sl - 1] != '.') || len - sl >= sizeof b->prefix_buf)
                    continue;
                memcpy(b->prefix_buf, name, len - sl);
                b->prefix_buf[len - sl] = '\0';
                char probe[512];
                snprintf(probe, sizeof probe, "%s%s", b->prefix_buf, probes ? probes[k] : "");
                if (probes && probes[k] && !mb_find(b, probe, NULL))
                    continue;
                b->prefix = b->prefix_buf;
                return k;
            }
        }
    return -1;
}

bool mb_rename_with(const mb_rename *table, size_t n, const char *text, bool exact,
                    const char *head, char *out, size_t size) {
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(table[k].from);
        if (exact ? !strcmp(text, table[k].from) : !strncmp(text, table[k].from, len)) {
            snprintf(out, size, "%s%s%s", head, table[k].to, exact ? "" : text + len);
            return true;
        }
    }
    return false;
}
