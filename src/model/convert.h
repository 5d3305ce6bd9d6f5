// Conversion of tensors as stored in model files (safetensors f32/f16/bf16, GGUF F32/F16/BF16/
// Q4_0/Q4_1/Q8_0/Q4_K/Q5_K/Q6_K blocks) into the run formats of tensor.h, one row at a time so a
// loader never holds more than the source mapping plus the converted tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/tensor.h"

namespace edgellm {

// Element / block formats of model files.
enum class SrcType : int { F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K };

const char *src_type_name(SrcType t);
int src_block_elems(SrcType t);   // elements per block (1 for float types)
int src_block_bytes(SrcType t);   // bytes per block

// A 2-D tensor inside a mapped file: `rows` rows of `cols` elements, rows contiguous.
// The caller has checked that data holds rows * row_bytes() bytes and cols % block == 0.
struct SourceTensor {
    std::string name;   // for messages: "<file>: <tensor>"
    SrcType type = SrcType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    const uint8_t *data = nullptr;
    size_t row_bytes() const { return (size_t)(cols / src_block_elems(type)) * (size_t)src_block_bytes(type); }
};

// Dequantizes one source row (cols elements) into out.
void dequantize_src_row(SrcType t, const uint8_t *row, int64_t cols, float *out);

// Run format a source type keeps when the caller asks for nothing else (EDGELLM_WEIGHTS_AUTO):
// F32→F32, F16→F16, BF16→F16, Q4_0→Q4, Q4_1→Q4 (mins), Q8_0→Q8_0, Q4_K→Q4 (mins), Q5_K/Q6_K→Q8_0.
DType natural_dtype(SrcType t);

// Converts a matrix into `target` (F32, F16, Q8_0 or Q4). Q8_0/Q4 with cols % 32 != 0 fall back to
// F16. Q4_0/Q4_1/Q8_0 into their natural format are repacked losslessly; Q4_K into Q4 keeps the
// 4-bit codes with per-32 scale d*sc and min -dmin*m rounded to fp16; any other pair goes through
// float (dequantize, then quantize_row). When row_src is non-empty, output row r is source row
// row_src[r] (used to undo llama.cpp's Q/K permutation).
QTensor convert_matrix(const SourceTensor &src, DType target,
                       const std::vector<int64_t> &row_src = {});

// A 1-D tensor (norm weights) as float.
std::vector<float> convert_vector(const SourceTensor &src);

// For attn_q / attn_k rows written by llama.cpp's converter (interleaved RoPE pairs): the source
// row of each output row in Hugging Face (rotate-half) order. rows = n_heads * head_dim.
std::vector<int64_t> gguf_unpermute_rows(int64_t rows, int64_t n_heads);

}  // namespace edgellm
