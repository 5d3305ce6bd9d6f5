// Host-side weight matrices in the run formats shared by every backend.
//
// A matrix has `rows` outputs and `cols` inputs (K), K contiguous (row-major, y = W x).
//   F32 : float   data[rows * cols]
//   F16 : uint16  data[rows * cols]                 (IEEE half bits)
//   Q8_0: int8    data[rows * cols], uint16 scales[rows * cols/32]   w = d * q
//   Q4  : uint32  data[rows * cols/8], uint16 scales[rows * cols/32] (+ uint16 mins, same shape)
//         Element k of a row sits in word k/8 at bits 4*(k%8) (MLC q4f16_1 packing), so one group
//         of 32 weights is one aligned 16-byte uint4. Without mins: w = d * (q - 8) (GGUF Q4_0,
//         our own quantizer); with mins: w = d * q + m (GGUF Q4_1, Q4_K sub-blocks).
// Structure-of-arrays (packed weights apart from scales) lets a GPU read both with wide loads.
// Q8_0 and Q4 need cols % 32 == 0; loaders fall back to F16 for other shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.h"

namespace edgellm {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2, Q8_0 = 3, Q4 = 4 };

const char *dtype_name(DType t);

constexpr int kGroupSize = 32;  // quantization group along K

struct QTensor {
    DType type = DType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    AlignedBuffer data;    // see layout above
    AlignedBuffer scales;  // fp16, rows * cols/32 (Q8_0, Q4)
    AlignedBuffer mins;    // fp16, rows * cols/32 (Q4 with mins), else empty

    bool empty() const { return rows == 0; }
    bool has_mins() const { return !mins.empty(); }
    size_t bytes() const { return data.size() + scales.size() + mins.size(); }
    // Bytes of the packed weights of one row.
    static size_t row_data_bytes(DType t, int64_t cols);
    // Allocates data/scales (and mins if with_mins) for the given shape and type.
    void allocate(DType t, int64_t rows, int64_t cols, bool with_mins = false);
};

// Dequantizes row r of `t` into out[cols] (float). Reference implementation used by the CPU
// backend, tests and the embedding lookup.
void dequantize_row(const QTensor &t, int64_t r, float *out);

// Quantizes float rows into an allocated tensor of type `t` (F32, F16, Q8_0 or Q4 symmetric).
// src holds rows*cols floats. Q8_0/Q4 need cols % 32 == 0.
void quantize_rows(const float *src, int64_t rows, int64_t cols, DType t, QTensor &out);

// Quantizes one float row x[out.cols] into row r of an already allocated tensor (any type but
// Q4 with mins, which has no reference quantizer). Lets loaders convert row by row.
void quantize_row(const float *x, int64_t r, QTensor &out);

}  // namespace edgellm
