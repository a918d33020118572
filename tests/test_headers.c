#include <criterion/criterion.h>

#include "engine/engine.h"

int vlm_headers_c17_status_ok(void);

Test(headers, compile_as_plain_c17_and_link) {
    cr_assert(vlm_headers_c17_status_ok());
}

Test(headers, status_names_are_distinct) {
    const vlm_status all[] = {VLM_OK,          VLM_ERR_INVALID,     VLM_ERR_IO,
                              VLM_ERR_FORMAT,  VLM_ERR_NOMEM,       VLM_ERR_UNSUPPORTED,
                              VLM_ERR_INTERNAL};
    int n = sizeof all / sizeof all[0];
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            cr_assert_str_neq(vlm_status_name(all[i]), vlm_status_name(all[j]));
}
