// Block decoders and conversions (src/model/convert.cpp): every GGUF block type against gguf-py's
// dequantization of random blocks (goldens.json "blocks"), lossless repacks, the Q4_K → Q4 bound,
// requantization bounds, the F16 fallback and llama.cpp's Q/K row un-permutation.
#include <cmath>
#include <random>
#include <string>

#include "core/fp16.h"
#include "model/convert.h"
#include "test_loader_util.h"

using namespace edgellm;
using namespace loader_test;

namespace {

std::vector<uint8_t> unhex(const std::string &h) {
    std::vector<uint8_t> b(h.size() / 2);
    for (size_t i = 0; i < b.size(); ++i) b[i] = (uint8_t)std::stoi(h.substr(2 * i, 2), nullptr, 16);
    return b;
}

struct Blocks {
    std::vector<uint8_t> bytes;  // 2 rows
    std::vector<float> values;   // 2 x 512
};

Blocks blocks(const char *type) {
    simdjson::dom::element e;
    REQUIRE(goldens().root["blocks"][type].get(e) == simdjson::SUCCESS);
    Blocks b;
    simdjson::dom::array hex, vals;
    REQUIRE(e["hex"].get(hex) == simdjson::SUCCESS);
    REQUIRE(e["values"].get(vals) == simdjson::SUCCESS);
    for (auto h : hex) {
        std::string_view s;
        REQUIRE(h.get(s) == simdjson::SUCCESS);
        std::vector<uint8_t> r = unhex(std::string(s));
        b.bytes.insert(b.bytes.end(), r.begin(), r.end());
    }
    for (auto v : vals) {
        std::vector<float> r = floats(v);
        b.values.insert(b.values.end(), r.begin(), r.end());
    }
    REQUIRE(b.values.size() == 1024);
    return b;
}

const std::pair<const char *, SrcType> kTypes[] = {
    {"Q4_0", SrcType::Q4_0}, {"Q4_1", SrcType::Q4_1}, {"Q8_0", SrcType::Q8_0}, {"Q4_K", SrcType::Q4_K},
    {"Q5_K", SrcType::Q5_K}, {"Q6_K", SrcType::Q6_K}, {"BF16", SrcType::BF16}};

double max_err(const std::vector<float> &a, const float *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; ++i) e = std::max(e, (double)std::fabs(a[i] - b[i]));
    return e;
}

}  // namespace

TEST_CASE("every GGUF block decoder matches gguf-py") {
    for (auto [name, t] : kTypes) {
        const std::string type_name = name;
        CAPTURE(type_name);
        Blocks b = blocks(name);
        SourceTensor s{name, t, 2, 512, b.bytes.data()};
        REQUIRE(s.row_bytes() * 2 == b.bytes.size());
        std::vector<float> got(1024);
        for (int r = 0; r < 2; ++r) dequantize_src_row(t, b.bytes.data() + r * s.row_bytes(), 512, got.data() + r * 512);
        for (size_t i = 0; i < got.size(); ++i)
            REQUIRE_MESSAGE(got[i] == doctest::Approx(b.values[i]).epsilon(1e-6).scale(1e-6), name << " element " << i);
    }
}

TEST_CASE("natural formats: lossless repack of Q4_0/Q4_1/Q8_0, bounded Q4_K/Q5_K/Q6_K") {
    for (auto [name, t] : kTypes) {
        const std::string type_name = name;
        CAPTURE(type_name);
        Blocks b = blocks(name);
        SourceTensor s{name, t, 2, 512, b.bytes.data()};
        QTensor q = convert_matrix(s, natural_dtype(t));
        CHECK(q.type == natural_dtype(t));
        std::vector<float> row(512);
        for (int r = 0; r < 2; ++r) {
            dequantize_row(q, r, row.data());
            double amax = 0;
            for (int k = 0; k < 512; ++k) amax = std::max(amax, (double)std::fabs(b.values[r * 512 + k]));
            double err = max_err(row, b.values.data() + r * 512, 512);
            double tol;
            switch (t) {
            case SrcType::Q4_0: case SrcType::Q4_1: case SrcType::Q8_0: tol = 0; break;  // same codes, same scales
            case SrcType::Q4_K: tol = 3e-3 * amax; break;  // fp16 rounding of d*sc (<= 15 steps) and dmin*m
            case SrcType::BF16: tol = 1e-3 * amax; break;  // → F16 rounding (|x| < 65504 here)
            default: tol = amax / 254.0 * 1.02; break;     // Q5_K/Q6_K → Q8_0: half a step
            }
            CHECK_MESSAGE(err <= tol, name << " row " << r << " err " << err << " tol " << tol);
        }
        if (t == SrcType::Q4_1 || t == SrcType::Q4_K) CHECK(q.has_mins());
        if (t == SrcType::Q4_0) CHECK_FALSE(q.has_mins());
    }
}

TEST_CASE("conversion targets and the F16 fallback for columns not a multiple of 32") {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    std::vector<float> x(5 * 72);
    for (float &v : x) v = nd(rng);
    SourceTensor s{"x", SrcType::F32, 5, 72, reinterpret_cast<const uint8_t *>(x.data())};
    CHECK(convert_matrix(s, DType::Q4).type == DType::F16);
    CHECK(convert_matrix(s, DType::Q8_0).type == DType::F16);
    QTensor f = convert_matrix(s, DType::F32);
    REQUIRE(f.type == DType::F32);
    std::vector<float> row(72);
    dequantize_row(f, 3, row.data());
    CHECK(max_err(row, x.data() + 3 * 72, 72) == 0.0);

    std::vector<float> y(3 * 64);
    for (float &v : y) v = nd(rng);
    SourceTensor s2{"y", SrcType::F32, 3, 64, reinterpret_cast<const uint8_t *>(y.data())};
    for (DType t : {DType::Q8_0, DType::Q4, DType::F16}) {
        QTensor q = convert_matrix(s2, t);
        CHECK(q.type == t);
        std::vector<float> r(64);
        for (int i = 0; i < 3; ++i) {
            dequantize_row(q, i, r.data());
            double amax = 0;
            for (int k = 0; k < 64; ++k) amax = std::max(amax, (double)std::fabs(y[i * 64 + k]));
            double tol = t == DType::Q8_0 ? amax / 254 * 1.01 : t == DType::Q4 ? amax / 8 * 1.01 : amax * 1e-3;
            CHECK(max_err(r, y.data() + i * 64, 64) <= tol);
        }
    }
}

TEST_CASE("GGUF Q/K un-permutation") {
    // One head of 4: GGUF rows (0,1,2,3) = HF rows (0,2,1,3).
    CHECK(gguf_unpermute_rows(4, 1) == std::vector<int64_t>{0, 2, 1, 3});
    // Two heads of 6: within each head GGUF row 2i + j is HF row 3j + i.
    CHECK(gguf_unpermute_rows(12, 2) == std::vector<int64_t>{0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11});
    // Quantized rows move whole, so un-permuting Q4_0 rows is lossless.
    Blocks b = blocks("Q4_0");
    SourceTensor s{"q", SrcType::Q4_0, 2, 512, b.bytes.data()};
    QTensor q = convert_matrix(s, DType::Q4, gguf_unpermute_rows(2, 1));
    std::vector<float> row(512);
    dequantize_row(q, 0, row.data());
    CHECK(max_err(row, b.values.data(), 512) == 0.0);  // row 0 stays
    expect_error([] { gguf_unpermute_rows(6, 4); }, EDGELLM_ERR_INVALID_MODEL, "un-permute");
}
