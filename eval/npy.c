#include "eval/eval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* NumPy .npy: magic "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE for
 * 2.0/3.0), then an ASCII Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (a, b), } padded with spaces and '\n', then the raw data. */

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Finds the value text after 'key': in the header dict. */
static const char *dict_value(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

/* IEEE binary16 bits to binary32 bits; exact (every half is a float). */
static uint32_t half_to_f32_bits(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0)
            return sign;
        int e = -1; /* subnormal: normalise */
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        return sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
    if (exp == 31)
        return sign | 0x7f800000u | (man << 13);
    return sign | ((exp + 127 - 15) << 23) | (man << 13);
}

vlm_status vlm_npy_read_f32(const char *path, vlm_npy *out, vlm_error *err) {
    *out = (vlm_npy){0};
    vlm_status st = VLM_OK;
    char *hdr = NULL;
    void *raw = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

    unsigned char pre[10];
    size_t got = fread(pre, 1, 8, f);
    if (got < 6 || memcmp(pre, NPY_MAGIC, 6)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (got != 8)
        goto truncated;
    int major = pre[6];
    size_t hlen;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2)
            goto truncated;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        unsigned char l[4];
        if (fread(l, 1, 4, f) != 4)
            goto truncated;
        hlen = (size_t)l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
        if (hlen > (1u << 20)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: header length %zu is implausible",
                               path, hlen);
            goto done;
        }
    } else {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: unsupported .npy format version %d",
                           path, major);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen)
        goto truncated;
    hdr[hlen] = '\0';

    const char *descr = dict_value(hdr, "descr");
    const char *fortran = dict_value(hdr, "fortran_order");
    const char *shape = dict_value(hdr, "shape");
    if (!descr || !fortran || !shape || *shape != '(') {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: header lacks 'descr', 'fortran_order' or 'shape'", path);
        goto done;
    }
    int elem;
    if (!strncmp(descr, "'<f4'", 5)) {
        elem = 4;
    } else if (!strncmp(descr, "'<f8'", 5)) {
        elem = 8;
    } else if (!strncmp(descr, "'<f2'", 5)) {
        elem = 2;
    } else {
        const char *end = strchr(descr, ',');
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: dtype %.*s is not supported (need little-endian float16, "
                           "float32 or float64)",
                           path, end ? (int)(end - descr) : 8, descr);
        goto done;
    }
    if (strncmp(fortran, "False", 5)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: Fortran-order arrays are not supported (save C order)", path);
        goto done;
    }
    const char *p = shape + 1;
    out->count = 1;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (end == p || errno || d < 0 || out->ndim == VLM_NPY_MAX_DIMS ||
            (d > 0 && out->count > INT64_MAX / 4 / d)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: bad or too large shape in header",
                               path);
            goto done;
        }
        out->shape[out->ndim++] = d;
        out->count *= d;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p != ')') {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: malformed shape in header", path);
            goto done;
        }
    }
    size_t n = (size_t)out->count;
    /* Check the data size against the file before allocating, so that an absurd shape in a
     * small file is a format error rather than a huge allocation. */
    uint64_t need = (uint64_t)n * (uint64_t)elem; /* no overflow: count <= INT64_MAX / 4 */
    struct stat sb;
    long pos = ftell(f);
    if (pos >= 0 && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) &&
        (sb.st_size < pos || (uint64_t)(sb.st_size - pos) < need)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: file is truncated: the shape needs %llu bytes of data, the "
                           "file has %lld",
                           path, (unsigned long long)need,
                           (long long)(sb.st_size > pos ? sb.st_size - pos : 0));
        goto done;
    }
    out->data = malloc(n ? n * sizeof(float) : 1);
    raw = elem == 4 ? (void *)out->data : malloc(n ? n * (size_t)elem : 1);
    if (!out->data || !raw) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory for %zu elements", path, n);
        goto done;
    }
    if (fread(raw, (size_t)elem, n, f) != n)
        goto truncated;
    if (elem == 8) {
        const double *d = raw;
        for (size_t i = 0; i < n; i++)
            out->data[i] = (float)d[i];
    } else if (elem == 2) {
        const uint16_t *h = raw;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = half_to_f32_bits(h[i]);
            memcpy(&out->data[i], &bits, 4);
        }
    }
    goto done;
truncated:
    st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: file is truncated", path);
done:
    if (raw != out->data)
        free(raw);
    free(hdr);
    fclose(f);
    if (st != VLM_OK)
        vlm_npy_free(out);
    return st;
}

vlm_status vlm_npy_write_f32(const char *path, int ndim, const int64_t *shape,
                             const float *data, vlm_error *err) {
    if (ndim < 0 || ndim > VLM_NPY_MAX_DIMS)
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: %d dimensions (at most %d)", path, ndim,
                             VLM_NPY_MAX_DIMS);
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return vlm_error_set(err, VLM_ERR_INVALID, "%s: negative dimension", path);
        count *= shape[i];
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)shape[i],
                        ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* pad so that magic(6) + version(2) + hlen(2) + header is a multiple of 64 */
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int hlen = len + pad + 1;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, sizeof(float), (size_t)count, f) == (size_t)count;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return vlm_error_set(err, VLM_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return VLM_OK;
}

void vlm_npy_free(vlm_npy *a) {
    if (!a)
        return;
    free(a->data);
    *a = (vlm_npy){0};
}
