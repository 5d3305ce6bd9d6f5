// The fast CPU backend's kernels: the packed weight layout they stream, the int8 activations they
// read, and one table of function pointers per instruction-set level (scalar, AVX2, AVX-512 VNNI,
// NEON, NEON dotprod). The backend picks a table at run time from the CPU's features.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/buffer.h"

namespace edgellm {
namespace cpu_fast {

// Instruction-set levels, lowest first within each architecture. A build has scalar plus its own
// architecture's levels; EDGELLM_CPU_ISA or CpuFastOptions::max_isa caps the level chosen.
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512Vnni = 2, Neon = 3, NeonDot = 4 };
const char *isa_name(Isa isa);
bool isa_from_name(const char *name, Isa &out);
// Levels this build has and this CPU runs, lowest first (always starts with Scalar).
int available_isas(Isa *out, int max);

// Quantized weights, repacked at load into tiles of kTileRows rows. For tile t and group g
// (32 columns) one block holds, in this order:
//   uint16 d[4]                 fp16 scales of the tile's 4 rows
//   uint16 m[4]                 fp16 minimums (Q4_1 only)
//   uint8  q[4][16]             Q4: row r's byte j = element j (low nibble) | element j+16 (high)
//   int8   q[4][32]             Q8_0: row r's 32 values in order
// Blocks of one tile follow each other along K, tiles follow each other: the kernel streams one
// contiguous run per tile. Rows past `rows` in the last tile are zero. Values:
//   Q4_0: w = d * (q - 8)   Q4_1: w = d * q + m   Q8_0: w = d * q
enum class Pack : int { Q4_0 = 0, Q4_1 = 1, Q8_0 = 2 };
constexpr int kTileRows = 4;
constexpr int kGroup = 32;

inline size_t pack_block_bytes(Pack p) {
    return p == Pack::Q4_0 ? 8 + 64 : p == Pack::Q4_1 ? 16 + 64 : 8 + 128;
}

struct PackedMatrix {
    Pack pack = Pack::Q4_0;
    int64_t rows = 0, cols = 0;
    int64_t groups = 0;  // cols / 32
    int64_t tiles = 0;   // ceil(rows / 4)
    size_t block_bytes = 0;
    AlignedBuffer data;  // tiles * groups * block_bytes
    const uint8_t *tile(int64_t t) const { return data.data() + (size_t)t * groups * block_bytes; }
};

// Activations of n tokens quantized to int8 in groups of 32 along K: q = round(x / d) with
// d = max|x| / 127 per group, s = d * sum(q) (folds the weights' offset or minimum out of the
// integer product).
struct ActQ8 {
    int n = 0;
    int64_t K = 0, groups = 0;
    AlignedBuffer q;  // int8 (n, K)
    AlignedBuffer d;  // float (n, groups)
    AlignedBuffer s;  // float (n, groups)
    const int8_t *qrow(int i) const { return reinterpret_cast<const int8_t *>(q.data()) + (size_t)i * K; }
    const float *drow(int i) const { return d.as<float>() + (size_t)i * groups; }
    const float *srow(int i) const { return s.as<float>() + (size_t)i * groups; }
};

// One level's kernels. Every function is pure and thread-safe.
struct Kernels {
    Isa isa;
    // x[K] (K % 32 == 0) -> q[K], d[K/32], s[K/32]. Rounds to nearest even; every level gives the
    // same bytes for the same input.
    void (*quantize_act)(const float *x, int64_t K, int8_t *q, float *d, float *s);
    // y[i * ldy + 4 * t + r] (+)= row (4t + r) of w . token i of x, for tiles t in [t0, t1), every
    // token of x and rows < w.rows.
    void (*gemm_q)(const PackedMatrix &w, int64_t t0, int64_t t1, const ActQ8 &x, float *y,
                   int64_t ldy, bool accumulate);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*dot_f16)(const uint16_t *a, const float *b, int64_t n);  // a: IEEE half
    void (*axpy_f16)(float a, const uint16_t *x, float *y, int64_t n);  // y += a * x
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);        // round to nearest even
};

const Kernels &kernels_scalar();
#if defined(__x86_64__) || defined(_M_X64)
const Kernels &kernels_avx2();
const Kernels &kernels_avx512vnni();
#endif
#if defined(__aarch64__)
const Kernels &kernels_neon();
const Kernels &kernels_neon_dot();
#endif
const Kernels &kernels_for(Isa isa);  // a level of available_isas()

// Repacks a Q4 / Q8_0 matrix of the run formats (model/tensor.h) into tiles.
struct QTensorView {
    int type;  // DType: 3 = Q8_0, 4 = Q4
    int64_t rows, cols;
    const uint8_t *data;
    const uint16_t *scales, *mins;  // mins null: none
};
void repack(const QTensorView &src, PackedMatrix &out, int64_t row0, int64_t row1);
void allocate_packed(Pack p, int64_t rows, int64_t cols, PackedMatrix &out);
// Dequantizes row r of a packed matrix into out[cols].
void unpack_row(const PackedMatrix &w, int64_t r, float *out);

}  // namespace cpu_fast
}  // namespace edgellm
