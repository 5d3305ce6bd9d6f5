// The packed tile layout of kernels.h: repacking from the run formats of model/tensor.h, the
// scalar unpacking used by embeddings, and the choice of kernel level from the CPU's features.
#include <cstring>

#include "backend/cpu_fast/kernels.h"
#include "core/error.h"
#include "core/fp16.h"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace edgellm {
namespace cpu_fast {

const char *isa_name(Isa isa) {
    switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::Neon: return "neon";
    case Isa::NeonDot: return "dotprod";
    }
    return "?";
}

bool isa_from_name(const char *name, Isa &out) {
    for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni, Isa::Neon, Isa::NeonDot})
        if (std::strcmp(name, isa_name(i)) == 0) {
            out = i;
            return true;
        }
    return false;
}

int available_isas(Isa *out, int max) {
    int n = 0;
    auto add = [&](Isa i) {
        if (n < max) out[n++] = i;
    };
    add(Isa::Scalar);
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("f16c");
    if (avx2) add(Isa::Avx2);
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
        add(Isa::Avx512Vnni);
#elif defined(__aarch64__)
    add(Isa::Neon);  // Advanced SIMD is part of every aarch64 CPU
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) add(Isa::NeonDot);
#endif
#endif
    return n;
}

const Kernels &kernels_for(Isa isa) {
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return kernels_avx2();
    case Isa::Avx512Vnni: return kernels_avx512vnni();
#endif
#if defined(__aarch64__)
    case Isa::Neon: return kernels_neon();
    case Isa::NeonDot: return kernels_neon_dot();
#endif
    default: return kernels_scalar();
    }
}

void allocate_packed(Pack p, int64_t rows, int64_t cols, PackedMatrix &out) {
    if (cols % kGroup != 0) fail(EDGELLM_ERR_INTERNAL, "packed matrix of %lld columns", (long long)cols);
    out.pack = p;
    out.rows = rows;
    out.cols = cols;
    out.groups = cols / kGroup;
    out.tiles = (rows + kTileRows - 1) / kTileRows;
    out.block_bytes = pack_block_bytes(p);
    out.data.resize((size_t)out.tiles * out.groups * out.block_bytes);
}

// Fills tiles covering rows [row0, row1) (row0 a multiple of 4; row1 a multiple of 4 or rows).
void repack(const QTensorView &src, PackedMatrix &out, int64_t row0, int64_t row1) {
    const int64_t G = out.groups;
    const bool q8 = out.pack == Pack::Q8_0, mins = out.pack == Pack::Q4_1;
    for (int64_t t = row0 / kTileRows; t * kTileRows < row1; ++t) {
        uint8_t *tile = out.data.data() + (size_t)t * G * out.block_bytes;
        for (int64_t g = 0; g < G; ++g) {
            uint8_t *b = tile + (size_t)g * out.block_bytes;
            std::memset(b, 0, out.block_bytes);
            uint16_t d[4] = {0, 0, 0, 0}, m[4] = {0, 0, 0, 0};
            for (int r = 0; r < kTileRows; ++r) {
                const int64_t row = t * kTileRows + r;
                if (row >= src.rows) break;
                d[r] = src.scales[row * G + g];
                if (mins) m[r] = src.mins[row * G + g];
                if (q8) {
                    std::memcpy(b + 8 + r * 32, src.data + (size_t)row * src.cols + g * kGroup, 32);
                } else {
                    // source: element k in word k/8 at bits 4 (k % 8); words 0, 1 hold elements
                    // 0..15 (low nibbles here), words 2, 3 elements 16..31 (high nibbles)
                    const uint32_t *w = reinterpret_cast<const uint32_t *>(src.data) + row * (src.cols / 8) + g * 4;
                    uint8_t *q = b + (mins ? 16 : 8) + r * 16;
                    for (int j = 0; j < 8; ++j) {
                        q[j] = (uint8_t)(((w[0] >> (4 * j)) & 15u) | (((w[2] >> (4 * j)) & 15u) << 4));
                        q[j + 8] = (uint8_t)(((w[1] >> (4 * j)) & 15u) | (((w[3] >> (4 * j)) & 15u) << 4));
                    }
                }
            }
            std::memcpy(b, d, 8);
            if (mins) std::memcpy(b + 8, m, 8);
        }
    }
}

void unpack_row(const PackedMatrix &w, int64_t r, float *out) {
    const int64_t t = r / kTileRows;
    const int rr = (int)(r % kTileRows);
    for (int64_t g = 0; g < w.groups; ++g) {
        const uint8_t *b = w.tile(t) + (size_t)g * w.block_bytes;
        uint16_t dh[8];
        std::memcpy(dh, b, w.pack == Pack::Q4_1 ? 16 : 8);
        const float d = fp16_to_f32(dh[rr]);
        float *o = out + g * kGroup;
        if (w.pack == Pack::Q8_0) {
            const int8_t *q = reinterpret_cast<const int8_t *>(b + 8) + rr * 32;
            for (int j = 0; j < 32; ++j) o[j] = d * (float)q[j];
        } else {
            const float off = w.pack == Pack::Q4_1 ? fp16_to_f32(dh[4 + rr]) : -8.f * d;
            const uint8_t *q = b + (w.pack == Pack::Q4_1 ? 16 : 8) + rr * 16;
            for (int j = 0; j < 16; ++j) {
                o[j] = d * (float)(q[j] & 15) + off;
                o[j + 16] = d * (float)(q[j] >> 4) + off;
            }
        }
    }
}

}  // namespace cpu_fast
}  // namespace edgellm
