// Row-wise conversion of file tensors into run formats. The GGUF block layouts decoded here
// (Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K) follow the GGUF specification; the unit tests check every
// one against gguf-py's independent dequantizer.
#include "model/convert.h"

#include <cstring>

#include "core/error.h"
#include "core/fp16.h"

namespace edgellm {

namespace {

uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    std::memcpy(&v, p, 2);  // files are little-endian, as are x86-64 and aarch64 Linux
    return v;
}
float load_f16(const uint8_t *p) { return fp16_to_f32(load_u16(p)); }

// All 65536 halves as floats (256 KiB, built once): f16 files convert at memory speed.
const float *fp16_table() {
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (uint32_t i = 0; i < 65536; ++i) t[i] = fp16_to_f32((uint16_t)i);
        return t;
    }();
    return table.data();
}

// 6-bit scale and min of sub-block j of a K-quant super-block (12 packed bytes).
void k_scale_min(int j, const uint8_t *q, int &sc, int &m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

void set_nibble(uint32_t *w, int64_t k, uint32_t q) { w[k / 8] |= (q & 0xFu) << (4 * (k % 8)); }

// Lossless repack of one row of Q4_0 / Q4_1 / Q8_0 blocks, or near-lossless of Q4_K, into row r.
void repack_row(SrcType t, const uint8_t *src, int64_t K, int64_t r, QTensor &out) {
    const int64_t G = K / kGroupSize;
    uint16_t *s = out.scales.as<uint16_t>() + r * G;
    if (t == SrcType::Q8_0) {
        int8_t *q = reinterpret_cast<int8_t *>(out.data.data()) + r * K;
        for (int64_t g = 0; g < G; ++g) {
            const uint8_t *b = src + g * 34;
            s[g] = load_u16(b);
            std::memcpy(q + g * kGroupSize, b + 2, 32);
        }
        return;
    }
    uint32_t *w = out.data.as<uint32_t>() + r * (K / 8);
    std::memset(w, 0, (size_t)K / 2);
    uint16_t *m = out.has_mins() ? out.mins.as<uint16_t>() + r * G : nullptr;
    if (t == SrcType::Q4_0 || t == SrcType::Q4_1) {
        const int bb = t == SrcType::Q4_0 ? 18 : 20;
        const int qoff = t == SrcType::Q4_0 ? 2 : 4;
        for (int64_t g = 0; g < G; ++g) {
            const uint8_t *b = src + g * bb;
            s[g] = load_u16(b);
            if (m) m[g] = load_u16(b + 2);
            const uint8_t *qs = b + qoff;
            for (int j = 0; j < 16; ++j) {  // element j: low nibble, element j + 16: high nibble
                set_nibble(w, g * 32 + j, qs[j] & 0xF);
                set_nibble(w, g * 32 + j + 16, qs[j] >> 4);
            }
        }
        return;
    }
    if (t == SrcType::Q4_K) {
        for (int64_t sb = 0; sb < K / 256; ++sb) {
            const uint8_t *b = src + sb * 144;
            const float d = load_f16(b), dmin = load_f16(b + 2);
            const uint8_t *sc12 = b + 4, *qs = b + 16;
            for (int sub = 0; sub < 8; ++sub) {  // sub-block of 32: nibble half sub%2 of qs chunk sub/2
                int sc, mn;
                k_scale_min(sub, sc12, sc, mn);
                const int64_t g = sb * 8 + sub;
                s[g] = f32_to_fp16(d * (float)sc);
                m[g] = f32_to_fp16(-dmin * (float)mn);
                const uint8_t *q = qs + 32 * (sub / 2);
                for (int l = 0; l < 32; ++l)
                    set_nibble(w, g * 32 + l, (sub % 2) ? (q[l] >> 4) : (q[l] & 0xF));
            }
        }
        return;
    }
    fail(EDGELLM_ERR_INTERNAL, "repack_row: %s has no repack path", src_type_name(t));
}

}  // namespace

const char *src_type_name(SrcType t) {
    switch (t) {
    case SrcType::F32: return "F32";
    case SrcType::F16: return "F16";
    case SrcType::BF16: return "BF16";
    case SrcType::Q4_0: return "Q4_0";
    case SrcType::Q4_1: return "Q4_1";
    case SrcType::Q8_0: return "Q8_0";
    case SrcType::Q4_K: return "Q4_K";
    case SrcType::Q5_K: return "Q5_K";
    case SrcType::Q6_K: return "Q6_K";
    }
    return "?";
}

int src_block_elems(SrcType t) {
    switch (t) {
    case SrcType::F32:
    case SrcType::F16:
    case SrcType::BF16: return 1;
    case SrcType::Q4_0:
    case SrcType::Q4_1:
    case SrcType::Q8_0: return 32;
    case SrcType::Q4_K:
    case SrcType::Q5_K:
    case SrcType::Q6_K: return 256;
    }
    return 1;
}

int src_block_bytes(SrcType t) {
    switch (t) {
    case SrcType::F32: return 4;
    case SrcType::F16:
    case SrcType::BF16: return 2;
    case SrcType::Q4_0: return 18;   // fp16 d, 16 B nibbles
    case SrcType::Q4_1: return 20;   // fp16 d, fp16 m, 16 B nibbles
    case SrcType::Q8_0: return 34;   // fp16 d, 32 int8
    case SrcType::Q4_K: return 144;  // fp16 d, fp16 dmin, 12 B scales, 128 B nibbles
    case SrcType::Q5_K: return 176;  // fp16 d, fp16 dmin, 12 B scales, 32 B high bits, 128 B nibbles
    case SrcType::Q6_K: return 210;  // 128 B low nibbles, 64 B high 2-bits, 16 int8 scales, fp16 d
    }
    return 4;
}

DType natural_dtype(SrcType t) {
    switch (t) {
    case SrcType::F32: return DType::F32;
    case SrcType::F16:
    case SrcType::BF16: return DType::F16;
    case SrcType::Q4_0:
    case SrcType::Q4_1:
    case SrcType::Q4_K: return DType::Q4;
    case SrcType::Q8_0:
    case SrcType::Q5_K:
    case SrcType::Q6_K: return DType::Q8_0;
    }
    return DType::F32;
}

void dequantize_src_row(SrcType t, const uint8_t *row, int64_t K, float *y) {
    switch (t) {
    case SrcType::F32:
        std::memcpy(y, row, (size_t)K * 4);
        return;
    case SrcType::F16: {
        const float *tab = fp16_table();
        for (int64_t k = 0; k < K; ++k) y[k] = tab[load_u16(row + 2 * k)];
        return;
    }
    case SrcType::BF16:
        for (int64_t k = 0; k < K; ++k) y[k] = bf16_to_f32(load_u16(row + 2 * k));
        return;
    case SrcType::Q4_0:
    case SrcType::Q4_1: {
        const bool q41 = t == SrcType::Q4_1;
        for (int64_t g = 0; g < K / 32; ++g) {
            const uint8_t *b = row + g * (q41 ? 20 : 18);
            const float d = load_f16(b), m = q41 ? load_f16(b + 2) : 0.f;
            const uint8_t *qs = b + (q41 ? 4 : 2);
            for (int j = 0; j < 16; ++j) {
                int lo = qs[j] & 0xF, hi = qs[j] >> 4;
                y[g * 32 + j] = q41 ? d * (float)lo + m : d * (float)(lo - 8);
                y[g * 32 + j + 16] = q41 ? d * (float)hi + m : d * (float)(hi - 8);
            }
        }
        return;
    }
    case SrcType::Q8_0:
        for (int64_t g = 0; g < K / 32; ++g) {
            const uint8_t *b = row + g * 34;
            const float d = load_f16(b);
            for (int j = 0; j < 32; ++j) y[g * 32 + j] = d * (float)(int8_t)b[2 + j];
        }
        return;
    case SrcType::Q4_K:
    case SrcType::Q5_K: {
        const bool q5 = t == SrcType::Q5_K;
        for (int64_t sb = 0; sb < K / 256; ++sb) {
            const uint8_t *b = row + sb * (q5 ? 176 : 144);
            const float d = load_f16(b), dmin = load_f16(b + 2);
            const uint8_t *sc12 = b + 4;
            const uint8_t *qh = q5 ? b + 16 : nullptr;
            const uint8_t *qs = b + (q5 ? 48 : 16);
            float *out = y + sb * 256;
            for (int sub = 0; sub < 8; ++sub) {
                int sc, mn;
                k_scale_min(sub, sc12, sc, mn);
                const float dl = d * (float)sc, ml = dmin * (float)mn;
                const uint8_t *q = qs + 32 * (sub / 2);
                for (int l = 0; l < 32; ++l) {
                    int v = (sub % 2) ? (q[l] >> 4) : (q[l] & 0xF);
                    if (q5 && (qh[l] >> sub) & 1) v += 16;  // bit `sub` of qh[l] is the 5th bit
                    out[sub * 32 + l] = dl * (float)v - ml;
                }
            }
        }
        return;
    }
    case SrcType::Q6_K:
        for (int64_t sb = 0; sb < K / 256; ++sb) {
            const uint8_t *b = row + sb * 210;
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
            const float d = load_f16(b + 208);
            float *out = y + sb * 256;
            for (int half = 0; half < 2; ++half) {  // two halves of 128 elements
                const uint8_t *l0 = ql + 64 * half, *h0 = qh + 32 * half;
                const int8_t *s0 = sc + 8 * half;
                float *o = out + 128 * half;
                for (int l = 0; l < 32; ++l) {
                    const int is = l / 16;
                    int q1 = ((l0[l] & 0xF) | (((h0[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((l0[l + 32] & 0xF) | (((h0[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((l0[l] >> 4) | (((h0[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((l0[l + 32] >> 4) | (((h0[l] >> 6) & 3) << 4)) - 32;
                    o[l] = d * (float)s0[is] * (float)q1;
                    o[l + 32] = d * (float)s0[is + 2] * (float)q2;
                    o[l + 64] = d * (float)s0[is + 4] * (float)q3;
                    o[l + 96] = d * (float)s0[is + 6] * (float)q4;
                }
            }
        }
        return;
    }
}

QTensor convert_matrix(const SourceTensor &src, DType target, const std::vector<int64_t> &row_src) {
    const int64_t R = src.rows, K = src.cols;
    if ((target == DType::Q4 || target == DType::Q8_0) && K % kGroupSize != 0) target = DType::F16;
    if (target == DType::BF16) target = DType::F16;
    if (!row_src.empty() && (int64_t)row_src.size() != R)
        fail(EDGELLM_ERR_INTERNAL, "%s: row map size mismatch", src.name.c_str());
    const size_t rb = src.row_bytes();
    auto src_row = [&](int64_t r) {
        return src.data + (size_t)(row_src.empty() ? r : row_src[(size_t)r]) * rb;
    };

    QTensor out;
    const bool repack = natural_dtype(src.type) == target &&
                        (src.type == SrcType::Q4_0 || src.type == SrcType::Q4_1 ||
                         src.type == SrcType::Q8_0 || src.type == SrcType::Q4_K);
    if (repack) {
        out.allocate(target, R, K, src.type == SrcType::Q4_1 || src.type == SrcType::Q4_K);
        for (int64_t r = 0; r < R; ++r) repack_row(src.type, src_row(r), K, r, out);
        return out;
    }
    out.allocate(target, R, K, false);
    if (src.type == SrcType::F16 && target == DType::F16) {
        for (int64_t r = 0; r < R; ++r)
            std::memcpy(out.data.data() + (size_t)r * rb, src_row(r), rb);
        return out;
    }
    std::vector<float> row((size_t)K);
    for (int64_t r = 0; r < R; ++r) {
        dequantize_src_row(src.type, src_row(r), K, row.data());
        quantize_row(row.data(), r, out);
    }
    return out;
}

std::vector<float> convert_vector(const SourceTensor &src) {
    std::vector<float> v((size_t)(src.rows * src.cols));
    for (int64_t r = 0; r < src.rows; ++r)
        dequantize_src_row(src.type, src.data + (size_t)r * src.row_bytes(), src.cols, v.data() + r * src.cols);
    return v;
}

std::vector<int64_t> gguf_unpermute_rows(int64_t rows, int64_t n_heads) {
    if (n_heads <= 0 || rows % n_heads != 0 || (rows / n_heads) % 2 != 0)
        fail(EDGELLM_ERR_INVALID_MODEL, "cannot un-permute %lld rows into %lld heads of even size",
             (long long)rows, (long long)n_heads);
    const int64_t hd = rows / n_heads, half = hd / 2;
    std::vector<int64_t> map((size_t)rows);
    for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t i = 0; i < half; ++i)
            for (int64_t j = 0; j < 2; ++j)  // GGUF row h*hd + 2i + j is HF row h*hd + j*half + i
                map[(size_t)(h * hd + j * half + i)] = h * hd + 2 * i + j;
    return map;
}

}  // namespace edgellm
