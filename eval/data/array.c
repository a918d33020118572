/* Typed tensors as the spec 3.4 / 6 canonical inputs store them: .npy, or raw .bin + .json. */
#include "eval/eval.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    vlm_array_dtype dtype;
    const char *name;  /* the .json header's name */
    const char *descr; /* numpy descr without the byte-order character */
    size_t bytes;
} DTYPES[] = {
    {VLM_ARRAY_BOOL, "bool", "b1", 1},   {VLM_ARRAY_U8, "uint8", "u1", 1},
    {VLM_ARRAY_I8, "int8", "i1", 1},     {VLM_ARRAY_U16, "uint16", "u2", 2},
    {VLM_ARRAY_I16, "int16", "i2", 2},   {VLM_ARRAY_U32, "uint32", "u4", 4},
    {VLM_ARRAY_I32, "int32", "i4", 4},   {VLM_ARRAY_U64, "uint64", "u8", 8},
    {VLM_ARRAY_I64, "int64", "i8", 8},   {VLM_ARRAY_F16, "float16", "f2", 2},
    {VLM_ARRAY_F32, "float32", "f4", 4}, {VLM_ARRAY_F64, "float64", "f8", 8},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

const char *vlm_array_dtype_name(vlm_array_dtype dtype) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dtype == dtype)
            return DTYPES[i].name;
    return "unknown";
}

void vlm_array_free(vlm_array *a) {
    if (!a)
        return;
    free(a->data);
    *a = (vlm_array){0};
}

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v;
    if (e == 0)
        v = m * 0x1p-24;
    else if (e == 31)
        v = m ? __builtin_nan("") : __builtin_inf();
    else
        v = (1 + m * 0x1p-10) * __builtin_ldexp(1.0, e - 15);
    return (h & 0x8000) ? -v : v;
}

double vlm_array_get_f64(const vlm_array *a, int64_t i) {
    const unsigned char *p = (const unsigned char *)a->data + (size_t)i * a->elem_bytes;
    switch (a->dtype) {
    case VLM_ARRAY_BOOL: return *p != 0;
    case VLM_ARRAY_U8: return *p;
    case VLM_ARRAY_I8: return *(const int8_t *)p;
    case VLM_ARRAY_U16: return *(const uint16_t *)p;
    case VLM_ARRAY_I16: return *(const int16_t *)p;
    case VLM_ARRAY_U32: return *(const uint32_t *)p;
    case VLM_ARRAY_I32: return *(const int32_t *)p;
    case VLM_ARRAY_U64: return (double)*(const uint64_t *)p;
    case VLM_ARRAY_I64: return (double)*(const int64_t *)p;
    case VLM_ARRAY_F16: return half_to_double(*(const uint16_t *)p);
    case VLM_ARRAY_F32: return *(const float *)p;
    case VLM_ARRAY_F64: return *(const double *)p;
    }
    return 0;
}

int64_t vlm_array_get_i64(const vlm_array *a, int64_t i) {
    const unsigned char *p = (const unsigned char *)a->data + (size_t)i * a->elem_bytes;
    switch (a->dtype) {
    case VLM_ARRAY_BOOL: return *p != 0;
    case VLM_ARRAY_U8: return *p;
    case VLM_ARRAY_I8: return *(const int8_t *)p;
    case VLM_ARRAY_U16: return *(const uint16_t *)p;
    case VLM_ARRAY_I16: return *(const int16_t *)p;
    case VLM_ARRAY_U32: return *(const uint32_t *)p;
    case VLM_ARRAY_I32: return *(const int32_t *)p;
    case VLM_ARRAY_U64: return (int64_t) * (const uint64_t *)p;
    case VLM_ARRAY_I64: return *(const int64_t *)p;
    default: {
        double v = vlm_array_get_f64(a, i);
        return v == v && v > -9.2e18 && v < 9.2e18 ? (int64_t)v : INT64_MIN;
    }
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Sets count and checks it against the data size. */
static vlm_status finish_shape(const char *path, vlm_array *out, size_t data_bytes,
                               vlm_error *err) {
    int64_t count = 1;
    for (int i = 0; i < out->ndim; i++) {
        if (out->shape[i] < 0 || (out->shape[i] > 0 && count > INT64_MAX / 16 / out->shape[i]))
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: bad shape", path);
        count *= out->shape[i];
    }
    out->count = count;
    if ((uint64_t)count * out->elem_bytes != data_bytes)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: data holds %zu bytes, shape and dtype %s need %llu", path,
                             data_bytes, vlm_array_dtype_name(out->dtype),
                             (unsigned long long)count * out->elem_bytes);
    return VLM_OK;
}

/* Finds 'key': in a numpy header dict literal and returns the text after the colon. */
static const char *dict_value(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p++ != ':')
        return NULL;
    while (*p == ' ')
        p++;
    return p;
}

static vlm_status load_npy(const char *path, vlm_array *out, vlm_error *err) {
    uint8_t *buf;
    size_t len;
    vlm_status st = vlm_read_file(path, &buf, &len, (size_t)1 << 40, err);
    if (st != VLM_OK)
        return st;
    size_t hlen, off;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (buf[6] == 1) {
        hlen = buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if ((buf[6] == 2 || buf[6] == 3) && len >= 12) {
        hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: unsupported .npy version %d", path, buf[6]);
        goto done;
    }
    if (hlen > len - off) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: truncated header", path);
        goto done;
    }
    char *hdr = malloc(hlen + 1);
    if (!hdr) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(hdr, buf + off, hlen);
    hdr[hlen] = 0;
    const char *descr = dict_value(hdr, "descr"), *fo = dict_value(hdr, "fortran_order"),
               *shape = dict_value(hdr, "shape");
    if (!descr || !fo || !shape || *descr != '\'' || *shape != '(') {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: malformed header", path);
        free(hdr);
        goto done;
    }
    if (strncmp(fo, "False", 5)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: Fortran order is not supported", path);
        free(hdr);
        goto done;
    }
    /* descr: '<f4', '|u1', ... ; big endian only where the size is 1. */
    const char *d = descr + 1;
    int found = -1;
    if (d[0] == '<' || d[0] == '|' || d[0] == '=' || (d[0] == '>' && d[2] == '1'))
        for (size_t i = 0; i < N_DTYPES; i++)
            if (!strncmp(d + 1, DTYPES[i].descr, 2) && d[3] == '\'')
                found = (int)i;
    if (found < 0) {
        const char *q = strchr(d, '\'');
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: unsupported dtype '%.*s'", path,
                           q ? (int)(q - d) : 8, d);
        free(hdr);
        goto done;
    }
    out->dtype = DTYPES[found].dtype;
    out->elem_bytes = DTYPES[found].bytes;
    const char *p = shape + 1;
    out->ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || out->ndim == VLM_NPY_MAX_DIMS) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: malformed shape", path);
            free(hdr);
            goto done;
        }
        out->shape[out->ndim++] = v;
        p = end;
    }
    free(hdr);
    off += hlen;
    if ((st = finish_shape(path, out, len - off, err)) != VLM_OK)
        goto done;
    /* Reuse the file buffer: move the data to its start (malloc alignment for every dtype). */
    memmove(buf, buf + off, len - off);
    out->data = buf;
    buf = NULL;
done:
    free(buf);
    return st;
}

static vlm_status load_bin(const char *bin, const char *jpath, vlm_array *out, vlm_error *err) {
    json_error_t je;
    json_t *h = json_load_file(jpath, 0, &je);
    if (!h)
        return vlm_error_set(err, file_exists(jpath) ? VLM_ERR_FORMAT : VLM_ERR_IO, "%s:%d:%d: %s",
                             jpath, je.line, je.column, je.text);
    vlm_status st = VLM_OK;
    json_t *shape = json_object_get(h, "shape"), *dtype = json_object_get(h, "dtype");
    const char *order = json_string_value(json_object_get(h, "order"));
    const char *bo = json_string_value(json_object_get(h, "byteorder"));
    if (!json_is_array(shape) || !json_is_string(dtype)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: needs \"shape\" (list) and \"dtype\"", jpath);
        goto done;
    }
    if (order && strcmp(order, "C")) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: order \"%s\" is not supported (only C)", jpath,
                           order);
        goto done;
    }
    if (bo && strcmp(bo, "little")) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: byteorder \"%s\" is not supported (only little)", jpath, bo);
        goto done;
    }
    int found = -1;
    for (size_t i = 0; i < N_DTYPES; i++)
        if (!strcmp(json_string_value(dtype), DTYPES[i].name))
            found = (int)i;
    if (found < 0) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: unsupported dtype \"%s\"", jpath,
                           json_string_value(dtype));
        goto done;
    }
    out->dtype = DTYPES[found].dtype;
    out->elem_bytes = DTYPES[found].bytes;
    if (json_array_size(shape) > VLM_NPY_MAX_DIMS) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: more than %d dimensions", jpath,
                           VLM_NPY_MAX_DIMS);
        goto done;
    }
    out->ndim = (int)json_array_size(shape);
    for (int i = 0; i < out->ndim; i++) {
        json_t *v = json_array_get(shape, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: shape[%d] is not a size", jpath, i);
            goto done;
        }
        out->shape[i] = json_integer_value(v);
    }
    uint8_t *buf;
    size_t len;
    if ((st = vlm_read_file(bin, &buf, &len, (size_t)1 << 40, err)) != VLM_OK)
        goto done;
    if ((st = finish_shape(bin, out, len, err)) != VLM_OK) {
        free(buf);
        goto done;
    }
    out->data = buf;
done:
    json_decref(h);
    return st;
}

vlm_status vlm_array_load(const char *path, vlm_array *out, vlm_error *err) {
    *out = (vlm_array){0};
    size_t n = strlen(path);
    char *alt = malloc(n + 8);
    if (!alt)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    vlm_status st;
    if (ends_with(path, ".npy")) {
        st = load_npy(path, out, err);
    } else if (ends_with(path, ".bin")) {
        memcpy(alt, path, n - 4);
        strcpy(alt + n - 4, ".json");
        st = load_bin(path, alt, out, err);
    } else {
        snprintf(alt, n + 8, "%s.npy", path);
        if (file_exists(alt)) {
            st = load_npy(alt, out, err);
        } else {
            char *bin = malloc(n + 8);
            if (!bin) {
                free(alt);
                return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
            }
            snprintf(bin, n + 8, "%s.bin", path);
            snprintf(alt, n + 8, "%s.json", path);
            if (!file_exists(bin))
                st = vlm_error_set(err, VLM_ERR_IO, "%s: neither %s.npy nor %s.bin exists", path,
                                   path, path);
            else
                st = load_bin(bin, alt, out, err);
            free(bin);
        }
    }
    free(alt);
    if (st != VLM_OK)
        vlm_array_free(out);
    return st;
}
