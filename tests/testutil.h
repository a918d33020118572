/* Helpers shared by the Criterion tests: run a program and capture its output. */
#ifndef VLM_TESTUTIL_H
#define VLM_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct vlm_run {
    int exit_code;   /* exit status, or 128 + signal when killed */
    char *out, *err; /* captured stdout and stderr, NUL-terminated, owned */
} vlm_run;

static inline char *vlm_test_slurp(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return buf;
}

/* Runs argv (argv[0] is a path) with stdin from /dev/null; returns its exit code and output. */
static inline vlm_run vlm_test_run(char *const argv[]) {
    char out_path[] = "/tmp/vlm_test_out_XXXXXX", err_path[] = "/tmp/vlm_test_err_XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    unlink(out_path);
    unlink(err_path);
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    vlm_run r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = vlm_test_slurp(fo);
    r.err = vlm_test_slurp(fe);
    close(fo);
    close(fe);
    return r;
}

static inline void vlm_run_free(vlm_run *r) {
    free(r->out);
    free(r->err);
}

/* ---- one temporary directory per test ---- */

static inline int vlm_test_remove_entry(const char *path, const struct stat *sb, int flag,
                                        struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it (for a suite's .fini). */
static inline void vlm_test_rmtree(const char *dir) {
    nftw(dir, vlm_test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/name in one of a few rotating buffers, so several paths can be alive at once. */
static inline const char *vlm_test_path(const char *dir, const char *name) {
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

#endif /* VLM_TESTUTIL_H */
