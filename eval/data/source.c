/* Data sources: a plain file, a directory walked in sorted order, or an archive streamed by
 * libarchive (eval.h, "data sources"). Nothing is extracted to disk. */
#include "eval/eval.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef enum source_kind { SRC_FILE, SRC_DIR, SRC_ARCHIVE } source_kind;

struct vlm_source {
    source_kind kind;
    char *path; /* owned: as given to vlm_source_open */

    /* SRC_DIR: every regular file below path, relative, sorted byte-wise. */
    char **files; /* owned */
    size_t n_files;
    size_t next_file; /* index of the next entry to hand out */

    /* SRC_ARCHIVE, and SRC_FILE read through libarchive's raw format (which also undoes a
     * compression filter: "x.txt.gz" is one entry "x.txt" holding the decompressed bytes). */
    struct archive *ar;
    int header_pending; /* the first header was read by open (format detection) */
    int raw_done;       /* SRC_FILE: the single entry was handed out */

    char *name; /* owned: the current entry's name */
    size_t name_cap;
    int64_t size;   /* current entry's size, -1 when unknown */
    int have_entry; /* an entry is current */
    int entry_read; /* the current entry's data was consumed by vlm_source_read */
    int failed;     /* a fatal archive error happened: every later call repeats it */
    vlm_error failure;
};

/* Archive member names as users think of them: tar files made with `tar -C dir .` call their
 * members "./x"; a leading "./" (repeated) and "/" are dropped. */
static const char *clean_member_name(const char *n) {
    for (;;) {
        if (n[0] == '.' && n[1] == '/')
            n += 2;
        else if (n[0] == '/')
            n += 1;
        else
            return n;
    }
}

static vlm_status set_name(vlm_source *s, const char *name, vlm_error *err) {
    size_t len = strlen(name);
    if (len + 1 > s->name_cap) {
        size_t cap = len + 64;
        char *p = realloc(s->name, cap);
        if (!p)
            return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", s->path);
        s->name = p;
        s->name_cap = cap;
    }
    memcpy(s->name, name, len + 1);
    return VLM_OK;
}

/* ---- directories -------------------------------------------------------------------------- */

typedef struct file_list {
    char **v;
    size_t n, cap;
} file_list;

/* The (device, inode) of each directory on the way down, to stop at symlink cycles. */
typedef struct dir_chain {
    dev_t dev;
    ino_t ino;
    const struct dir_chain *up;
} dir_chain;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the regular files below root/rel ("" for root itself). Symbolic links are followed
 * (datasets are often prepared as symlink farms); a link back to an ancestor is skipped. */
static vlm_status walk_dir(const char *root, const char *rel, const dir_chain *up, file_list *out,
                           vlm_error *err) {
    size_t dlen = strlen(root) + strlen(rel) + 2;
    char *dpath = malloc(dlen);
    if (!dpath)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", root);
    snprintf(dpath, dlen, rel[0] ? "%s/%s" : "%s%s", root, rel);
    DIR *d = opendir(dpath);
    if (!d) {
        vlm_status st =
            vlm_error_set(err, VLM_ERR_IO, "%s: cannot open directory: %s", dpath, strerror(errno));
        free(dpath);
        return st;
    }
    struct stat dst;
    dir_chain here = {0, 0, up};
    if (fstat(dirfd(d), &dst) == 0) {
        here.dev = dst.st_dev;
        here.ino = dst.st_ino;
    }
    vlm_status st = VLM_OK;
    struct dirent *de;
    while (st == VLM_OK && (errno = 0, de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        size_t rlen = strlen(rel) + strlen(de->d_name) + 2;
        char *child = malloc(rlen);
        char *full = malloc(dlen + strlen(de->d_name) + 1);
        if (!child || !full) {
            free(child);
            free(full);
            st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", root);
            break;
        }
        snprintf(child, rlen, rel[0] ? "%s/%s" : "%s%s", rel, de->d_name);
        snprintf(full, dlen + strlen(de->d_name) + 1, "%s/%s", dpath, de->d_name);
        struct stat cs;
        if (stat(full, &cs) != 0) { /* a dangling link or a file removed meanwhile */
            free(child);
            free(full);
            continue;
        }
        free(full);
        if (S_ISDIR(cs.st_mode)) {
            int cycle = 0;
            for (const dir_chain *c = &here; c; c = c->up)
                if (c->dev == cs.st_dev && c->ino == cs.st_ino)
                    cycle = 1;
            if (!cycle)
                st = walk_dir(root, child, &here, out, err);
            free(child);
        } else if (S_ISREG(cs.st_mode)) {
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 256;
                char **v = realloc(out->v, cap * sizeof *v);
                if (!v) {
                    free(child);
                    st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", root);
                    break;
                }
                out->v = v;
                out->cap = cap;
            }
            out->v[out->n++] = child;
        } else {
            free(child);
        }
    }
    if (st == VLM_OK && errno != 0)
        st =
            vlm_error_set(err, VLM_ERR_IO, "%s: cannot read directory: %s", dpath, strerror(errno));
    closedir(d);
    free(dpath);
    return st;
}

/* ---- archives ----------------------------------------------------------------------------- */

static const char *archive_msg(struct archive *a) {
    const char *m = archive_error_string(a);
    return m ? m : "unknown error";
}

/* Records a fatal archive error so every later call reports the same thing. */
static vlm_status fail(vlm_source *s, vlm_error *err, vlm_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vlm_status fail(vlm_source *s, vlm_error *err, vlm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    s->failed = 1;
    s->failure.status = status;
    vsnprintf(s->failure.msg, sizeof s->failure.msg, fmt, ap);
    va_end(ap);
    return vlm_error_set(err, status, "%s", s->failure.msg);
}

/* The name of a single compressed file: its base name without the compression suffix. */
static vlm_status raw_entry_name(vlm_source *s, vlm_error *err) {
    const char *base = strrchr(s->path, '/');
    base = base ? base + 1 : s->path;
    vlm_status st = set_name(s, base, err);
    if (st != VLM_OK)
        return st;
    if (archive_filter_code(s->ar, 0) != ARCHIVE_FILTER_NONE) {
        static const char *const suffixes[] = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".Z"};
        size_t n = strlen(s->name);
        for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
            size_t k = strlen(suffixes[i]);
            if (n > k && !strcmp(s->name + n - k, suffixes[i])) {
                s->name[n - k] = '\0';
                break;
            }
        }
    }
    return VLM_OK;
}

/* Reads archive headers until a regular file; *done at the end. */
static vlm_status archive_advance(vlm_source *s, int *done, vlm_error *err) {
    for (;;) {
        struct archive_entry *e;
        int r;
        if (s->header_pending) {
            s->header_pending = 0;
            r = ARCHIVE_OK;
            e = NULL;
        } else {
            r = archive_read_next_header(s->ar, &e);
        }
        if (r == ARCHIVE_EOF) {
            *done = 1;
            return VLM_OK;
        }
        if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY) {
            if (s->have_entry)
                return fail(s, err, VLM_ERR_FORMAT,
                            "%s: truncated or corrupt archive after member '%s': %s", s->path,
                            s->name, archive_msg(s->ar));
            return fail(s, err, VLM_ERR_FORMAT, "%s: truncated or corrupt archive: %s", s->path,
                        archive_msg(s->ar));
        }
        /* ARCHIVE_WARN (e.g. an unknown extended attribute) still gives a usable header. */
        if (!e) /* the header read by open: current entry already set */
            return VLM_OK;
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != NULL)
            continue;
        vlm_status st = set_name(s, clean_member_name(archive_entry_pathname(e)), err);
        if (st != VLM_OK)
            return st;
        s->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        return VLM_OK;
    }
}

static vlm_status open_archive(vlm_source *s, vlm_error *err) {
    s->ar = archive_read_new();
    if (!s->ar)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", s->path);
    archive_read_support_filter_all(s->ar);
    /* Every archive format libarchive knows by its magic bytes, i.e. archive_read_support_
     * format_all without mtree: mtree's bidder claims ordinary text such as a CSV ("a,b\n1,2")
     * and would turn it into entries named after its lines. */
    archive_read_support_format_7zip(s->ar);
    archive_read_support_format_ar(s->ar);
    archive_read_support_format_cab(s->ar);
    archive_read_support_format_cpio(s->ar);
    archive_read_support_format_iso9660(s->ar);
    archive_read_support_format_lha(s->ar);
    archive_read_support_format_rar(s->ar);
    archive_read_support_format_rar5(s->ar);
    archive_read_support_format_tar(s->ar);
    archive_read_support_format_warc(s->ar);
    archive_read_support_format_xar(s->ar);
    archive_read_support_format_zip(s->ar);
    /* A file no archive format recognises is read as one raw entry (after any compression
     * filter). The raw format bids lowest, so real archives win. */
    archive_read_support_format_raw(s->ar);
    if (archive_read_open_filename(s->ar, s->path, 1 << 16) != ARCHIVE_OK)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: cannot read: %s", s->path,
                             archive_msg(s->ar));
    struct archive_entry *e;
    int r = archive_read_next_header(s->ar, &e);
    if (r == ARCHIVE_EOF) { /* an archive with no members */
        s->kind = SRC_ARCHIVE;
        s->header_pending = 0;
        s->raw_done = 1;
        return VLM_OK;
    }
    if (r == ARCHIVE_FATAL || r == ARCHIVE_RETRY)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: truncated or corrupt archive: %s", s->path,
                             archive_msg(s->ar));
    if (archive_format(s->ar) == ARCHIVE_FORMAT_RAW) {
        /* A shard cut inside its first header is no longer recognisable: say so rather than
         * hand it out as a plain file named "x.tar". */
        static const char *const archive_ext[] = {".tar",    ".tgz",     ".zip",    ".7z",
                                                  ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"};
        size_t pl = strlen(s->path);
        for (size_t i = 0; i < sizeof archive_ext / sizeof archive_ext[0]; i++) {
            size_t k = strlen(archive_ext[i]);
            if (pl > k && !strcasecmp(s->path + pl - k, archive_ext[i]))
                return vlm_error_set(err, VLM_ERR_FORMAT,
                                     "%s: not a readable %s archive (truncated or corrupt)",
                                     s->path, archive_ext[i] + 1);
        }
        s->kind = SRC_FILE;
        s->size = -1;
        struct stat st;
        if (archive_filter_code(s->ar, 0) == ARCHIVE_FILTER_NONE && stat(s->path, &st) == 0)
            s->size = st.st_size;
        return raw_entry_name(s, err);
    }
    s->kind = SRC_ARCHIVE;
    if (archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == NULL) {
        vlm_status st = set_name(s, clean_member_name(archive_entry_pathname(e)), err);
        if (st != VLM_OK)
            return st;
        s->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        s->header_pending = 1; /* the first vlm_source_next returns this entry */
    }
    return VLM_OK;
}

/* ---- public API --------------------------------------------------------------------------- */

vlm_status vlm_source_open(const char *path, vlm_source **out, vlm_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vlm_source *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    }
    s->size = -1;
    vlm_status rc = VLM_OK;
    if (S_ISDIR(st.st_mode)) {
        s->kind = SRC_DIR;
        file_list fl = {0};
        rc = walk_dir(path, "", NULL, &fl, err);
        s->files = fl.v;
        s->n_files = fl.n;
        if (rc == VLM_OK && fl.n > 1)
            qsort(fl.v, fl.n, sizeof *fl.v, cmp_str);
    } else if (!S_ISREG(st.st_mode)) {
        rc = vlm_error_set(err, VLM_ERR_IO, "%s: not a regular file or directory", path);
    } else if (st.st_size == 0) {
        /* libarchive gives an empty file no entry; it is a plain file of zero bytes. */
        s->kind = SRC_FILE;
        s->size = 0;
        const char *base = strrchr(path, '/');
        rc = set_name(s, base ? base + 1 : path, err);
    } else {
        rc = open_archive(s, err);
    }
    if (rc != VLM_OK) {
        vlm_source_close(s);
        return rc;
    }
    *out = s;
    return VLM_OK;
}

vlm_status vlm_source_next(vlm_source *s, vlm_source_entry *entry, int *done, vlm_error *err) {
    *done = 0;
    entry->name = NULL;
    entry->size = -1;
    if (s->failed)
        return vlm_error_set(err, s->failure.status, "%s", s->failure.msg);
    vlm_status st = VLM_OK;
    switch (s->kind) {
    case SRC_DIR:
        if (s->next_file >= s->n_files) {
            *done = 1;
            s->have_entry = 0;
            return VLM_OK;
        }
        s->have_entry = 1;
        s->entry_read = 0;
        entry->name = s->files[s->next_file++];
        {
            /* Size from the file system; a file gone meanwhile fails at read time. */
            size_t n = strlen(s->path) + strlen(entry->name) + 2;
            char *full = malloc(n);
            struct stat fs;
            if (full) {
                snprintf(full, n, "%s/%s", s->path, entry->name);
                if (stat(full, &fs) == 0)
                    entry->size = fs.st_size;
                free(full);
            }
        }
        return VLM_OK;
    case SRC_FILE:
        if (s->raw_done) {
            *done = 1;
            s->have_entry = 0;
            return VLM_OK;
        }
        s->raw_done = 1;
        break;
    case SRC_ARCHIVE:
        st = archive_advance(s, done, err);
        if (st != VLM_OK)
            return st;
        if (*done) {
            s->have_entry = 0;
            return VLM_OK;
        }
        break;
    }
    s->have_entry = 1;
    s->entry_read = 0;
    entry->name = s->name;
    entry->size = s->size;
    return VLM_OK;
}

/* Reads everything from the archive's current entry (at most max_bytes + 1 bytes are buffered,
 * so an oversized member without a size in its header is still refused cheaply). */
static vlm_status read_archive_data(vlm_source *s, uint8_t **data, size_t *len, size_t max_bytes,
                                    vlm_error *err) {
    if (max_bytes > SIZE_MAX / 4)
        max_bytes = SIZE_MAX / 4;
    size_t cap = s->size >= 0 ? (size_t)s->size + 2 : 1 << 16, n = 0;
    if (cap > max_bytes + 2)
        cap = max_bytes + 2;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: '%s': out of memory", s->path, s->name);
    for (;;) {
        if (n + 1 == cap) { /* full (one byte kept for the NUL) */
            if (n > max_bytes)
                break;
            size_t ncap = cap * 2 > max_bytes + 2 ? max_bytes + 2 : cap * 2;
            uint8_t *p = realloc(buf, ncap);
            if (!p) {
                free(buf);
                return vlm_error_set(err, VLM_ERR_NOMEM, "%s: '%s': out of memory", s->path,
                                     s->name);
            }
            buf = p;
            cap = ncap;
        }
        la_ssize_t r = archive_read_data(s->ar, buf + n, cap - 1 - n);
        if (r < 0) {
            free(buf);
            return fail(s, err, VLM_ERR_FORMAT, "%s: member '%s': truncated or corrupt: %s",
                        s->path, s->name, archive_msg(s->ar));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max_bytes) {
        free(buf);
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: '%s': too large (more than %zu bytes)",
                             s->path, s->name, max_bytes);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return VLM_OK;
}

vlm_status vlm_source_read(vlm_source *s, uint8_t **data, size_t *len, size_t max_bytes,
                           vlm_error *err) {
    *data = NULL;
    *len = 0;
    if (s->failed)
        return vlm_error_set(err, s->failure.status, "%s", s->failure.msg);
    if (!s->have_entry)
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: no current entry to read", s->path);
    if (s->entry_read)
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: entry '%s' was already read", s->path,
                             s->kind == SRC_DIR ? s->files[s->next_file - 1] : s->name);
    s->entry_read = 1;
    if (s->kind == SRC_DIR) {
        const char *rel = s->files[s->next_file - 1];
        size_t n = strlen(s->path) + strlen(rel) + 2;
        char *full = malloc(n);
        if (!full)
            return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", s->path);
        snprintf(full, n, "%s/%s", s->path, rel);
        vlm_status st = vlm_read_file(full, data, len, max_bytes, err);
        free(full);
        return st;
    }
    if (s->size > (int64_t)max_bytes)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: '%s': too large (%lld bytes, limit %zu)",
                             s->path, s->name, (long long)s->size, max_bytes);
    if (!s->ar) { /* the empty plain file */
        uint8_t *buf = calloc(1, 1);
        if (!buf)
            return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", s->path);
        *data = buf;
        return VLM_OK;
    }
    return read_archive_data(s, data, len, max_bytes, err);
}

const char *vlm_source_path(const vlm_source *s) {
    return s->path;
}

void vlm_source_close(vlm_source *s) {
    if (!s)
        return;
    if (s->ar)
        archive_read_free(s->ar);
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i]);
    free(s->files);
    free(s->name);
    free(s->path);
    free(s);
}

