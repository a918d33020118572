/* eval/data/source.c: files, directories and archives through one API. Archives are built
 * by Python's tarfile / zipfile (and a zstd frame written by hand, plus the zstd command when
 * installed), never by the code under test. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

VLM_TEST_TMPDIR_SUITE(source)

/* Runs a Python script; `d` is the test directory and `tree` the member set every archive
 * holds (name -> bytes, in the order they are written). */
static const char PY_PRELUDE[] =
    "import sys, os, io, tarfile, zipfile, gzip, struct, shutil, subprocess\n"
    "d = sys.argv[1]\n"
    "big = bytes((i * 7 + 3) % 251 for i in range(300000))\n"
    "tree = [('b/2.txt', b'two'), ('a.txt', b'alpha'), ('b/1.bin', big),\n"
    "        ('empty', b''), ('c/d/e.json', b'{\"k\": 1}')]\n"
    "def write_tar(path, mode, members=tree, prefix=''):\n"
    "    kw = {'fileobj': path} if isinstance(path, io.BytesIO) else {'name': path}\n"
    "    with tarfile.open(mode=mode, **kw) as t:\n"
    "        for name, data in members:\n"
    "            ti = tarfile.TarInfo(prefix + name); ti.size = len(data)\n"
    "            t.addfile(ti, io.BytesIO(data))\n"
    "def zst_raw(data):\n"
    "    # one zstd frame of raw (stored) blocks: magic, header descriptor 0 (window\n"
    "    # descriptor follows, no content size), window 2^17, 3-byte block headers\n"
    "    out = struct.pack('<I', 0xFD2FB528) + bytes([0, 7 << 3])\n"
    "    blocks = [data[i:i + 65536] for i in range(0, len(data), 65536)] or [b'']\n"
    "    for i, b in enumerate(blocks):\n"
    "        last = 1 if i == len(blocks) - 1 else 0\n"
    "        out += ((len(b) << 3) | last).to_bytes(3, 'little') + b\n"
    "    return out\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PY_PRELUDE, script);
}

/* FNV-1a of the bytes, to describe an entry's content compactly. */
static uint32_t fnv(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Reads every entry: "name size hash\n" lines, or NULL and *err on failure. Owned result. */
static char *listing(const char *path, size_t max_bytes, vlm_error *err) {
    vlm_source *src;
    if (vlm_source_open(path, &src, err) != VLM_OK)
        return NULL;
    cr_assert_str_eq(vlm_source_path(src), path);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(cap, 1);
    vlm_source_entry e;
    int done = 0;
    vlm_status st;
    while ((st = vlm_source_next(src, &e, &done, err)) == VLM_OK && !done) {
        uint8_t *data;
        size_t len;
        st = vlm_source_read(src, &data, &len, max_bytes, err);
        if (st != VLM_OK)
            break;
        cr_assert_eq(data[len], 0, "buffer not NUL-terminated");
        if (e.size >= 0)
            cr_assert_eq((size_t)e.size, len, "%s: size %lld, read %zu", e.name, (long long)e.size,
                         len);
        n += (size_t)snprintf(out + n, cap - n, "%s %zu %08x\n", e.name, len, fnv(data, len));
        free(data);
    }
    vlm_source_close(src);
    if (st != VLM_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* The listing Python computes for the same members sorted by name (directories) or in
 * archive order. */
static char *expected(int sorted) {
    char script[1024];
    snprintf(script, sizeof script,
             "def fnv(b):\n"
             "    h = 2166136261\n"
             "    for x in b: h = ((h ^ x) * 16777619) & 0xffffffff\n"
             "    return h\n"
             "m = sorted(tree) if %d else tree\n"
             "open(d + '/expected.txt', 'w').write(''.join(f'{n} {len(b)} {fnv(b):08x}\\n'\n"
             "                                        for n, b in m))\n",
             sorted);
    python(script);
    FILE *f = fopen(tpath("expected.txt"), "rb");
    cr_assert_not_null(f);
    char *buf = calloc(1 << 16, 1);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void check_listing(const char *name, int sorted) {
    vlm_error err = {0};
    char *got = listing(tpath(name), 1 << 20, &err);
    cr_assert_not_null(got, "%s: %s", name, err.msg);
    char *want = expected(sorted);
    cr_assert_str_eq(got, want, "%s:\n got:\n%s want:\n%s", name, got, want);
    free(got);
    free(want);
}

Test(source, tar_in_archive_order) {
    python("write_tar(d + '/x.tar', 'w')\n");
    check_listing("x.tar", 0);
}

Test(source, tar_gz_bz2_xz) {
    python("write_tar(d + '/x.tar.gz', 'w:gz')\n"
           "write_tar(d + '/x.tar.bz2', 'w:bz2')\n"
           "write_tar(d + '/x.tar.xz', 'w:xz')\n");
    check_listing("x.tar.gz", 0);
    check_listing("x.tar.bz2", 0);
    check_listing("x.tar.xz", 0);
}

Test(source, tar_zst) {
    python("b = io.BytesIO(); write_tar(b, 'w')\n"
           "open(d + '/x.tar.zst', 'wb').write(zst_raw(b.getvalue()))\n");
    check_listing("x.tar.zst", 0);
}

Test(source, tar_zst_from_zstd_command) {
    if (system("command -v zstd >/dev/null 2>&1") != 0)
        cr_skip_test("the zstd command is not installed");
    python("write_tar(d + '/y.tar', 'w')\n"
           "subprocess.run(['zstd', '-q', '-3', d + '/y.tar', '-o', d + '/y.tar.zst'],\n"
           "               check=True)\n"
           "os.remove(d + '/y.tar')\n");
    check_listing("y.tar.zst", 0);
}

Test(source, zip_stored_and_deflated) {
    python("for name, comp in (('s.zip', zipfile.ZIP_STORED), ('z.zip', zipfile.ZIP_DEFLATED)):\n"
           "    with zipfile.ZipFile(d + '/' + name, 'w', comp) as z:\n"
           "        z.writestr('b/', b'')\n" /* a directory member, skipped */
           "        for n, b in tree: z.writestr(n, b)\n");
    check_listing("s.zip", 0);
    check_listing("z.zip", 0);
}

Test(source, dot_slash_prefix_and_directory_members_dropped) {
    python(
        "with tarfile.open(d + '/x.tar', 'w') as t:\n"
        "    ti = tarfile.TarInfo('./b'); ti.type = tarfile.DIRTYPE; t.addfile(ti)\n"
        "    ti = tarfile.TarInfo('./b/link'); ti.type = tarfile.SYMTYPE\n"
        "    ti.linkname = '../a.txt'; t.addfile(ti)\n"
        "    for n, b in tree:\n"
        "        ti = tarfile.TarInfo('./' + n); ti.size = len(b); t.addfile(ti, io.BytesIO(b))\n");
    check_listing("x.tar", 0);
}

Test(source, directory_tree_sorted_bytewise) {
    python("for n, b in tree:\n"
           "    os.makedirs(os.path.dirname(d + '/t/' + n), exist_ok=True)\n"
           "    open(d + '/t/' + n, 'wb').write(b)\n"
           "os.makedirs(d + '/t/zz_empty_dir')\n"
           "os.symlink(d + '/t', d + '/t/c/loop')\n"); /* a cycle: must not recurse forever */
    check_listing("t", 1);
}

Test(source, directory_order_is_bytewise_not_per_level) {
    /* "a.txt" < "a/x" byte-wise ('.' < '/'), and "B" < "a" (upper case first). */
    python("os.makedirs(d + '/t/a')\n"
           "for n in ('a/x', 'a.txt', 'B', 'a0'): open(d + '/t/' + n, 'w').write(n)\n");
    vlm_error err = {0};
    vlm_source *src;
    cr_assert_eq(vlm_source_open(tpath("t"), &src, &err), VLM_OK, "%s", err.msg);
    const char *want[] = {"B", "a.txt", "a/x", "a0"};
    vlm_source_entry e;
    int done = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(vlm_source_next(src, &e, &done, &err), VLM_OK);
        cr_assert_eq(done, 0);
        cr_assert_str_eq(e.name, want[i]);
    }
    cr_assert_eq(vlm_source_next(src, &e, &done, &err), VLM_OK);
    cr_assert_eq(done, 1);
    vlm_source_close(src);
}

Test(source, plain_file_is_one_entry) {
    python("open(d + '/p.json', 'w').write('{\"a\": [1, 2]}\\n')\n"
           "open(d + '/e.txt', 'w').write('')\n"
           "open(d + '/v.txt.gz', 'wb').write(gzip.compress(b'hello world\\n' * 1000))\n"
           "open(d + '/l.csv', 'w').write('a,b\\n1,2\\n')\n"
           "open(d + '/m.txt', 'w').write('/set type=file\\n. type=dir\\n')\n");
    vlm_error err = {0};
    char *got = listing(tpath("p.json"), 1 << 20, &err);
    cr_assert_not_null(got, "%s", err.msg);
    char want[128];
    const char *text = "{\"a\": [1, 2]}\n";
    snprintf(want, sizeof want, "p.json %zu %08x\n", strlen(text),
             fnv((const uint8_t *)text, strlen(text)));
    cr_assert_str_eq(got, want);
    free(got);

    got = listing(tpath("e.txt"), 1 << 20, &err);
    cr_assert_not_null(got, "%s", err.msg);
    snprintf(want, sizeof want, "e.txt 0 %08x\n", fnv(NULL, 0));
    cr_assert_str_eq(got, want);
    free(got);

    /* Text that libarchive's mtree reader would claim is a plain file. */
    got = listing(tpath("l.csv"), 1 << 20, &err);
    cr_assert_not_null(got, "%s", err.msg);
    cr_assert(!strncmp(got, "l.csv 8 ", 8), "got %s", got);
    free(got);
    got = listing(tpath("m.txt"), 1 << 20, &err);
    cr_assert_not_null(got, "%s", err.msg);
    cr_assert(!strncmp(got, "m.txt 26 ", 9), "got %s", got);
    free(got);

    /* A single compressed file is decompressed and named without its suffix. */
    got = listing(tpath("v.txt.gz"), 1 << 20, &err);
    cr_assert_not_null(got, "%s", err.msg);
    cr_assert(!strncmp(got, "v.txt 12000 ", 12), "got %s", got);
    free(got);
}

Test(source, missing_path_is_io_error) {
    vlm_error err = {0};
    vlm_source *src = (vlm_source *)1;
    cr_assert_eq(vlm_source_open(tpath("nope.tar"), &src, &err), VLM_ERR_IO);
    cr_assert_null(src);
    cr_assert(strstr(err.msg, "nope.tar"), "message: %s", err.msg);
    uint8_t *data = (uint8_t *)1;
    size_t len;
    cr_assert_eq(vlm_read_file(tpath("nope.bin"), &data, &len, 100, &err), VLM_ERR_IO);
    cr_assert_null(data);
    cr_assert(strstr(err.msg, "nope.bin"), "message: %s", err.msg);
}

/* A tar cut inside the big member: the member is named, and every later call repeats it. */
Test(source, truncated_tar_names_archive_and_member) {
    python("write_tar(d + '/x.tar', 'w')\n"
           "b = open(d + '/x.tar', 'rb').read()\n"
           "i = b.index(b'b/1.bin')\n"
           "open(d + '/cut.tar', 'wb').write(b[:i + 512 + 100000])\n");
    vlm_error err = {0};
    vlm_source *src;
    cr_assert_eq(vlm_source_open(tpath("cut.tar"), &src, &err), VLM_OK, "%s", err.msg);
    vlm_source_entry e;
    int done = 0;
    vlm_status st = VLM_OK;
    int n = 0;
    while ((st = vlm_source_next(src, &e, &done, &err)) == VLM_OK && !done) {
        uint8_t *data;
        size_t len;
        st = vlm_source_read(src, &data, &len, 1 << 20, &err);
        if (st != VLM_OK)
            break;
        free(data);
        n++;
    }
    cr_assert_eq(st, VLM_ERR_FORMAT, "status %d: %s", st, err.msg);
    cr_assert_eq(n, 2, "entries before the cut: %d", n);
    cr_assert(strstr(err.msg, "cut.tar"), "message: %s", err.msg);
    cr_assert(strstr(err.msg, "b/1.bin"), "message: %s", err.msg);
    cr_assert_eq(vlm_source_next(src, &e, &done, &err), VLM_ERR_FORMAT);
    vlm_source_close(src);
}

/* Truncated while skipping an unread member: vlm_source_next reports it. */
Test(source, truncated_tar_gz_while_skipping) {
    python("b = io.BytesIO(); write_tar(b, 'w')\n"
           "z = gzip.compress(b.getvalue())\n"
           "open(d + '/cut.tar.gz', 'wb').write(z[:len(z) // 2])\n");
    vlm_error err = {0};
    vlm_source *src;
    cr_assert_eq(vlm_source_open(tpath("cut.tar.gz"), &src, &err), VLM_OK, "%s", err.msg);
    vlm_source_entry e;
    int done = 0;
    vlm_status st;
    int n = 0;
    while ((st = vlm_source_next(src, &e, &done, &err)) == VLM_OK && !done)
        n++;
    cr_assert_eq(st, VLM_ERR_FORMAT, "status %d after %d entries: %s", st, n, err.msg);
    cr_assert(strstr(err.msg, "cut.tar.gz"), "message: %s", err.msg);
    cr_assert(strstr(err.msg, "b/1.bin"), "message: %s", err.msg);
    vlm_source_close(src);
}

Test(source, archive_cut_inside_its_first_header_is_an_error) {
    python("write_tar(d + '/x.tar', 'w')\n"
           "open(d + '/cut.tar', 'wb').write(open(d + '/x.tar', 'rb').read()[:300])\n");
    vlm_error err = {0};
    vlm_source *src;
    cr_assert_eq(vlm_source_open(tpath("cut.tar"), &src, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "cut.tar") && strstr(err.msg, "truncated"), "%s", err.msg);
}

Test(source, truncated_zip_is_format_error) {
    python("with zipfile.ZipFile(d + '/x.zip', 'w', zipfile.ZIP_DEFLATED) as z:\n"
           "    for n, b in tree: z.writestr(n, b)\n"
           "b = open(d + '/x.zip', 'rb').read()\n"
           "open(d + '/cut.zip', 'wb').write(b[:len(b) // 2])\n");
    vlm_error err = {0};
    char *got = listing(tpath("cut.zip"), 1 << 20, &err);
    cr_assert_null(got, "a truncated zip was read whole:\n%s", got);
    cr_assert_eq(err.status, VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, "cut.zip"), "message: %s", err.msg);
}

Test(source, max_bytes_overflow) {
    python("write_tar(d + '/x.tar', 'w')\n"
           "b = io.BytesIO(); write_tar(b, 'w')\n"
           "open(d + '/x.tar.zst', 'wb').write(zst_raw(b.getvalue()))\n"
           "for n, b in tree:\n"
           "    os.makedirs(os.path.dirname(d + '/t/' + n), exist_ok=True)\n"
           "    open(d + '/t/' + n, 'wb').write(b)\n");
    /* b/1.bin is 300000 bytes: a limit just under it fails, exactly it passes. */
    const char *names[] = {"x.tar", "x.tar.zst", "t"};
    for (int i = 0; i < 3; i++) {
        vlm_error err = {0};
        char *got = listing(tpath(names[i]), 299999, &err);
        cr_assert_null(got, "%s: read despite the limit", names[i]);
        cr_assert_eq(err.status, VLM_ERR_FORMAT, "%s: %s", names[i], err.msg);
        cr_assert(strstr(err.msg, "too large") && strstr(err.msg, "1.bin"), "%s", err.msg);
        got = listing(tpath(names[i]), 300000, &err);
        cr_assert_not_null(got, "%s: %s", names[i], err.msg);
        free(got);
    }
    uint8_t *data;
    size_t len;
    vlm_error err = {0};
    cr_assert_eq(vlm_read_file(tpath("t/b/1.bin"), &data, &len, 299999, &err), VLM_ERR_FORMAT);
    cr_assert_eq(vlm_read_file(tpath("t/b/1.bin"), &data, &len, 300000, &err), VLM_OK);
    cr_assert_eq(len, 300000);
    free(data);
}

Test(source, unread_entries_are_skipped_and_reread_refused) {
    python("write_tar(d + '/x.tar.gz', 'w:gz')\n");
    vlm_error err = {0};
    vlm_source *src;
    cr_assert_eq(vlm_source_open(tpath("x.tar.gz"), &src, &err), VLM_OK, "%s", err.msg);
    vlm_source_entry e;
    int done = 0;
    const char *want[] = {"b/2.txt", "a.txt", "b/1.bin", "empty", "c/d/e.json"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(vlm_source_next(src, &e, &done, &err), VLM_OK, "%s", err.msg);
        cr_assert_str_eq(e.name, want[i]);
        if (i == 3) {
            uint8_t *data;
            size_t len;
            cr_assert_eq(vlm_source_read(src, &data, &len, 100, &err), VLM_OK);
            cr_assert_eq(len, 0);
            free(data);
            cr_assert_eq(vlm_source_read(src, &data, &len, 100, &err), VLM_ERR_INVALID);
        }
    }
    cr_assert_eq(vlm_source_next(src, &e, &done, &err), VLM_OK);
    cr_assert_eq(done, 1);
    vlm_source_close(src);
    vlm_source_close(NULL);
}
