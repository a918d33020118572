#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "eval/eval.h"

typedef struct prep {
    const uint8_t *jpeg;
    size_t bytes;
    int res;
    float *tensor; /* [3, res, res] */
} prep;

/* One FastVLM preprocessing pass: decode, expand2square (black: FastVLM's mean is 0), PIL
 * bicubic resize, normalise with mean 0 / std 1 (spec 1.4). */
static vlm_status prep_once(void *arg, vlm_error *err) {
    prep *p = arg;
    vlm_image img = {0}, sq = {0}, rs = {0};
    static const uint8_t black[3] = {0, 0, 0};
    vlm_status st = vlm_image_decode(p->jpeg, p->bytes, "generated.jpg", &img, err);
    if (st == VLM_OK)
        st = vlm_image_pad_square(&img, black, &sq, err);
    if (st == VLM_OK)
        st = vlm_image_resize(&sq, p->res, p->res, VLM_RESAMPLE_BICUBIC, &rs, err);
    if (st == VLM_OK)
        vlm_image_to_tensor(&rs, (float[3]){0, 0, 0}, (float[3]){1, 1, 1}, p->tensor);
    vlm_image_free(&img);
    vlm_image_free(&sq);
    vlm_image_free(&rs);
    return st;
}

vlm_status vlm_measure_preprocess(int res, int image_w, int image_h, const vlm_runner_params *rp,
                                  vlm_measurement *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (res < 1 || res > 16384 || image_w < 1 || image_h < 1 || image_w > 16384 ||
        image_h > 16384)
        return vlm_error_set(err, VLM_ERR_INVALID, "preprocessing: bad sizes %dx%d -> %d",
                             image_w, image_h, res);
    /* a seeded synthetic photo: smooth colour gradients plus noise, so the JPEG has realistic
     * entropy; encoded once, untimed */
    vlm_image src = {0};
    vlm_status st = vlm_image_create(image_w, image_h, &src, err);
    if (st != VLM_OK)
        return st;
    uint64_t s = 0x2545f4914f6cdd1dull;
    for (int y = 0; y < image_h; y++)
        for (int x = 0; x < image_w; x++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            uint8_t *px = src.pixels + 3 * ((size_t)y * image_w + x);
            int noise = (int)(s >> 59) - 16;
            int v[3] = {255 * x / image_w, 255 * y / image_h, 255 * (x + y) / (image_w + image_h)};
            for (int c = 0; c < 3; c++) {
                int t = v[c] + noise;
                px[c] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
        }
    uint8_t *jpeg = NULL;
    size_t bytes = 0;
    st = vlm_image_encode_jpeg(&src, 90, &jpeg, &bytes, err);
    vlm_image_free(&src);
    if (st != VLM_OK)
        return st;
    prep p = {jpeg, bytes, res, malloc((size_t)3 * res * res * sizeof(float))};
    if (!p.tensor) {
        free(jpeg);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    st = vlm_runner_run(rp, prep_once, &p, &out->samples_ms, &out->n, err);
    if (st == VLM_OK)
        vlm_stats_compute(out->samples_ms, out->n, &out->stats);
    free(p.tensor);
    free(jpeg);
    return st;
}
