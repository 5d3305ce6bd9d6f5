// Reference (scalar) quantization and dequantization of the run formats described in tensor.h.
#include "model/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"

namespace edgellm {

const char *dtype_name(DType t) {
    switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q4: return "q4";
    }
    return "?";
}

size_t QTensor::row_data_bytes(DType t, int64_t cols) {
    switch (t) {
    case DType::F32: return (size_t)cols * 4;
    case DType::F16:
    case DType::BF16: return (size_t)cols * 2;
    case DType::Q8_0: return (size_t)cols;
    case DType::Q4: return (size_t)cols / 2;
    }
    return 0;
}

void QTensor::allocate(DType t, int64_t r, int64_t c, bool with_mins) {
    if (r <= 0 || c <= 0) fail(EDGELLM_ERR_INVALID_MODEL, "tensor shape %lld x %lld is empty", (long long)r, (long long)c);
    if ((t == DType::Q8_0 || t == DType::Q4) && c % kGroupSize != 0)
        fail(EDGELLM_ERR_INTERNAL, "%s needs a column count divisible by 32, got %lld", dtype_name(t), (long long)c);
    type = t;
    rows = r;
    cols = c;
    data.resize(row_data_bytes(t, c) * (size_t)r);
    if (t == DType::Q8_0 || t == DType::Q4) {
        scales.resize((size_t)r * (size_t)(c / kGroupSize) * 2);
        if (t == DType::Q4 && with_mins) mins.resize(scales.size());
        else mins.clear();
    } else {
        scales.clear();
        mins.clear();
    }
}

void dequantize_row(const QTensor &t, int64_t r, float *out) {
    const int64_t K = t.cols;
    switch (t.type) {
    case DType::F32:
        std::memcpy(out, t.data.as<float>() + r * K, (size_t)K * 4);
        return;
    case DType::F16: {
        const uint16_t *p = t.data.as<uint16_t>() + r * K;
        for (int64_t k = 0; k < K; ++k) out[k] = fp16_to_f32(p[k]);
        return;
    }
    case DType::BF16: {
        const uint16_t *p = t.data.as<uint16_t>() + r * K;
        for (int64_t k = 0; k < K; ++k) out[k] = bf16_to_f32(p[k]);
        return;
    }
    case DType::Q8_0: {
        const int8_t *q = reinterpret_cast<const int8_t *>(t.data.data()) + r * K;
        const uint16_t *s = t.scales.as<uint16_t>() + r * (K / kGroupSize);
        for (int64_t g = 0; g < K / kGroupSize; ++g) {
            float d = fp16_to_f32(s[g]);
            for (int i = 0; i < kGroupSize; ++i) out[g * kGroupSize + i] = d * (float)q[g * kGroupSize + i];
        }
        return;
    }
    case DType::Q4: {
        const uint32_t *w = t.data.as<uint32_t>() + r * (K / 8);
        const uint16_t *s = t.scales.as<uint16_t>() + r * (K / kGroupSize);
        const uint16_t *m = t.has_mins() ? t.mins.as<uint16_t>() + r * (K / kGroupSize) : nullptr;
        for (int64_t g = 0; g < K / kGroupSize; ++g) {
            const float d = fp16_to_f32(s[g]);
            const float off = m ? fp16_to_f32(m[g]) : -8.0f * d;  // w = d*q + off
            float *o = out + g * kGroupSize;
            for (int word = 0; word < 4; ++word) {
                const uint32_t bits = w[g * 4 + word];
                for (int j = 0; j < 8; ++j) o[word * 8 + j] = d * (float)((bits >> (4 * j)) & 0xFu) + off;
            }
        }
        return;
    }
    }
}

// Round to nearest, ties to even, as std::nearbyint in the default rounding mode, for |v| < 2^22
// (quantizer inputs are within +-128 here), but inlined: adding 1.5 * 2^23 leaves no fraction bits.
static inline float round_even(float v) {
    const float magic = 12582912.0f;  // the library is not built with -ffast-math, which would fold this
    return (v + magic) - magic;
}

void quantize_rows(const float *src, int64_t rows, int64_t cols, DType t, QTensor &out) {
    out.allocate(t, rows, cols, false);
    for (int64_t r = 0; r < rows; ++r) quantize_row(src + r * cols, r, out);
}

void quantize_row(const float *x, int64_t r, QTensor &out) {
    const int64_t K = out.cols;
    const DType t = out.type;
    if (r < 0 || r >= out.rows) fail(EDGELLM_ERR_INTERNAL, "quantize_row: row %lld out of range", (long long)r);
    if (out.has_mins()) fail(EDGELLM_ERR_INTERNAL, "quantize_row: no quantizer for Q4 with mins");
    {
        switch (t) {
        case DType::F32:
            std::memcpy(out.data.as<float>() + r * K, x, (size_t)K * 4);
            break;
        case DType::F16: {
            uint16_t *p = out.data.as<uint16_t>() + r * K;
            for (int64_t k = 0; k < K; ++k) p[k] = f32_to_fp16(x[k]);
            break;
        }
        case DType::BF16: {
            uint16_t *p = out.data.as<uint16_t>() + r * K;
            for (int64_t k = 0; k < K; ++k) p[k] = f32_to_bf16(x[k]);
            break;
        }
        case DType::Q8_0: {
            int8_t *q = reinterpret_cast<int8_t *>(out.data.data()) + r * K;
            uint16_t *s = out.scales.as<uint16_t>() + r * (K / kGroupSize);
            for (int64_t g = 0; g < K / kGroupSize; ++g) {
                const float *xg = x + g * kGroupSize;
                float amax = 0.f;
                for (int i = 0; i < kGroupSize; ++i) amax = std::max(amax, std::fabs(xg[i]));
                uint16_t dh = f32_to_fp16(amax / 127.f);
                float d = fp16_to_f32(dh);
                float id = d != 0.f ? 1.f / d : 0.f;
                s[g] = dh;
                for (int i = 0; i < kGroupSize; ++i) {
                    float v = round_even(xg[i] * id);
                    q[g * kGroupSize + i] = (int8_t)std::max(-127.f, std::min(127.f, v));
                }
            }
            break;
        }
        case DType::Q4: {
            // Symmetric, zero point 8: d = value of largest magnitude / -8 (as GGUF Q4_0), so
            // that extreme maps exactly to q = 0 and the other side gets up to +7.
            uint32_t *w = out.data.as<uint32_t>() + r * (K / 8);
            uint16_t *s = out.scales.as<uint16_t>() + r * (K / kGroupSize);
            for (int64_t g = 0; g < K / kGroupSize; ++g) {
                const float *xg = x + g * kGroupSize;
                float amax = 0.f, vmax = 0.f;
                for (int i = 0; i < kGroupSize; ++i) {
                    if (std::fabs(xg[i]) > amax) {
                        amax = std::fabs(xg[i]);
                        vmax = xg[i];
                    }
                }
                uint16_t dh = f32_to_fp16(vmax / -8.f);
                float d = fp16_to_f32(dh);
                float id = d != 0.f ? 1.f / d : 0.f;
                s[g] = dh;
                for (int word = 0; word < kGroupSize / 8; ++word) {  // 8 nibbles per word
                    uint32_t bits = 0;
                    for (int j = 0; j < 8; ++j) {
                        float v = round_even(xg[word * 8 + j] * id) + 8.f;
                        bits |= (uint32_t)std::max(0.f, std::min(15.f, v)) << (4 * j);
                    }
                    w[g * (kGroupSize / 8) + word] = bits;
                }
            }
            break;
        }
        }
    }
}

}  // namespace edgellm
