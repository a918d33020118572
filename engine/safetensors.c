#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N,
 * then N bytes of UTF-8 JSON
 *   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [a, b],
 *                                         "data_offsets": [begin, end]}, ...}
 * then the data area; [begin, end) is relative to the start of the data area and elements are
 * little-endian, C order. The header may be padded with trailing spaces. */

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c maps little-endian tensor data directly; big-endian hosts need a swap"
#endif

#define ST_MAX_HEADER_BYTES 100000000u /* the reference implementation's limit */

struct vlm_weights {
    char *path; /* owned copy of the path given to open */
    void *map;  /* owned read-only private mapping of the whole file */
    size_t map_bytes;
    int count;
    vlm_tensor_view *tensors; /* owned, count entries in header order */
    vlm_tensor_view **sorted; /* owned, count pointers into tensors sorted by name */
    char *names;              /* owned: every tensor name, NUL-terminated, back to back */
};

static const struct {
    const char *name;
    size_t bytes;
} DTYPES[] = {
    [VLM_ST_F32] = {"F32", 4}, [VLM_ST_F16] = {"F16", 2},   [VLM_ST_BF16] = {"BF16", 2},
    [VLM_ST_F64] = {"F64", 8}, [VLM_ST_I64] = {"I64", 8},   [VLM_ST_I32] = {"I32", 4},
    [VLM_ST_U8] = {"U8", 1},   [VLM_ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

size_t vlm_st_dtype_size(vlm_st_dtype dtype) {
    return (unsigned)dtype < (unsigned)N_DTYPES ? DTYPES[dtype].bytes : 0;
}

const char *vlm_st_dtype_name(vlm_st_dtype dtype) {
    return (unsigned)dtype < (unsigned)N_DTYPES ? DTYPES[dtype].name : "?";
}

/* ---- scalar conversions ---------------------------------------------------------------- */

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t vlm_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)        /* NaN: keep sign, force the quiet bit so */
        return (uint16_t)((u >> 16) | 0x0040u); /* the truncated mantissa stays non-zero */
    /* round to nearest, ties to even: add 0x7fff plus the lowest kept bit, then truncate.
     * Cannot wrap: the largest non-NaN pattern is 0xff800000 (-inf). */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float vlm_bf16_to_f32(uint16_t x) {
    return f32_from_bits((uint32_t)x << 16);
}

float vlm_f16_to_f32(uint16_t x) {
    uint32_t sign = (uint32_t)(x & 0x8000u) << 16, exp = (x >> 10) & 0x1fu, man = x & 0x3ffu;
    if (exp == 0x1f) /* inf, or NaN with its payload (man != 0 keeps it NaN) */
        return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man x 2^-24, exact in float32 */
        float mag = (float)man * 0x1p-24f;
        return sign ? -mag : mag;
    }
    return f32_from_bits(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

/* ---- helpers --------------------------------------------------------------------------- */

/* "[a, b, c]" into buf (always NUL-terminated). */
static const char *format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown JSON value";
}

typedef struct span {
    int64_t begin, end;
    int index; /* into vlm_weights.tensors */
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int view_name_cmp(const void *a, const void *b) {
    const vlm_tensor_view *x = *(vlm_tensor_view *const *)a, *y = *(vlm_tensor_view *const *)b;
    return strcmp(x->name, y->name);
}

static int key_name_cmp(const void *key, const void *elem) {
    return strcmp(key, (*(vlm_tensor_view *const *)elem)->name);
}

/* ---- header validation ----------------------------------------------------------------- */

static vlm_status check_metadata(const char *path, const json_t *meta, vlm_error *err) {
    if (!json_is_object(meta))
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: \"__metadata__\" is %s, expected an object of strings", path,
                             json_kind(meta));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: \"__metadata__\" must map strings to strings, but '%s' "
                                 "holds %s",
                                 path, key, json_kind(val));
    }
    return VLM_OK;
}

/* Parses one tensor entry into t (name already set) and its byte range into s; checks
 * everything that concerns this entry alone. data_bytes is the size of the data area. */
static vlm_status parse_entry(const char *path, const char *name, const json_t *entry,
                              uint64_t data_bytes, vlm_tensor_view *t, span *s, vlm_error *err) {
    if (!json_is_object(entry))
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': entry is %s, expected an object with dtype, "
                             "shape and data_offsets",
                             path, name, json_kind(entry));
    const char *field;
    json_t *val;
    json_object_foreach((json_t *)entry, field, val) {
        if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets"))
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: tensor '%s': unknown field '%s' (expected dtype, shape, "
                                 "data_offsets)",
                                 path, name, field);
    }
    static const char *const required[] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++)
        if (!json_object_get(entry, required[i]))
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: tensor '%s': missing field '%s'", path,
                                 name, required[i]);

    /* dtype */
    const json_t *jdtype = json_object_get(entry, "dtype");
    if (!json_is_string(jdtype))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: tensor '%s': dtype is %s, expected a string",
                             path, name, json_kind(jdtype));
    const char *dname = json_string_value(jdtype);
    int dtype = -1;
    for (int d = 0; d < N_DTYPES; d++)
        if (!strcmp(dname, DTYPES[d].name))
            dtype = d;
    if (dtype < 0)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': unknown dtype '%s' (supported: F32, F16, BF16, "
                             "F64, I64, I32, U8, BOOL)",
                             path, name, dname);
    t->dtype = (vlm_st_dtype)dtype;

    /* shape */
    const json_t *jshape = json_object_get(entry, "shape");
    if (!json_is_array(jshape))
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': shape is %s, expected an array of integers", path,
                             name, json_kind(jshape));
    size_t ndim = json_array_size(jshape);
    if (ndim > VLM_MAX_DIMS)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': shape has %zu dims, more than the %d supported",
                             path, name, ndim, VLM_MAX_DIMS);
    t->ndim = (int)ndim;
    int has_zero = 0;
    for (int i = 0; i < t->ndim; i++) {
        const json_t *d = json_array_get(jshape, (size_t)i);
        if (!json_is_integer(d))
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: tensor '%s': shape[%d] is %s, expected a non-negative "
                                 "integer",
                                 path, name, i, json_kind(d));
        json_int_t v = json_integer_value(d);
        if (v < 0)
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: tensor '%s': shape[%d] is %lld, dims must be "
                                 "non-negative",
                                 path, name, i, (long long)v);
        t->shape[i] = (int64_t)v;
        has_zero |= v == 0;
    }
    char shape_txt[256];
    format_shape(shape_txt, sizeof shape_txt, t->ndim, t->shape);
    int64_t count = 1, need_bytes;
    if (has_zero) {
        count = 0; /* an empty tensor, however large its other dims */
    } else {
        for (int i = 0; i < t->ndim; i++)
            if (__builtin_mul_overflow(count, t->shape[i], &count))
                return vlm_error_set(err, VLM_ERR_FORMAT,
                                     "%s: tensor '%s': shape %s has more elements than fit in "
                                     "a signed 64-bit count",
                                     path, name, shape_txt);
    }
    if (__builtin_mul_overflow(count, (int64_t)DTYPES[dtype].bytes, &need_bytes))
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': shape %s of %s needs more bytes than fit in a "
                             "signed 64-bit size",
                             path, name, shape_txt, dname);
    t->count = count;

    /* data_offsets */
    const json_t *joff = json_object_get(entry, "data_offsets");
    if (!json_is_array(joff) || json_array_size(joff) != 2)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets must be an array [begin, end] of "
                             "two integers",
                             path, name);
    int64_t off[2];
    for (int i = 0; i < 2; i++) {
        const json_t *o = json_array_get(joff, (size_t)i);
        if (!json_is_integer(o))
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: tensor '%s': data_offsets[%d] is %s, expected a "
                                 "non-negative integer",
                                 path, name, i, json_kind(o));
        off[i] = (int64_t)json_integer_value(o);
        if (off[i] < 0)
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: tensor '%s': data_offsets[%d] is %lld, offsets must be "
                                 "non-negative",
                                 path, name, i, (long long)off[i]);
    }
    if (off[0] > off[1])
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%lld, %lld] begin after end", path,
                             name, (long long)off[0], (long long)off[1]);
    if ((uint64_t)off[1] > data_bytes)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%lld, %lld] end beyond the data "
                             "area of %llu bytes (truncated file?)",
                             path, name, (long long)off[0], (long long)off[1],
                             (unsigned long long)data_bytes);
    if (off[1] - off[0] != need_bytes)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes but "
                             "shape %s of %s needs %lld",
                             path, name, (long long)off[0], (long long)off[1],
                             (long long)(off[1] - off[0]), shape_txt, dname, (long long)need_bytes);
    t->nbytes = (size_t)need_bytes;
    s->begin = off[0];
    s->end = off[1];
    return VLM_OK;
}

/* Parses and validates the header json; fills w->count, tensors, sorted, names. */
static vlm_status parse_header(vlm_weights *w, const json_t *hdr, const unsigned char *data,
                               uint64_t data_bytes, vlm_error *err) {
    const char *path = w->path;
    size_t names_bytes = 0;
    int count = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)hdr, key, val) {
        if (!strcmp(key, "__metadata__")) {
            vlm_status st = check_metadata(path, val, err);
            if (st)
                return st;
            continue;
        }
        count++;
        names_bytes += strlen(key) + 1;
    }
    w->count = count;
    w->tensors = calloc((size_t)count + 1, sizeof *w->tensors);
    w->sorted = calloc((size_t)count + 1, sizeof *w->sorted);
    w->names = malloc(names_bytes + 1);
    span *spans = calloc((size_t)count + 1, sizeof *spans);
    if (!w->tensors || !w->sorted || !w->names || !spans) {
        free(spans);
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory for %d tensor entries", path,
                             count);
    }

    vlm_status st = VLM_OK;
    char *name_at = w->names;
    int i = 0;
    json_object_foreach((json_t *)hdr, key, val) {
        if (!strcmp(key, "__metadata__"))
            continue;
        vlm_tensor_view *t = &w->tensors[i];
        size_t len = strlen(key);
        memcpy(name_at, key, len + 1);
        t->name = name_at;
        name_at += len + 1;
        st = parse_entry(path, t->name, val, data_bytes, t, &spans[i], err);
        if (st)
            goto done;
        t->data = data + spans[i].begin;
        spans[i].index = i;
        w->sorted[i] = t;
        i++;
    }

    /* no two non-empty byte ranges may share a byte */
    qsort(spans, (size_t)count, sizeof *spans, span_cmp);
    const span *prev = NULL; /* the non-empty range reaching furthest so far */
    for (int k = 0; k < count; k++) {
        const span *s = &spans[k];
        if (s->begin == s->end)
            continue;
        if (prev && s->begin < prev->end) {
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: tensors '%s' (data_offsets [%lld, %lld]) and '%s' "
                               "(data_offsets [%lld, %lld]) overlap",
                               path, w->tensors[prev->index].name, (long long)prev->begin,
                               (long long)prev->end, w->tensors[s->index].name, (long long)s->begin,
                               (long long)s->end);
            goto done;
        }
        if (!prev || s->end > prev->end)
            prev = s;
    }
    qsort(w->sorted, (size_t)count, sizeof *w->sorted, view_name_cmp);
done:
    free(spans);
    return st;
}

/* ---- open / close ---------------------------------------------------------------------- */

void vlm_weights_close(vlm_weights *w) {
    if (!w)
        return;
    if (w->map)
        munmap(w->map, w->map_bytes);
    free(w->tensors);
    free(w->sorted);
    free(w->names);
    free(w->path);
    free(w);
}

vlm_status vlm_weights_open(const char *path, vlm_weights **out, vlm_error *err) {
    if (!out)
        return vlm_error_set(err, VLM_ERR_INVALID, "vlm_weights_open: out is NULL");
    *out = NULL;
    if (!path)
        return vlm_error_set(err, VLM_ERR_INVALID, "vlm_weights_open: path is NULL");

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot read: %s", path, strerror(EISDIR));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return vlm_error_set(err, VLM_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: file is %lld bytes, too short for the 8-byte header length "
                             "of a safetensors file",
                             path, (long long)sb.st_size);
    }

    vlm_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        close(fd);
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    }
    w->map_bytes = (size_t)sb.st_size;
    void *map = mmap(NULL, w->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        vlm_weights_close(w);
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot mmap %zu bytes: %s", path,
                             (size_t)sb.st_size, strerror(map_errno));
    }
    w->map = map;

    const unsigned char *base = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | base[i];
    uint64_t after_len = (uint64_t)sb.st_size - 8;
    vlm_status st = VLM_OK;
    json_t *hdr = NULL;
    if (hlen == 0) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: header length is 0; a safetensors header is at least \"{}\"", path);
        goto fail;
    }
    if (hlen > after_len) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: header length %llu runs past the end of the file (%llu bytes "
                           "follow the length field)",
                           path, (unsigned long long)hlen, (unsigned long long)after_len);
        goto fail;
    }
    if (hlen > ST_MAX_HEADER_BYTES) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: header length %llu exceeds the limit of %u bytes", path,
                           (unsigned long long)hlen, ST_MAX_HEADER_BYTES);
        goto fail;
    }

    json_error_t jerr;
    hdr = json_loadb((const char *)base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!hdr) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: header is not valid JSON: %s (header byte %d)",
                           path, jerr.text, jerr.position);
        goto fail;
    }
    if (!json_is_object(hdr)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: header is %s, expected a JSON object", path,
                           json_kind(hdr));
        goto fail;
    }
    st = parse_header(w, hdr, base + 8 + hlen, after_len - hlen, err);
    if (st)
        goto fail;
    json_decref(hdr);
    *out = w;
    return VLM_OK;
fail:
    json_decref(hdr);
    vlm_weights_close(w);
    return st;
}

/* ---- access ---------------------------------------------------------------------------- */

const char *vlm_weights_path(const vlm_weights *w) {
    return w->path;
}

int vlm_weights_count(const vlm_weights *w) {
    return w->count;
}

const vlm_tensor_view *vlm_weights_at(const vlm_weights *w, int i) {
    return i >= 0 && i < w->count ? &w->tensors[i] : NULL;
}

const vlm_tensor_view *vlm_weights_find(const vlm_weights *w, const char *name) {
    if (!w || !name || w->count == 0)
        return NULL;
    vlm_tensor_view *const *hit =
        bsearch(name, w->sorted, (size_t)w->count, sizeof *w->sorted, key_name_cmp);
    return hit ? *hit : NULL;
}

/* Drops this process's copies of the mapped pages under [p, p + bytes), rounded out to whole
 * pages. The mapping is private and never written, so nothing is lost: the pages stay in the
 * page cache and a later read (a tied embedding read twice) faults them back in. A model build
 * reads each tensor once into its own buffer, and without this every page read stays resident
 * until the file is closed: a whole float32 model beside its packed copy. */
static void release_pages(const void *p, size_t bytes) {
    if (!bytes)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + bytes + page - 1) & ~(page - 1);
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

vlm_status vlm_weights_read_f32(const vlm_weights *w, const char *name, int ndim,
                                const int64_t *shape, float *dst, vlm_error *err) {
    if (!w || !name || ndim < 0 || ndim > VLM_MAX_DIMS || (ndim > 0 && !shape))
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "vlm_weights_read_f32: bad arguments (name %s, ndim %d)",
                             name ? name : "NULL", ndim);
    char want[256], have[256];
    format_shape(want, sizeof want, ndim, shape);
    const vlm_tensor_view *t = vlm_weights_find(w, name);
    if (!t)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)",
                             w->path, name, want);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: tensor '%s' has shape %s but the model expects %s", w->path, name,
                             format_shape(have, sizeof have, t->ndim, t->shape), want);
    if (t->count > 0 && !dst)
        return vlm_error_set(err, VLM_ERR_INVALID, "vlm_weights_read_f32: dst is NULL for '%s'",
                             name);

    /* t->data may sit at any byte offset: read elements with memcpy */
    const unsigned char *src = t->data;
    size_t n = (size_t)t->count;
    switch (t->dtype) {
    case VLM_ST_F32:
        if (n)
            memcpy(dst, src, n * sizeof(float));
        release_pages(src, n * sizeof(float));
        return VLM_OK;
    case VLM_ST_F16:
    case VLM_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, sizeof h);
            dst[i] = t->dtype == VLM_ST_F16 ? vlm_f16_to_f32(h) : vlm_bf16_to_f32(h);
        }
        release_pages(src, n * 2);
        return VLM_OK;
    case VLM_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, sizeof d);
            dst[i] = (float)d;
        }
        release_pages(src, n * 8);
        return VLM_OK;
    case VLM_ST_I64:
    case VLM_ST_I32:
    case VLM_ST_U8:
    case VLM_ST_BOOL: break;
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: tensor '%s' is %s; only F32, F16, BF16 and F64 convert to float32",
                         w->path, name, vlm_st_dtype_name(t->dtype));
}
