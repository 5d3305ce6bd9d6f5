// The fast backend's portable kernels: plain C++ on the packed layout of kernels.h. They define
// the arithmetic every SIMD level reproduces (the same int8 activations, integer group sums,
// per-group float scaling), and they are what runs where no SIMD level is available.
#include <algorithm>
#include <cmath>

#include "backend/cpu_fast/kernels.h"
#include "core/fp16.h"

namespace edgellm {
namespace cpu_fast {
namespace {

void quantize_act(const float *x, int64_t K, int8_t *q, float *d, float *s) {
    for (int64_t g = 0; g < K / kGroup; ++g) {
        const float *xg = x + g * kGroup;
        float amax = 0.f;
        for (int i = 0; i < kGroup; ++i) amax = std::max(amax, std::fabs(xg[i]));
        const float dg = amax / 127.f;
        const float id = dg != 0.f ? 1.f / dg : 0.f;
        int sum = 0;
        for (int i = 0; i < kGroup; ++i) {
            const int v = (int)std::nearbyint(xg[i] * id);
            q[g * kGroup + i] = (int8_t)v;
            sum += v;
        }
        d[g] = dg;
        s[g] = dg * (float)sum;
    }
}

// (tile of 4 rows) . token: per group the integer sums of the 4 rows, scaled by d * dx, plus the
// offset term c * s (c = m for Q4_1, -8 d for Q4_0, 0 for Q8_0).
void gemm_q(const PackedMatrix &w, int64_t t0, int64_t t1, const ActQ8 &x, float *y, int64_t ldy,
            bool accumulate) {
    const int64_t G = w.groups;
    for (int64_t t = t0; t < t1; ++t) {
        const uint8_t *tile = w.tile(t);
        const int nr = (int)std::min<int64_t>(kTileRows, w.rows - t * kTileRows);
        for (int i = 0; i < x.n; ++i) {
            const int8_t *xq = x.qrow(i);
            const float *xd = x.drow(i), *xs = x.srow(i);
            float acc[kTileRows] = {0, 0, 0, 0};
            for (int64_t g = 0; g < G; ++g) {
                const uint8_t *b = tile + (size_t)g * w.block_bytes;
                const uint16_t *dh = reinterpret_cast<const uint16_t *>(b);
                const int8_t *xg = xq + g * kGroup;
                for (int r = 0; r < kTileRows; ++r) {
                    const float dr = fp16_to_f32(dh[r]);
                    int isum = 0;
                    float c = 0.f;
                    if (w.pack == Pack::Q8_0) {
                        const int8_t *qr = reinterpret_cast<const int8_t *>(b + 8) + r * 32;
                        for (int j = 0; j < 32; ++j) isum += qr[j] * xg[j];
                    } else {
                        const uint8_t *qr = b + (w.pack == Pack::Q4_1 ? 16 : 8) + r * 16;
                        for (int j = 0; j < 16; ++j)
                            isum += (qr[j] & 15) * xg[j] + (qr[j] >> 4) * xg[j + 16];
                        c = w.pack == Pack::Q4_1 ? fp16_to_f32(dh[4 + r]) : -8.f * dr;
                    }
                    acc[r] += (float)isum * (dr * xd[g]);
                    acc[r] += c * xs[g];
                }
            }
            float *yi = y + (size_t)i * ldy + t * kTileRows;
            for (int r = 0; r < nr; ++r) yi[r] = accumulate ? yi[r] + acc[r] : acc[r];
        }
    }
}

float dot_f32(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
}

float dot_f16(const uint16_t *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += fp16_to_f32(a[k + j]) * b[k + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < n; ++k) s += fp16_to_f32(a[k]) * b[k];
    return s;
}

void axpy_f16(float a, const uint16_t *x, float *y, int64_t n) {
    for (int64_t k = 0; k < n; ++k) y[k] += a * fp16_to_f32(x[k]);
}

void f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t k = 0; k < n; ++k) y[k] = f32_to_fp16(x[k]);
}

const Kernels kScalar = {Isa::Scalar, quantize_act, gemm_q, dot_f32, dot_f16, axpy_f16, f32_to_f16};

}  // namespace

const Kernels &kernels_scalar() { return kScalar; }

}  // namespace cpu_fast
}  // namespace edgellm
