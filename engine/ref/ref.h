/*
 * Private to engine/ and its tests: plain-C reference implementations of every op the graph
 * runs, written for obviousness, not speed. Layouts are PyTorch's: activations NCHW (batch 1,
 * so [C, H, W]), weights OIHW, Linear weights [out, in]. Accumulation in double.
 */
#ifndef VLM_ENGINE_REF_H
#define VLM_ENGINE_REF_H

#include <stdint.h>

/* y[cout, ho, wo] = conv2d(x[cin, h, w], w[cout, cin/groups, k, k], bias, stride, pad). */
void ref_conv2d(const float *x, int cin, int h, int w, const float *wt, const float *bias,
                int cout, int k, int stride, int pad, int groups, float *y);
/* y[m, n] = x[m, k] @ w[n, k]^T + bias[n] */
void ref_linear(const float *x, int m, int k, const float *w, const float *bias, int n, float *y);
/* c[b, m, n] = scale * a[b, m, k] @ bt[b, k, n] */
void ref_matmul(const float *a, const float *bt, int batch, int m, int k, int n, float scale,
                float *c);
/* LayerNorm over the last dim of x[rows, c] (biased variance). */
void ref_layernorm(const float *x, int rows, int c, const float *gamma, const float *beta,
                   float eps, float *y);
/* Softmax over the last dim of x[rows, c]. */
void ref_softmax(const float *x, int rows, int c, float *y);
float ref_gelu(float x); /* exact: x * Phi(x) */
float ref_sigmoid(float x);
/* y[c] = mean over h, w of x[c, h, w] */
void ref_mean_hw(const float *x, int c, int h, int w, float *y);
/* BatchNorm (inference) of x[c, h, w] in place. */
void ref_batchnorm(float *x, int c, int hw, const float *gamma, const float *beta,
                   const float *mean, const float *var, float eps);
/* Channel LayerNorm of x[c, h, w]: per pixel over C. */
void ref_layernorm_channels(const float *x, int c, int hw, const float *gamma, const float *beta,
                            float eps, float *y);

#endif /* VLM_ENGINE_REF_H */
