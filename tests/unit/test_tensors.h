// Random test data shared by the backend op tests: float vectors, tensors in every run format
// (Q4 with mins as GGUF Q4_1 lays them out), and deep copies of tensors.
#pragma once

#include <cstring>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "model/tensor.h"

namespace edgellm_test {

using namespace edgellm;

inline std::vector<float> rand_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float &x : v) x = u(g);
    return v;
}

// A random tensor in format t. Q4 with mins: random nibbles, scales and mins (as GGUF Q4_1).
inline QTensor rand_tensor(DType t, int64_t rows, int64_t cols, bool mins, uint32_t seed) {
    QTensor q;
    if (t == DType::Q4 && mins) {
        q.allocate(DType::Q4, rows, cols, true);
        std::mt19937 g(seed);
        uint32_t *w = q.data.as<uint32_t>();
        for (size_t i = 0; i < q.data.size() / 4; ++i) w[i] = g();
        std::uniform_real_distribution<float> us(0.001f, 0.1f), um(-0.5f, 0.5f);
        uint16_t *s = q.scales.as<uint16_t>(), *m = q.mins.as<uint16_t>();
        for (size_t i = 0; i < q.scales.size() / 2; ++i) {
            s[i] = f32_to_fp16(us(g));
            m[i] = f32_to_fp16(um(g));
        }
        return q;
    }
    std::vector<float> src = rand_vec((size_t)(rows * cols), seed, -0.5f, 0.5f);
    quantize_rows(src.data(), rows, cols, t, q);
    return q;
}

inline QTensor clone(const QTensor &a) {
    QTensor b;
    b.allocate(a.type, a.rows, a.cols, a.has_mins());
    std::memcpy(b.data.data(), a.data.data(), a.data.size());
    if (!a.scales.empty()) std::memcpy(b.scales.data(), a.scales.data(), a.scales.size());
    if (!a.mins.empty()) std::memcpy(b.mins.data(), a.mins.data(), a.mins.size());
    return b;
}

}  // namespace edgellm_test
