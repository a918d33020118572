/* Segmentation dataset layouts: images and annotation PNGs paired by stem (eval.h,
 * "segmentation dataset layouts"). Directories only: the pairs are paths. */
#include "eval/eval.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    vlm_seg_layout layout;
    const char *name;
    const char *const roots[4]; /* where the dataset may sit below the given root */
    const char *ann_dir, *img_dir;
    const char *ann_suffix; /* annotation file = stem + ann_suffix */
} LAYOUTS[] = {
    {VLM_SEG_ADE20K,
     "ade20k",
     {"", "ADEChallengeData2016/", "ade/ADEChallengeData2016/", NULL},
     "annotations/validation",
     "images/validation",
     ".png"},
    {VLM_SEG_VOC,
     "voc",
     {"", "VOC2012/", "VOCdevkit/VOC2012/", NULL},
     "SegmentationClass",
     "JPEGImages",
     ".png"},
    {VLM_SEG_COCOSTUFF,
     "cocostuff",
     {"", "coco_stuff164k/", NULL, NULL},
     "annotations/val2017",
     "images/val2017",
     "_labelTrainIds.png"},
};

const char *vlm_seg_layout_name(vlm_seg_layout layout) {
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (LAYOUTS[i].layout == layout)
            return LAYOUTS[i].name;
    return "unknown";
}

vlm_status vlm_seg_layout_parse(const char *text, vlm_seg_layout *out, vlm_error *err) {
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (!strcmp(text, LAYOUTS[i].name)) {
            *out = LAYOUTS[i].layout;
            return VLM_OK;
        }
    return vlm_error_set(err, VLM_ERR_INVALID,
                         "unknown dataset layout '%s' (ade20k, voc or cocostuff)", text);
}

void vlm_seg_pairs_free(vlm_seg_pair *pairs, size_t n) {
    if (!pairs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].stem);
        free(pairs[i].image);
        free(pairs[i].annotation);
    }
    free(pairs);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s%s", a, b, c);
    return s;
}

static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const vlm_seg_pair *)a)->stem, ((const vlm_seg_pair *)b)->stem);
}

/* Fills the image path of p from the image folder (stem.jpg, else stem.png). */
static int find_image(vlm_seg_pair *p, const char *img_dir) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".JPEG"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        char *path = malloc(strlen(img_dir) + strlen(p->stem) + 8);
        if (!path)
            return -1;
        sprintf(path, "%s/%s%s", img_dir, p->stem, ext[i]);
        if (is_file(path)) {
            p->image = path;
            return 0;
        }
        free(path);
    }
    return 0;
}

vlm_status vlm_seg_dataset_list(const char *root, vlm_seg_layout layout, vlm_seg_pair **pairs,
                                size_t *n, vlm_error *err) {
    *pairs = NULL;
    *n = 0;
    size_t li = 0;
    while (LAYOUTS[li].layout != layout)
        li++;
    char *base = NULL, *ann = NULL, *img = NULL;
    for (int r = 0; r < 4 && LAYOUTS[li].roots[r]; r++) {
        char *b = join(root, LAYOUTS[li].roots[r], "");
        char *a = b ? join(b, LAYOUTS[li].ann_dir, "") : NULL;
        if (a && is_dir(a)) {
            base = b;
            ann = a;
            break;
        }
        free(b);
        free(a);
    }
    if (!ann)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: no %s folder (%s layout)", root,
                             LAYOUTS[li].ann_dir, LAYOUTS[li].name);
    img = join(base, LAYOUTS[li].img_dir, "");
    vlm_status st = VLM_OK;
    size_t cap = 0, count = 0;
    vlm_seg_pair *v = NULL;
    /* COCO-Stuff: the converted *_labelTrainIds.png, else the raw-id *.png (flagged). */
    const char *suffix = LAYOUTS[li].ann_suffix;
    for (int pass = 0; pass < 2 && st == VLM_OK && count == 0; pass++) {
        int raw = pass == 1;
        if (raw && layout != VLM_SEG_COCOSTUFF)
            break;
        if (raw)
            suffix = ".png";
        size_t sl = strlen(suffix);
        DIR *d = opendir(ann);
        if (!d || !img) {
            st = vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", ann, strerror(errno));
            if (d)
                closedir(d);
            goto done;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            size_t nl = strlen(de->d_name);
            if (nl <= sl || strcmp(de->d_name + nl - sl, suffix))
                continue;
            if (count == cap) {
                cap = cap ? cap * 2 : 256;
                vlm_seg_pair *nv = realloc(v, cap * sizeof *nv);
                if (!nv) {
                    st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
                    break;
                }
                v = nv;
            }
            vlm_seg_pair *p = &v[count++];
            *p = (vlm_seg_pair){.raw_ids = raw};
            p->stem = strndup(de->d_name, nl - sl);
            p->annotation = join(ann, de->d_name, "");
            if (!p->stem || !p->annotation || find_image(p, img)) {
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
                break;
            }
        }
        closedir(d);
    }
    if (st != VLM_OK)
        goto done;
    if (count == 0) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no annotation *%s", ann, suffix);
        goto done;
    }
    qsort(v, count, sizeof *v, cmp_pair);

    /* VOC: the val split file decides which stems, in its order. */
    char *split = layout == VLM_SEG_VOC ? join(base, "ImageSets/Segmentation/val.txt", "") : NULL;
    if (split && is_file(split)) {
        uint8_t *text;
        size_t len;
        st = vlm_read_file(split, &text, &len, (size_t)64 << 20, err);
        vlm_seg_pair *sel = NULL;
        size_t ns = 0;
        if (st == VLM_OK && !(sel = calloc(count, sizeof *sel)))
            st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        char *save = NULL;
        for (char *line = st == VLM_OK ? strtok_r((char *)text, "\r\n", &save) : NULL;
             line && st == VLM_OK; line = strtok_r(NULL, "\r\n", &save)) {
            while (*line == ' ' || *line == '\t')
                line++;
            char *e = line + strlen(line);
            while (e > line && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = 0;
            if (!*line)
                continue;
            vlm_seg_pair key = {.stem = line};
            vlm_seg_pair *hit = bsearch(&key, v, count, sizeof *v, cmp_pair);
            if (!hit || !hit->annotation) {
                st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: '%s' has no annotation in %s%s", split,
                                   line, ann, hit ? " (listed twice)" : "");
                break;
            }
            sel[ns++] = *hit;
            hit->annotation = NULL; /* moved */
            hit->stem = strdup(hit->stem);
            hit->image = NULL;
            if (!hit->stem)
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        if (st == VLM_OK) {
            vlm_seg_pairs_free(v, count);
            v = sel;
            count = ns;
        } else {
            vlm_seg_pairs_free(sel, ns);
        }
        free(text);
    }
    free(split);
done:
    free(base);
    free(ann);
    free(img);
    if (st != VLM_OK) {
        vlm_seg_pairs_free(v, count);
        return st;
    }
    *pairs = v;
    *n = count;
    return VLM_OK;
}

/* ---- annotations of a dataset, from a directory or streamed from an archive ---------------- */

/* The stem when name is an annotation of the layout: ".../ANN_DIR/STEM SUFFIX" with ANN_DIR at
 * the start of name or after a '/'. NULL otherwise; owned result. */
static char *archive_stem(const char *name, size_t li, const char *suffix) {
    const char *dir = LAYOUTS[li].ann_dir;
    size_t dl = strlen(dir), nl = strlen(name), sl = strlen(suffix);
    const char *base = strrchr(name, '/');
    if (!base || nl <= sl || strcmp(name + nl - sl, suffix))
        return NULL;
    size_t parent = (size_t)(base - name);
    if (parent < dl || memcmp(base - dl, dir, dl) || (parent > dl && base[-(long)dl - 1] != '/'))
        return NULL;
    return strndup(base + 1, nl - sl - parent - 1);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static vlm_status each_archive(const char *root, size_t li, vlm_seg_annotation_fn fn, void *ctx,
                               int64_t *count, vlm_error *err) {
    vlm_seg_layout layout = LAYOUTS[li].layout;
    /* Pass 1 (names only; the VOC split file is read): which annotations exist. */
    vlm_source *src;
    vlm_status st = vlm_source_open(root, &src, err);
    if (st != VLM_OK)
        return st;
    int64_t n_conv = 0, n_raw = 0;
    char *split = NULL;
    size_t split_len = 0;
    vlm_source_entry e;
    int done = 0;
    while ((st = vlm_source_next(src, &e, &done, err)) == VLM_OK && !done) {
        char *stem = archive_stem(e.name, li, LAYOUTS[li].ann_suffix);
        if (stem)
            n_conv++;
        else if (layout == VLM_SEG_COCOSTUFF && (stem = archive_stem(e.name, li, ".png")))
            n_raw++;
        free(stem);
        size_t nl = strlen(e.name);
        const char *vt = "ImageSets/Segmentation/val.txt";
        if (layout == VLM_SEG_VOC && !split && nl >= strlen(vt) &&
            !strcmp(e.name + nl - strlen(vt), vt))
            st = vlm_source_read(src, (uint8_t **)&split, &split_len, (size_t)64 << 20, err);
        if (st != VLM_OK)
            break;
    }
    vlm_source_close(src);
    const char *suffix = n_conv || layout != VLM_SEG_COCOSTUFF ? LAYOUTS[li].ann_suffix : ".png";
    int raw = !n_conv && layout == VLM_SEG_COCOSTUFF;
    if (st == VLM_OK && n_conv + n_raw == 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no %s/*%s member (%s layout)", root,
                           LAYOUTS[li].ann_dir, LAYOUTS[li].ann_suffix, LAYOUTS[li].name);
    /* The VOC split: a sorted set of stems, each used once. */
    char **wanted = NULL;
    size_t n_wanted = 0;
    unsigned char *used = NULL;
    if (st == VLM_OK && split) {
        size_t cap = 0;
        char *save = NULL;
        for (char *line = strtok_r(split, "\r\n", &save); line && st == VLM_OK;
             line = strtok_r(NULL, "\r\n", &save)) {
            while (*line == ' ' || *line == '\t')
                line++;
            char *end = line + strlen(line);
            while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = 0;
            if (!*line)
                continue;
            if (n_wanted == cap) {
                cap = cap ? 2 * cap : 1024;
                char **w = realloc(wanted, cap * sizeof *w);
                if (!w) {
                    st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
                    break;
                }
                wanted = w;
            }
            wanted[n_wanted++] = line; /* into split */
        }
        if (st == VLM_OK && n_wanted) {
            qsort(wanted, n_wanted, sizeof *wanted, cmp_str);
            if (!(used = calloc(n_wanted, 1)))
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
    }
    /* Pass 2: decode and hand out each annotation, in archive order. */
    if (st == VLM_OK)
        st = vlm_source_open(root, &src, err);
    else
        src = NULL;
    int64_t handed = 0;
    while (st == VLM_OK && (st = vlm_source_next(src, &e, &done, err)) == VLM_OK && !done) {
        char *stem = archive_stem(e.name, li, suffix);
        if (!stem)
            continue;
        if (raw && strstr(e.name, "_labelTrainIds.png")) {
            free(stem);
            continue;
        }
        if (wanted) {
            char **hit = bsearch(&stem, wanted, n_wanted, sizeof *wanted, cmp_str);
            if (!hit || used[hit - wanted]) {
                free(stem);
                continue;
            }
            used[hit - wanted] = 1;
        }
        uint8_t *data;
        size_t len;
        st = vlm_source_read(src, &data, &len, (size_t)256 << 20, err);
        if (st == VLM_OK) {
            size_t ml = strlen(root) + strlen(e.name) + 2;
            char *label = malloc(ml);
            vlm_label_map m = {0};
            if (!label) {
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
            } else {
                snprintf(label, ml, "%s:%s", root, e.name);
                st = vlm_label_map_decode_png(data, len, label, &m, err);
                if (st == VLM_OK)
                    st = fn(ctx, stem, &m, raw, err);
            }
            vlm_label_map_free(&m);
            free(label);
            free(data);
            handed++;
        }
        free(stem);
    }
    vlm_source_close(src);
    if (st == VLM_OK && wanted)
        for (size_t i = 0; i < n_wanted; i++)
            if (!used[i]) {
                st = vlm_error_set(err, VLM_ERR_FORMAT,
                                   "%s: '%s' is listed in val.txt but has no annotation", root,
                                   wanted[i]);
                break;
            }
    free(wanted);
    free(used);
    free(split);
    *count = handed;
    return st;
}

vlm_status vlm_seg_dataset_each(const char *root, vlm_seg_layout layout, vlm_seg_annotation_fn fn,
                                void *ctx, int64_t *count, vlm_error *err) {
    *count = 0;
    size_t li = 0;
    while (LAYOUTS[li].layout != layout)
        li++;
    struct stat sb;
    if (stat(root, &sb) != 0)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", root, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return each_archive(root, li, fn, ctx, count, err);
    vlm_seg_pair *pairs;
    size_t n;
    vlm_status st = vlm_seg_dataset_list(root, layout, &pairs, &n, err);
    if (st != VLM_OK)
        return st;
    for (size_t i = 0; i < n && st == VLM_OK; i++) {
        vlm_label_map m;
        if ((st = vlm_label_map_read(pairs[i].annotation, &m, err)) != VLM_OK)
            break;
        st = fn(ctx, pairs[i].stem, &m, pairs[i].raw_ids, err);
        vlm_label_map_free(&m);
        (*count)++;
    }
    vlm_seg_pairs_free(pairs, n);
    return st;
}
