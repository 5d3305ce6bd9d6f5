// What the CPU backends (the scalar reference in cpu_backend.cpp, the SIMD one in
// src/backend/cpu_fast/) share: activations as float vectors in host memory, their range checks,
// the gated activation's formula, and the ops that only move or combine those floats.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "core/first_max.h"

namespace edgellm {
namespace host {

class HostBuffer : public Buffer {
public:
    explicit HostBuffer(size_t n) : v(n, 0.f) { n_floats = n; }
    std::vector<float> v;
};

inline float *F(Buffer &b) { return static_cast<HostBuffer &>(b).v.data(); }
inline const float *F(const Buffer &b) { return static_cast<const HostBuffer &>(b).v.data(); }

inline void check_range(const Buffer &b, size_t off, size_t n) {
    if (off + n > b.n_floats) fail(EDGELLM_ERR_INTERNAL, "buffer access out of range");
}

// act(g) of the gated FFN (the formulas of transformers' ACT2FN "silu" and "gelu_pytorch_tanh").
// Internal linkage: each backend keeps its own copy, compiled with its own floating-point flags
// (the reference's -ffp-contract=off), never one picked by the linker for both.
static inline float activate(float g, Activation act) {
    if (act == Activation::GeluTanh) {
        const float k = 0.7978845608028654f;  // sqrt(2 / pi)
        return 0.5f * g * (1.f + std::tanh(k * (g + 0.044715f * g * g * g)));
    }
    return g / (1.f + std::exp(-g));
}

// A Backend whose activations are HostBuffers: their memory and the element-wise ops.
class HostBackend : public Backend {
public:
    std::unique_ptr<Buffer> alloc(size_t n) override { return std::make_unique<HostBuffer>(n); }
    void write(Buffer &dst, const float *src, size_t n, size_t off) override {
        check_range(dst, off, n);
        std::memcpy(F(dst) + off, src, n * 4);
    }
    void read(const Buffer &src, float *dst, size_t n, size_t off) override {
        check_range(src, off, n);
        std::memcpy(dst, F(src) + off, n * 4);
    }
    void add(Buffer &y, const Buffer &x, size_t n) override {
        check_range(y, 0, n);
        check_range(x, 0, n);
        for (size_t i = 0; i < n; ++i) F(y)[i] += F(x)[i];
    }
    void softcap(Buffer &x, size_t n, float cap) override {
        check_range(x, 0, n);
        for (size_t i = 0; i < n; ++i) F(x)[i] = cap * std::tanh(F(x)[i] / cap);
    }
    void copy(Buffer &dst, const Buffer &src, size_t n, size_t dst_off, size_t src_off) override {
        check_range(dst, dst_off, n);
        check_range(src, src_off, n);
        std::memmove(F(dst) + dst_off, F(src) + src_off, n * 4);
    }
    int32_t argmax(const Buffer &x, size_t n) override {
        if (n == 0 || n > (size_t)INT32_MAX) fail(EDGELLM_ERR_INTERNAL, "argmax of %zu values", n);
        check_range(x, 0, n);
        return (int32_t)first_max(F(x), n);
    }
};

}  // namespace host
}  // namespace edgellm
