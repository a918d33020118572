/* Classification samples from webdataset shards or an ImageNet-val folder layout (eval.h,
 * "classification samples"). Shards are streamed through vlm_source, one after the other. */
#include "eval/eval.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WARN_CAP 2048

typedef struct member {
    char *name;         /* owned: full member name */
    size_t keylen;      /* name[0..keylen) is the key */
    const char *suffix; /* into name: after the first dot of the base name, lower-cased */
    uint8_t *data;      /* owned; NULL for members we do not use */
    size_t bytes;
} member;

struct vlm_cls_reader {
    vlm_cls_params params;
    vlm_cls_layout layout;
    char **paths;
    size_t n_paths, next_path;
    vlm_source *src; /* the shard being read, NULL between shards */

    /* webdataset: one member read ahead (the first of the next sample), owned. */
    member pending;
    int have_pending;

    /* folder layout: class directories (full relative paths, sorted) and display names. */
    char **class_dirs;
    const char **class_names; /* into class_dirs */
    int n_classes;

    char *key;      /* owned: the current sample's key as handed out */
    size_t key_off; /* key + key_off is the key inside its shard (without "SHARD:") */
    int64_t skipped;
    int n_warnings;
    char warnings[WARN_CAP];
};

vlm_cls_params vlm_cls_default_params(void) {
    return (vlm_cls_params){
        .layout = VLM_CLS_AUTO, .strict = 0, .decode = 1, .max_member_bytes = (size_t)256 << 20};
}

static int is_image_suffix(const char *s) {
    return !strcmp(s, "jpg") || !strcmp(s, "jpeg") || !strcmp(s, "png");
}

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash))
        return 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

static void member_free(member *m) {
    free(m->name);
    free(m->data);
    *m = (member){0};
}

/* webdataset's base_plus_ext: key = everything up to the first dot of the base name, suffix =
 * the rest (lower-cased). 0 when the base name has no dot (webdataset skips such members). */
static int split_key(member *m) {
    char *base = strrchr(m->name, '/');
    base = base ? base + 1 : m->name;
    char *dot = strchr(base, '.');
    if (!dot || dot == base)
        return 0;
    m->keylen = (size_t)(dot - m->name);
    for (char *p = dot + 1; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    m->suffix = dot + 1;
    return 1;
}

static void warn(vlm_cls_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(vlm_cls_reader *r, const char *fmt, ...) {
    r->skipped++;
    if (r->n_warnings >= VLM_CLS_MAX_WARNINGS)
        return;
    r->n_warnings++;
    size_t used = strlen(r->warnings);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings + used, WARN_CAP - used, fmt, ap);
    va_end(ap);
    used = strlen(r->warnings);
    if (used + 1 < WARN_CAP) {
        r->warnings[used] = '\n';
        r->warnings[used + 1] = 0;
    }
}

/* A bad sample: a counted skip (returns VLM_OK and *skip = 1) or, when strict, an error. */
static vlm_status bad_sample(vlm_cls_reader *r, int *skip, vlm_error *err, const char *what,
                             const char *key, const char *detail) {
    if (r->params.strict)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: sample '%s': %s%s%s",
                             vlm_source_path(r->src), key + r->key_off, what, detail ? ": " : "",
                             detail ? detail : "");
    warn(r, "%s: sample '%s': %s%s%s (skipped)", vlm_source_path(r->src), key + r->key_off, what,
         detail ? ": " : "", detail ? detail : "");
    *skip = 1;
    return VLM_OK;
}

/* Python int(text) for plain decimal integers with surrounding whitespace. */
static int parse_int(const char *s, size_t n, int64_t *out) {
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (!n || n > 20)
        return 0;
    char buf[24];
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end || !(isdigit((unsigned char)buf[0]) || buf[0] == '-' || buf[0] == '+'))
        return 0;
    *out = v;
    return 1;
}

static int parse_json_label(const uint8_t *data, size_t n, int64_t *out) {
    json_t *j = json_loadb((const char *)data, n, JSON_DECODE_ANY, NULL);
    if (!j)
        return 0;
    json_t *v = j;
    if (json_is_object(j)) {
        v = json_object_get(j, "label");
        if (!v)
            v = json_object_get(j, "cls");
    }
    int ok = json_is_integer(v);
    if (ok)
        *out = json_integer_value(v);
    json_decref(j);
    return ok;
}

/* Opens the next path; *done when none is left. */
static vlm_status open_next_path(vlm_cls_reader *r, int *done, vlm_error *err) {
    vlm_source_close(r->src);
    r->src = NULL;
    if (r->next_path >= r->n_paths) {
        *done = 1;
        return VLM_OK;
    }
    *done = 0;
    return vlm_source_open(r->paths[r->next_path++], &r->src, err);
}

/* Reads the next member of the current shard into m (data only for members a sample uses).
 * *end at the end of the shard. */
static vlm_status read_member(vlm_cls_reader *r, member *m, int *end, vlm_error *err) {
    *end = 0;
    for (;;) {
        vlm_source_entry e;
        vlm_status st = vlm_source_next(r->src, &e, end, err);
        if (st != VLM_OK || *end)
            return st;
        *m = (member){0};
        if (!(m->name = strdup(e.name)))
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        if (!split_key(m)) {
            member_free(m);
            continue;
        }
        if (is_image_suffix(m->suffix) || !strcmp(m->suffix, "cls") || !strcmp(m->suffix, "json")) {
            st = vlm_source_read(r->src, &m->data, &m->bytes, r->params.max_member_bytes, err);
            if (st != VLM_OK) {
                member_free(m);
                return st;
            }
        }
        return VLM_OK;
    }
}

static vlm_status set_key(vlm_cls_reader *r, const char *shard, const char *key, size_t keylen,
                          vlm_error *err) {
    size_t n = (shard ? strlen(shard) + 1 : 0) + keylen + 1;
    char *k = realloc(r->key, n);
    if (!k)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    r->key = k;
    r->key_off = shard ? strlen(shard) + 1 : 0;
    if (shard)
        snprintf(k, n, "%s:%.*s", shard, (int)keylen, key);
    else
        snprintf(k, n, "%.*s", (int)keylen, key);
    return VLM_OK;
}

/* Fills sample from image bytes; decode failures are bad samples. Takes ownership of data. */
static vlm_status finish_sample(vlm_cls_reader *r, vlm_cls_sample *s, uint8_t *data, size_t n,
                                const char *member_name, int *skip, vlm_error *err) {
    if (!r->params.decode) {
        s->encoded = data;
        s->encoded_bytes = n;
        return VLM_OK;
    }
    vlm_error derr = {0};
    vlm_status st = vlm_image_decode(data, n, member_name, &s->image, &derr);
    free(data);
    if (st == VLM_ERR_NOMEM)
        return vlm_error_set(err, st, "%s", derr.msg);
    if (st != VLM_OK)
        return bad_sample(r, skip, err, "undecodable image", r->key, derr.msg);
    return VLM_OK;
}

/* One webdataset sample: consecutive members sharing a key. */
static vlm_status wds_next(vlm_cls_reader *r, vlm_cls_sample *s, int *done, vlm_error *err) {
    for (;;) {
        if (!r->src) {
            vlm_status st = open_next_path(r, done, err);
            if (st != VLM_OK || *done)
                return st;
        }
        member group[8];
        int n = 0, end = 0;
        vlm_status st = VLM_OK;
        if (r->have_pending) {
            group[n++] = r->pending;
            r->have_pending = 0;
        }
        for (;;) {
            member m;
            st = read_member(r, &m, &end, err);
            if (st != VLM_OK || end)
                break;
            if (n > 0 &&
                (m.keylen != group[0].keylen || memcmp(m.name, group[0].name, m.keylen) != 0)) {
                r->pending = m;
                r->have_pending = 1;
                break;
            }
            for (int i = 0; i < n; i++)
                if (!strcmp(group[i].suffix, m.suffix)) {
                    st = vlm_error_set(err, VLM_ERR_FORMAT,
                                       "%s: member '%s': duplicate file name in one sample",
                                       vlm_source_path(r->src), m.name);
                    break;
                }
            if (st != VLM_OK || n == (int)(sizeof group / sizeof group[0])) {
                member_free(&m); /* more than 8 members in a sample: extra ones ignored */
                if (st != VLM_OK)
                    break;
                continue;
            }
            group[n++] = m;
        }
        if (st == VLM_OK && n > 0)
            st = set_key(r, vlm_source_path(r->src), group[0].name, group[0].keylen, err);
        int skip = 0;
        if (st == VLM_OK && n > 0) {
            int img = -1, cls = -1, js = -1;
            static const char *const order[] = {"jpg", "jpeg", "png"};
            for (int o = 2; o >= 0; o--)
                for (int i = 0; i < n; i++)
                    if (!strcmp(group[i].suffix, order[o]))
                        img = i;
            for (int i = 0; i < n; i++) {
                if (!strcmp(group[i].suffix, "cls"))
                    cls = i;
                if (!strcmp(group[i].suffix, "json"))
                    js = i;
            }
            *s = (vlm_cls_sample){.key = r->key};
            int webp = 0;
            for (int i = 0; i < n; i++)
                webp |= !strcmp(group[i].suffix, "webp");
            if (img < 0 && webp) {
                /* Skipping would silently drop whole datasets (some published ImageNet shards
                 * store WebP): refuse clearly instead. */
                st = vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                                   "%s: sample '%s': WebP images are not supported (JPEG and "
                                   "PNG are); convert the shards",
                                   vlm_source_path(r->src), r->key + r->key_off);
            } else if (img < 0) {
                st = bad_sample(r, &skip, err, "no .jpg/.jpeg/.png image", r->key, NULL);
            } else if (cls < 0 && js < 0) {
                st = bad_sample(r, &skip, err, "no .cls or .json label", r->key, NULL);
            } else if (cls >= 0
                           ? !parse_int((const char *)group[cls].data, group[cls].bytes, &s->label)
                           : !parse_json_label(group[js].data, group[js].bytes, &s->label)) {
                st = bad_sample(r, &skip, err, "unparsable label", r->key,
                                cls >= 0 ? group[cls].name : group[js].name);
            } else {
                uint8_t *data = group[img].data;
                group[img].data = NULL;
                st = finish_sample(r, s, data, group[img].bytes, group[img].name, &skip, err);
            }
        }
        for (int i = 0; i < n; i++)
            member_free(&group[i]);
        if (st != VLM_OK)
            return st;
        if (end) { /* the shard is finished: the next call opens the next one */
            vlm_source_close(r->src);
            r->src = NULL;
        }
        if (n > 0 && !skip)
            return VLM_OK;
    }
}

/* ---- folder layout ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The class folder of an image member: its parent directory path (NULL at the root). */
static size_t parent_len(const char *name) {
    const char *slash = strrchr(name, '/');
    return slash ? (size_t)(slash - name) : 0;
}

/* First pass: collects the distinct parent folders of image files, sorted. */
static vlm_status folder_scan(vlm_cls_reader *r, vlm_error *err) {
    vlm_source *src;
    vlm_status st = vlm_source_open(r->paths[0], &src, err);
    if (st != VLM_OK)
        return st;
    size_t cap = 0, n = 0;
    char **dirs = NULL;
    vlm_source_entry e;
    int done = 0;
    while ((st = vlm_source_next(src, &e, &done, err)) == VLM_OK && !done) {
        size_t pl = parent_len(e.name);
        if (!pl || !has_image_ext(e.name))
            continue;
        /* Members of one class are usually adjacent: compare with the last one first. */
        if (n && strlen(dirs[n - 1]) == pl && !memcmp(dirs[n - 1], e.name, pl))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **d = realloc(dirs, cap * sizeof *d);
            if (!d) {
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
                break;
            }
            dirs = d;
        }
        if (!(dirs[n] = strndup(e.name, pl))) {
            st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    vlm_source_close(src);
    if (st == VLM_OK && n == 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: no image inside a class folder (ImageNet-val layout: "
                           "CLASS/NAME.JPEG)",
                           r->paths[0]);
    if (st == VLM_OK) {
        qsort(dirs, n, sizeof *dirs, cmp_str);
        size_t u = 0; /* unique */
        for (size_t i = 0; i < n; i++) {
            if (u && !strcmp(dirs[u - 1], dirs[i]))
                free(dirs[i]);
            else
                dirs[u++] = dirs[i];
        }
        n = u;
        if (n > INT32_MAX)
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: too many classes", r->paths[0]);
    }
    if (st == VLM_OK) {
        r->class_names = malloc(n * sizeof *r->class_names);
        if (!r->class_names)
            st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    if (st != VLM_OK) {
        vlm_strings_free(dirs, n);
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        const char *slash = strrchr(dirs[i], '/');
        r->class_names[i] = slash ? slash + 1 : dirs[i];
    }
    r->class_dirs = dirs;
    r->n_classes = (int)n;
    return VLM_OK;
}

static int find_class(const vlm_cls_reader *r, const char *name, size_t pl) {
    int lo = 0, hi = r->n_classes - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strncmp(r->class_dirs[mid], name, pl);
        if (c == 0 && r->class_dirs[mid][pl] != 0)
            c = 1;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static vlm_status folder_next(vlm_cls_reader *r, vlm_cls_sample *s, int *done, vlm_error *err) {
    if (!r->src) {
        if (r->next_path > 0) {
            *done = 1;
            return VLM_OK;
        }
        vlm_status st = open_next_path(r, done, err);
        if (st != VLM_OK || *done)
            return st;
    }
    for (;;) {
        vlm_source_entry e;
        vlm_status st = vlm_source_next(r->src, &e, done, err);
        if (st != VLM_OK)
            return st;
        if (*done) {
            vlm_source_close(r->src);
            r->src = NULL;
            return VLM_OK;
        }
        size_t pl = parent_len(e.name);
        if (!pl || !has_image_ext(e.name))
            continue;
        int cls = find_class(r, e.name, pl);
        if (cls < 0) /* the archive changed between the two passes */
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: '%s': class folder not seen before",
                                 vlm_source_path(r->src), e.name);
        if ((st = set_key(r, NULL, e.name, strlen(e.name), err)) != VLM_OK)
            return st;
        uint8_t *data;
        size_t n;
        st = vlm_source_read(r->src, &data, &n, r->params.max_member_bytes, err);
        if (st != VLM_OK)
            return st;
        *s = (vlm_cls_sample){.key = r->key, .label = cls};
        int skip = 0;
        st = finish_sample(r, s, data, n, r->key, &skip, err);
        if (st != VLM_OK || !skip)
            return st;
    }
}

/* ---- public API --------------------------------------------------------------------------- */

/* AUTO: webdataset when several shards are given or a .cls/.json member appears among the
 * first entries; folder when every image among them sits in a folder. */
static vlm_status detect_layout(vlm_cls_reader *r, vlm_error *err) {
    if (r->n_paths > 1) {
        r->layout = VLM_CLS_WDS;
        return VLM_OK;
    }
    vlm_source *src;
    vlm_status st = vlm_source_open(r->paths[0], &src, err);
    if (st != VLM_OK)
        return st;
    int labels = 0, images = 0, rooted = 0, done = 0;
    vlm_source_entry e;
    for (int i = 0; i < 1000; i++) {
        if ((st = vlm_source_next(src, &e, &done, err)) != VLM_OK || done)
            break;
        const char *base = strrchr(e.name, '/');
        base = base ? base + 1 : e.name;
        const char *dot = strchr(base, '.');
        if (dot && (!strcasecmp(dot, ".cls") || !strcasecmp(dot, ".json")))
            labels++;
        if (has_image_ext(e.name)) {
            images++;
            rooted += parent_len(e.name) == 0;
        }
    }
    vlm_source_close(src);
    if (st != VLM_OK)
        return st;
    r->layout = (!labels && images && !rooted) ? VLM_CLS_FOLDER : VLM_CLS_WDS;
    return VLM_OK;
}

vlm_status vlm_cls_reader_open(const char *spec, const vlm_cls_params *params, vlm_cls_reader **out,
                               vlm_error *err) {
    *out = NULL;
    vlm_cls_reader *r = calloc(1, sizeof *r);
    if (!r)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    r->params = params ? *params : vlm_cls_default_params();
    if (!r->params.max_member_bytes)
        r->params.max_member_bytes = (size_t)256 << 20;
    r->layout = r->params.layout;
    vlm_status st = vlm_expand_braces(spec, &r->paths, &r->n_paths, err);
    if (st == VLM_OK && r->n_paths == 0)
        st = vlm_error_set(err, VLM_ERR_INVALID, "'%s': no shard", spec);
    if (st == VLM_OK && r->layout == VLM_CLS_AUTO)
        st = detect_layout(r, err);
    if (st == VLM_OK && r->layout == VLM_CLS_FOLDER) {
        if (r->n_paths != 1)
            st = vlm_error_set(err, VLM_ERR_INVALID,
                               "'%s': the folder layout takes one directory or archive", spec);
        else
            st = folder_scan(r, err);
    }
    if (st != VLM_OK) {
        vlm_cls_reader_close(r);
        return st;
    }
    *out = r;
    return VLM_OK;
}

vlm_status vlm_cls_reader_next(vlm_cls_reader *r, vlm_cls_sample *sample, int *done,
                               vlm_error *err) {
    *sample = (vlm_cls_sample){0};
    *done = 0;
    return r->layout == VLM_CLS_FOLDER ? folder_next(r, sample, done, err)
                                       : wds_next(r, sample, done, err);
}

int64_t vlm_cls_reader_skipped(const vlm_cls_reader *r) {
    return r->skipped;
}

void vlm_cls_reader_shards(const vlm_cls_reader *r, size_t *started, size_t *total) {
    *started = r->next_path;
    *total = r->n_paths;
}

const char *vlm_cls_reader_warnings(const vlm_cls_reader *r) {
    return r->warnings;
}

const char *const *vlm_cls_reader_classes(const vlm_cls_reader *r, int *count) {
    *count = r->n_classes;
    return r->n_classes ? r->class_names : NULL;
}

void vlm_cls_reader_close(vlm_cls_reader *r) {
    if (!r)
        return;
    vlm_source_close(r->src);
    if (r->have_pending)
        member_free(&r->pending);
    vlm_strings_free(r->paths, r->n_paths);
    vlm_strings_free(r->class_dirs, (size_t)r->n_classes);
    free(r->class_names);
    free(r->key);
    free(r);
}
