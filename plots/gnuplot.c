/* Chart files: templates expanded into .gp files, .dat files written atomically, and gnuplot
 * run on them. Private to plots/ (see plots/chart.h). */
#include "plots/chart.h"
#include "plots/embedded.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void vlm_chart_set(vlm_chart *c, const char *key, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (int i = 0; i < c->nvars; i++)
        if (!strcmp(c->keys[i], key)) {
            free(c->vals[i]);
            c->vals[i] = strdup(buf);
            return;
        }
    if (c->nvars < VLM_CHART_MAX_VARS) {
        c->keys[c->nvars] = key;
        c->vals[c->nvars++] = strdup(buf);
    }
}

void vlm_chart_set_string(vlm_chart *c, const char *key, const char *text) {
    /* a single-quoted gnuplot string: only '' needs escaping; newlines become spaces */
    size_t n = strlen(text);
    char *q = malloc(2 * n + 3), *o = q;
    if (!q)
        return;
    *o++ = '\'';
    for (const char *s = text; *s; s++) {
        if (*s == '\'')
            *o++ = '\'';
        *o++ = *s == '\n' || *s == '\r' ? ' ' : *s;
    }
    *o++ = '\'';
    *o = '\0';
    vlm_chart_set(c, key, "%s", q);
    free(q);
}

void vlm_chart_free(vlm_chart *c) {
    for (int i = 0; i < c->nvars; i++)
        free(c->vals[i]);
    c->nvars = 0;
    if (c->dat) {
        fclose(c->dat);
        c->dat = NULL;
        char tmp[VLM_CHART_PATH];
        snprintf(tmp, sizeof tmp, "%s/%s.dat.tmp", c->dir, c->name);
        unlink(tmp);
    }
}

static const vlm_embedded_file *find_template(const char *name) {
    for (int i = 0; i < vlm_plot_templates_count; i++)
        if (!strcmp(vlm_plot_templates[i].name, name))
            return &vlm_plot_templates[i];
    return NULL;
}

FILE *vlm_chart_dat_open(vlm_chart *c, vlm_error *err) {
    char tmp[VLM_CHART_PATH];
    snprintf(tmp, sizeof tmp, "%s/%s.dat.tmp", c->dir, c->name);
    c->dat = fopen(tmp, "w");
    if (!c->dat)
        vlm_error_set(err, VLM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return c->dat;
}

/* Closes path.tmp (f) and renames it to path; removes it on failure. */
static vlm_status commit(FILE *f, const char *tmp, const char *path, vlm_error *err) {
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return VLM_OK;
}

vlm_status vlm_chart_dat_commit(vlm_chart *c, vlm_error *err) {
    char tmp[VLM_CHART_PATH], path[VLM_CHART_PATH];
    snprintf(tmp, sizeof tmp, "%s/%s.dat.tmp", c->dir, c->name);
    snprintf(path, sizeof path, "%s/%s.dat", c->dir, c->name);
    FILE *f = c->dat;
    c->dat = NULL;
    return commit(f, tmp, path, err);
}

static const char *lookup(const vlm_chart *c, const char *key, size_t klen) {
    for (int i = 0; i < c->nvars; i++)
        if (strlen(c->keys[i]) == klen && !strncmp(c->keys[i], key, klen))
            return c->vals[i];
    return NULL;
}

/* Writes text with its @KEY@ placeholders (KEY in [A-Z0-9_]) replaced by c's values; @PREAMBLE@
 * expands the preamble template (itself expanded). An unknown placeholder is an internal error: a
 * template and the code that fills it disagree. */
static vlm_status expand(FILE *out, const vlm_chart *c, const char *tname, const char *text,
                         int depth, vlm_error *err) {
    for (const char *s = text; *s;) {
        const char *at = strchr(s, '@');
        if (!at) {
            fputs(s, out);
            break;
        }
        fwrite(s, 1, (size_t)(at - s), out);
        const char *k = at + 1, *e = k;
        while ((*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') || *e == '_')
            e++;
        if (*e != '@' || e == k) { /* not a placeholder ("model@res" in a comment) */
            fputc('@', out);
            s = at + 1;
            continue;
        }
        size_t klen = (size_t)(e - k);
        if (klen == 8 && !strncmp(k, "PREAMBLE", 8) && depth == 0) {
            const vlm_embedded_file *pre = find_template("preamble.gp");
            if (!pre)
                return vlm_error_set(err, VLM_ERR_INTERNAL, "template preamble.gp missing");
            vlm_status st = expand(out, c, "preamble.gp", pre->data, 1, err);
            if (st != VLM_OK)
                return st;
        } else {
            const char *v = lookup(c, k, klen);
            if (!v)
                return vlm_error_set(err, VLM_ERR_INTERNAL, "template %s: no value for @%.*s@",
                                     tname, (int)klen, k);
            fputs(v, out);
        }
        s = e + 1;
    }
    return VLM_OK;
}

/* The terminal commands for one image format. */
static void terminal(char *buf, size_t size, const char *name, int fmt) {
    if (fmt == VLM_PLOT_PNG)
        /* pngcairo when this gnuplot has it (anti-aliased), else the libgd png terminal */
        snprintf(buf, size,
                 "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                 "    set terminal pngcairo size %d,%d font ',11' noenhanced background "
                 "rgb 'white'\n"
                 "} else {\n"
                 "    set terminal png size %d,%d noenhanced\n"
                 "}\n"
                 "set output '%s.png'\n",
                 VLM_CHART_W, VLM_CHART_H, VLM_CHART_W, VLM_CHART_H, name);
    else
        snprintf(buf, size,
                 "set terminal svg size %d,%d font 'Sans,11' noenhanced background rgb "
                 "'white'\n"
                 "set output '%s.svg'\n",
                 VLM_CHART_W, VLM_CHART_H, name);
}

vlm_status vlm_chart_write_gp(vlm_chart *c, const char *template_name, int formats,
                              vlm_error *err) {
    char tname[64];
    snprintf(tname, sizeof tname, "%s.gp", template_name);
    const vlm_embedded_file *t = find_template(tname);
    if (!t)
        return vlm_error_set(err, VLM_ERR_INTERNAL, "no embedded template %s", tname);
    int first = formats & VLM_PLOT_PNG ? VLM_PLOT_PNG : VLM_PLOT_SVG;
    char out1[1024], more[1536] = "", images[512];
    terminal(out1, sizeof out1, c->name, first);
    if (first == VLM_PLOT_PNG && (formats & VLM_PLOT_SVG)) {
        terminal(more, sizeof more, c->name, VLM_PLOT_SVG);
        strcat(more, "replot\n");
        snprintf(images, sizeof images, "%s.png and %s.svg", c->name, c->name);
    } else {
        snprintf(images, sizeof images, "%s.%s", c->name, first == VLM_PLOT_PNG ? "png" : "svg");
    }
    strcat(more, "unset output");
    vlm_chart_set(c, "OUTPUT", "%s", out1);
    vlm_chart_set(c, "OUTPUT_MORE", "%s", more);
    vlm_chart_set(c, "IMAGES", "%s", images);
    vlm_chart_set(c, "CHART", "%s", c->name);
    vlm_chart_set(c, "TEMPLATE", "%s", template_name);
    vlm_chart_set(c, "DATA", "%s.dat", c->name);

    char tmp[VLM_CHART_PATH], path[VLM_CHART_PATH];
    snprintf(tmp, sizeof tmp, "%s/%s.gp.tmp", c->dir, c->name);
    snprintf(path, sizeof path, "%s/%s.gp", c->dir, c->name);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    vlm_status st = expand(f, c, tname, t->data, 0, err);
    if (st != VLM_OK) {
        fclose(f);
        unlink(tmp);
        return st;
    }
    return commit(f, tmp, path, err);
}

/* Reads up to size-1 bytes of fd from the start into buf. */
static void read_all(int fd, char *buf, size_t size) {
    size_t n = 0;
    lseek(fd, 0, SEEK_SET);
    for (ssize_t r; n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0;)
        n += (size_t)r;
    buf[n] = '\0';
}

vlm_status vlm_chart_run_gnuplot(const vlm_chart *c, const char *gnuplot, int formats, int *missing,
                                 int *images, vlm_error *err) {
    *missing = 0;
    char gp[VLM_CHART_PATH], errpath[] = "/tmp/vlm_gnuplot_XXXXXX";
    snprintf(gp, sizeof gp, "%s.gp", c->name);
    int efd = mkstemp(errpath);
    if (efd < 0)
        return vlm_error_set(err, VLM_ERR_IO, "cannot create a temporary file: %s",
                             strerror(errno));
    unlink(errpath);
    /* the child reports a failed exec through a close-on-exec pipe: a successful exec closes
     * it with nothing written */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        close(efd);
        return vlm_error_set(err, VLM_ERR_IO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(efd), close(pfd[0]), close(pfd[1]);
        return vlm_error_set(err, VLM_ERR_INTERNAL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        dup2(efd, 1);
        dup2(efd, 2);
        int e = 0;
        if (chdir(c->dir) != 0) {
            e = errno;
        } else {
            execlp(gnuplot, gnuplot, gp, (char *)NULL);
            e = errno;
        }
        ssize_t w = write(pfd[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    int child_errno = 0;
    ssize_t got;
    do
        got = read(pfd[0], &child_errno, sizeof child_errno);
    while (got < 0 && errno == EINTR);
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char msg[2048];
    read_all(efd, msg, sizeof msg);
    close(efd);
    if (got == (ssize_t)sizeof child_errno) {
        if (child_errno == ENOENT || child_errno == EACCES || child_errno == ENOTDIR) {
            *missing = 1;
            return VLM_OK;
        }
        return vlm_error_set(err, VLM_ERR_IO, "cannot run %s in %s: %s", gnuplot, c->dir,
                             strerror(child_errno));
    }
    const char *ext[2] = {"png", "svg"};
    int fmt[2] = {VLM_PLOT_PNG, VLM_PLOT_SVG};
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    for (int i = 0; i < 2 && ok; i++) {
        char img[VLM_CHART_PATH];
        struct stat sb;
        snprintf(img, sizeof img, "%s/%s.%s", c->dir, c->name, ext[i]);
        if (formats & fmt[i]) {
            if (stat(img, &sb) != 0 || sb.st_size == 0) {
                ok = 0;
                snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%.300s was not drawn\n",
                         img);
            }
        }
    }
    if (!ok) {
        /* no partial images */
        for (int i = 0; i < 2; i++) {
            char img[VLM_CHART_PATH];
            snprintf(img, sizeof img, "%s/%s.%s", c->dir, c->name, ext[i]);
            if (formats & fmt[i])
                unlink(img);
        }
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = '\0';
        char how[48] = "images missing";
        if (WIFEXITED(status) && WEXITSTATUS(status))
            snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
        return vlm_error_set(err, VLM_ERR_INTERNAL, "gnuplot failed on %s/%s (%s): %s", c->dir, gp,
                             how, msg[0] ? msg : "no message");
    }
    /* a successful run's warnings ("empty y range" for one point) are not the user's concern */
    *images += (formats & VLM_PLOT_PNG ? 1 : 0) + (formats & VLM_PLOT_SVG ? 1 : 0);
    return VLM_OK;
}
