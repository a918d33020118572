/* suites/grid.c: the resolution grid syntax of `vlmbench sweep --res` and suite files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "suites/suites.h"

/* Parses text with default_step and checks the values are exactly want[0..n). */
static void expect_grid(const char *text, int default_step, const int *want, int n) {
    vlm_int_list l = {0};
    vlm_error err = {0};
    vlm_status st = vlm_res_list_parse(text, default_step, &l, &err);
    cr_assert_eq(st, VLM_OK, "'%s': %s", text, err.msg);
    cr_assert_eq(l.n, n, "'%s': %d values, want %d", text, l.n, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(l.v[i], want[i], "'%s'[%d]: %d, want %d", text, i, l.v[i], want[i]);
    vlm_int_list_free(&l);
    cr_assert_null(l.v);
    cr_assert_eq(l.n, 0);
}

/* Parsing text must fail with VLM_ERR_INVALID, a message quoting the text, and out empty. */
static void expect_bad(const char *text) {
    vlm_int_list l = {.v = NULL, .n = 42};
    vlm_error err = {0};
    vlm_status st = vlm_res_list_parse(text, 64, &l, &err);
    cr_assert_eq(st, VLM_ERR_INVALID, "'%s' parsed (%s): %d values", text, vlm_status_name(st),
                 l.n);
    cr_assert_eq(err.status, VLM_ERR_INVALID);
    char quoted[256];
    snprintf(quoted, sizeof quoted, "'%s'", text);
    cr_assert_not_null(strstr(err.msg, quoted), "message does not quote %s: %s", quoted,
                       err.msg);
    cr_assert_null(l.v);
    cr_assert_eq(l.n, 0);
    /* and a NULL error is allowed */
    cr_assert_eq(vlm_res_list_parse(text, 64, &l, NULL), VLM_ERR_INVALID);
    cr_assert_null(l.v);
}

Test(grid, default_step_range) {
    int want[15];
    for (int i = 0; i < 15; i++)
        want[i] = 256 + 64 * i;
    cr_assert_eq(want[14], 1152);
    expect_grid("256..1152", 64, want, 15);
}

Test(grid, range_with_step) {
    expect_grid("256..1024:256", 64, (int[]){256, 512, 768, 1024}, 4);
    expect_grid("224..448:112", 1, (int[]){224, 336, 448}, 3);
    expect_grid("1..5:1", 64, (int[]){1, 2, 3, 4, 5}, 5);
    /* the explicit step wins over the default */
    expect_grid("256..512:128", 7, (int[]){256, 384, 512}, 3);
}

Test(grid, end_not_on_the_step_is_excluded) {
    expect_grid("256..1000:256", 64, (int[]){256, 512, 768}, 3);
    expect_grid("256..1000", 64, (int[]){256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896,
                                         960},
                12);
    /* a step larger than the range gives just A */
    expect_grid("256..300:1000", 64, (int[]){256}, 1);
}

Test(grid, degenerate_range_is_one_value) {
    expect_grid("512..512", 64, (int[]){512}, 1);
    expect_grid("512..512:7", 64, (int[]){512}, 1);
}

Test(grid, lists_keep_their_order) {
    expect_grid("256,512,1024", 64, (int[]){256, 512, 1024}, 3);
    expect_grid("1024,256", 64, (int[]){1024, 256}, 2);
    expect_grid("224,256..512:128,1024", 64, (int[]){224, 256, 384, 512, 1024}, 5);
    expect_grid("64..128,1024..1152", 64, (int[]){64, 128, 1024, 1088, 1152}, 5);
}

Test(grid, single_values_and_limits) {
    expect_grid("336", 64, (int[]){336}, 1);
    expect_grid("1", 64, (int[]){1}, 1);
    expect_grid("16384", 64, (int[]){16384}, 1);
    expect_grid("16320..16384", 64, (int[]){16320, 16384}, 2);
    expect_grid("0256", 64, (int[]){256}, 1); /* leading zero is still decimal */
}

Test(grid, full_range_is_allowed) {
    vlm_int_list l = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_res_list_parse("1..16384:1", 64, &l, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(l.n, 16384);
    for (int i = 0; i < l.n; i++)
        cr_assert_eq(l.v[i], i + 1);
    vlm_int_list_free(&l);
}

Test(grid, empty_text) {
    expect_bad("");
    vlm_int_list l = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_res_list_parse(NULL, 64, &l, &err), VLM_ERR_INVALID);
    cr_assert_not_null(strstr(err.msg, "empty"), "%s", err.msg);
    cr_assert_null(l.v);
}

Test(grid, malformed_ranges) {
    expect_bad("..");
    expect_bad("256..");
    expect_bad("..512");
    expect_bad("256...512");
    expect_bad("256.512");
    expect_bad("256..512..768");
    expect_bad("256..512:");
    expect_bad("256..512:0");
    expect_bad("256..512:-64");
    expect_bad("256..512:abc");
    expect_bad("256..512:64:32");
    expect_bad("256:64"); /* a step without a range */
    expect_bad("1152..256");
    expect_bad("257..256");
}

Test(grid, bad_numbers) {
    expect_bad("0");
    expect_bad("-5");
    expect_bad("+256");
    expect_bad("abc");
    expect_bad("256abc");
    expect_bad("1e3");
    expect_bad("0x100");
    expect_bad("99999999999");
    expect_bad("99999999999999999999999999");
    expect_bad("16385");
    expect_bad("256..16385");
    expect_bad("20000..30000");
    expect_bad("0..512");
}

Test(grid, bad_lists) {
    expect_bad("256,,512");
    expect_bad("256,");
    expect_bad(",256");
    expect_bad(",");
    expect_bad("256, 512");
    expect_bad(" 256");
    expect_bad("256 ");
    expect_bad("256;512");
}

Test(grid, duplicates) {
    expect_bad("256,256");
    expect_bad("256..512,384");
    expect_bad("256..512:128,1024,512");
    expect_bad("64..256,128..512");
    vlm_int_list l = {0};
    vlm_error err = {0};
    vlm_res_list_parse("256,512,256", 64, &l, &err);
    cr_assert_not_null(strstr(err.msg, "256"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "twice"), "%s", err.msg);
}

Test(grid, message_points_at_the_problem) {
    vlm_int_list l = {0};
    vlm_error err = {0};
    vlm_res_list_parse("256,20000,512", 64, &l, &err);
    cr_assert_not_null(strstr(err.msg, "near '20000,512'"), "%s", err.msg);
    vlm_res_list_parse("256,,512", 64, &l, &err);
    cr_assert_not_null(strstr(err.msg, "near ',512'"), "%s", err.msg);
    vlm_res_list_parse("224,1152..256", 64, &l, &err);
    cr_assert_not_null(strstr(err.msg, "near '1152..256'"), "%s", err.msg);
}

Test(grid, bad_default_step_with_a_range) {
    vlm_int_list l = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_res_list_parse("256..512", 0, &l, &err), VLM_ERR_INVALID);
    cr_assert_null(l.v);
    cr_assert_eq(vlm_res_list_parse("256..512", -64, &l, &err), VLM_ERR_INVALID);
    cr_assert_null(l.v);
    /* but a range's own step or a plain list does not need it (it once looped on v += 0 or
     * v += -64 for single values) */
    expect_grid("256..512:128", 0, (int[]){256, 384, 512}, 3);
    expect_grid("256,512", 0, (int[]){256, 512}, 2);
    expect_grid("256", -64, (int[]){256}, 1);
    expect_grid("256,1024..1152:128", -1, (int[]){256, 1024, 1152}, 3);
}

Test(grid, free_null_is_a_no_op) {
    vlm_int_list_free(NULL);
    vlm_int_list l = {0};
    vlm_int_list_free(&l);
}
