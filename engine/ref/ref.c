#include "engine/ref/ref.h"

#include <math.h>
#include <stddef.h>

void ref_conv2d(const float *x, int cin, int h, int w, const float *wt, const float *bias,
                int cout, int k, int stride, int pad, int groups, float *y) {
    int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    int cig = cin / groups, cog = cout / groups;
    for (int o = 0; o < cout; o++) {
        int g = o / cog;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double acc = bias ? bias[o] : 0.0;
                for (int ci = 0; ci < cig; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            acc += (double)x[((size_t)(g * cig + ci) * h + iy) * w + ix] *
                                   wt[(((size_t)o * cig + ci) * k + ky) * k + kx];
                        }
                y[((size_t)o * ho + oy) * wo + ox] = (float)acc;
            }
    }
}

void ref_linear(const float *x, int m, int k, const float *w, const float *bias, int n, float *y) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = bias ? bias[j] : 0.0;
            for (int p = 0; p < k; p++)
                acc += (double)x[(size_t)i * k + p] * w[(size_t)j * k + p];
            y[(size_t)i * n + j] = (float)acc;
        }
}

void ref_matmul(const float *a, const float *bt, int batch, int m, int k, int n, float scale,
                float *c) {
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0.0;
                for (int p = 0; p < k; p++)
                    acc += (double)a[((size_t)b * m + i) * k + p] * bt[((size_t)b * k + p) * n + j];
                c[((size_t)b * m + i) * n + j] = (float)(scale * acc);
            }
}

void ref_layernorm(const float *x, int rows, int c, const float *gamma, const float *beta,
                   float eps, float *y) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * c;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < c; i++)
            mean += xr[i];
        mean /= c;
        for (int i = 0; i < c; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= c;
        double inv = 1.0 / sqrt(var + eps);
        for (int i = 0; i < c; i++)
            y[(size_t)r * c + i] = (float)((xr[i] - mean) * inv * gamma[i] + beta[i]);
    }
}

void ref_softmax(const float *x, int rows, int c, float *y) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * c;
        double mx = xr[0], sum = 0.0;
        for (int i = 1; i < c; i++)
            mx = xr[i] > mx ? xr[i] : mx;
        for (int i = 0; i < c; i++)
            sum += exp(xr[i] - mx);
        for (int i = 0; i < c; i++)
            y[(size_t)r * c + i] = (float)(exp(xr[i] - mx) / sum);
    }
}

float ref_gelu(float x) { return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0)))); }

float ref_sigmoid(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }

void ref_mean_hw(const float *x, int c, int h, int w, float *y) {
    for (int i = 0; i < c; i++) {
        double s = 0.0;
        for (int p = 0; p < h * w; p++)
            s += x[(size_t)i * h * w + p];
        y[i] = (float)(s / (h * w));
    }
}

void ref_batchnorm(float *x, int c, int hw, const float *gamma, const float *beta,
                   const float *mean, const float *var, float eps) {
    for (int i = 0; i < c; i++) {
        double s = gamma[i] / sqrt((double)var[i] + eps);
        for (int p = 0; p < hw; p++)
            x[(size_t)i * hw + p] = (float)((x[(size_t)i * hw + p] - mean[i]) * s + beta[i]);
    }
}

void ref_layernorm_channels(const float *x, int c, int hw, const float *gamma, const float *beta,
                            float eps, float *y) {
    for (int p = 0; p < hw; p++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < c; i++)
            mean += x[(size_t)i * hw + p];
        mean /= c;
        for (int i = 0; i < c; i++) {
            double d = x[(size_t)i * hw + p] - mean;
            var += d * d;
        }
        var /= c;
        double inv = 1.0 / sqrt(var + eps);
        for (int i = 0; i < c; i++)
            y[(size_t)i * hw + p] = (float)((x[(size_t)i * hw + p] - mean) * inv * gamma[i] + beta[i]);
    }
}
