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

/* A Criterion suite whose every test gets a fresh temporary directory g_dir (removed after the
 * test) and tpath(name) = g_dir/name (vlm_test_path's rotating buffers). */
#define VLM_TEST_TMPDIR_SUITE(suite)                                                            \
    static char g_dir[] = "/tmp/vlm_test_" #suite "_XXXXXX";                                    \
    static void vlm_tmpdir_setup(void) {                                                        \
        cr_assert_not_null(mkdtemp(g_dir), "mkdtemp failed");                                   \
    }                                                                                           \
    static void vlm_tmpdir_teardown(void) {                                                     \
        vlm_test_rmtree(g_dir);                                                                 \
    }                                                                                           \
    TestSuite(suite, .init = vlm_tmpdir_setup, .fini = vlm_tmpdir_teardown);                    \
    static inline char *tpath(const char *name) { /* writable, for argv */                   \
        return (char *)vlm_test_path(g_dir, name);                                              \
    }

/* Runs VLM_PYTHON with prelude then script on its stdin and dir as sys.argv[1]; the test fails
 * unless it exits 0. */
#define vlm_test_python(dir, prelude, script)                                                   \
    do {                                                                                        \
        char vlm_cmd_[1024];                                                                    \
        snprintf(vlm_cmd_, sizeof vlm_cmd_, "%s - '%s'", VLM_PYTHON, (dir));                    \
        FILE *vlm_p_ = popen(vlm_cmd_, "w");                                                    \
        cr_assert_not_null(vlm_p_, "cannot run %s", VLM_PYTHON);                                \
        fputs((prelude), vlm_p_);                                                               \
        fputs((script), vlm_p_);                                                                \
        int vlm_st_ = pclose(vlm_p_);                                                           \
        cr_assert(WIFEXITED(vlm_st_) && WEXITSTATUS(vlm_st_) == 0, "python failed:\n%s",        \
                  (script));                                                                    \
    } while (0)

/* Writes text to path (the test fails if it cannot). */
#define vlm_test_write_text(path, text)                                                         \
    do {                                                                                        \
        FILE *vlm_f_ = fopen((path), "wb");                                                     \
        cr_assert_not_null(vlm_f_, "cannot write %s", (path));                                  \
        fputs((text), vlm_f_);                                                                  \
        fclose(vlm_f_);                                                                         \
    } while (0)

#endif /* VLM_TESTUTIL_H */
