// Unit tests of the engine's building blocks: half/bfloat16 conversion, UTF-8 helpers, reference
// quantizers, the sampler, the thread pool and the CPU backend's ops on hand-computed cases.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "backend/backend.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/thread_pool.h"
#include "core/utf8.h"
#include "engine/sampler.h"
#include "greedy_rule.h"
#include "model/config.h"
#include "model/tensor.h"

using namespace edgellm;

TEST_CASE("fp16: every half value round-trips through float") {
    for (uint32_t h = 0; h < 65536; ++h) {
        float f = fp16_to_f32((uint16_t)h);
        if (std::isnan(f)) continue;
        CHECK(f32_to_fp16(f) == h);
    }
    CHECK(fp16_to_f32(f32_to_fp16(65504.f)) == 65504.f);
    CHECK(std::isinf(fp16_to_f32(f32_to_fp16(70000.f))));
    CHECK(fp16_to_f32(f32_to_fp16(1e-8f)) == 0.f);
    // Round to nearest even at the midpoint between 1 and 1+2^-10.
    CHECK(f32_to_fp16(1.0f + 0.00048828125f) == 0x3c00);
    CHECK(bf16_to_f32(f32_to_bf16(3.140625f)) == 3.140625f);
}

TEST_CASE("utf8: validation, complete prefix and replacement") {
    CHECK(utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80"));
    CHECK_FALSE(utf8_valid("\xc3"));
    CHECK_FALSE(utf8_valid("\xed\xa0\x80"));      // surrogate
    CHECK_FALSE(utf8_valid("\xc0\xaf"));          // overlong
    CHECK_FALSE(utf8_valid("\xf4\x90\x80\x80"));  // > U+10FFFF
    CHECK(utf8_complete_prefix("ab\xf0\x9f\x98") == 2);
    CHECK(utf8_complete_prefix("ab\xf0\x9f\x98\x80") == 6);
    CHECK(utf8_complete_prefix("ab\xff") == 3);
    CHECK(sanitize_utf8("a\xffz") == "a\xef\xbf\xbdz");
    CHECK(sanitize_utf8("a\xf0\x9f\x98") == "a\xef\xbf\xbd");  // one U+FFFD for the maximal subpart
}

TEST_CASE("quantize/dequantize: error bounds per format") {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.f, 1.f);
    const int rows = 5, cols = 96;
    std::vector<float> w(rows * cols);
    for (auto &x : w) x = nd(rng);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4}) {
        QTensor q;
        quantize_rows(w.data(), rows, cols, t, q);
        std::vector<float> out(cols);
        double max_err = 0;
        for (int r = 0; r < rows; ++r) {
            dequantize_row(q, r, out.data());
            for (int k = 0; k < cols; ++k) {
                // The error is bounded by half a quantization step of the row's group.
                float amax = 0;
                for (int i = k / 32 * 32; i < k / 32 * 32 + 32; ++i) amax = std::max(amax, std::fabs(w[r * cols + i]));
                // Q4 maps the extreme of the group to q = 0 (-8 steps); the other side reaches +7
                // steps only, so a value near +amax can be off by a whole step (as GGUF Q4_0).
                double step = t == DType::Q4 ? amax / 8.0 * 2.0 : t == DType::Q8_0 ? amax / 127.0 : 0.0;
                double err = std::fabs(out[k] - w[r * cols + k]);
                double bound = t == DType::F32 ? 0.0 : t == DType::F16 ? 1e-3 * std::fabs(w[r * cols + k]) + 1e-7
                             : t == DType::BF16 ? 8e-3 * std::fabs(w[r * cols + k]) + 1e-30
                                                : step * 0.5 * 1.01 + 1e-3 * amax;
                CHECK(err <= bound);
                max_err = std::max(max_err, err);
            }
        }
        MESSAGE(std::string(dtype_name(t)) << " max error " << max_err);
    }
}

TEST_CASE("Q4 with mins: w = d*q + m") {
    QTensor t;
    t.allocate(DType::Q4, 1, 32, true);
    std::memset(t.data.data(), 0, t.data.size());
    for (int k = 0; k < 32; ++k) t.data.as<uint32_t>()[k / 8] |= (uint32_t)(k % 16) << (4 * (k % 8));
    t.scales.as<uint16_t>()[0] = f32_to_fp16(0.5f);
    t.mins.as<uint16_t>()[0] = f32_to_fp16(-1.0f);
    std::vector<float> out(32);
    dequantize_row(t, 0, out.data());
    for (int k = 0; k < 32; ++k) CHECK(out[k] == doctest::Approx(0.5f * (k % 16) - 1.0f));
}

TEST_CASE("rope: llama3 scaling leaves high frequencies and divides low ones") {
    ModelConfig c;
    c.head_dim = 128;
    c.rope_theta = 500000.f;
    std::vector<float> base = rope_inv_freq(c);
    c.rope_scaling = RopeScaling::Llama3;
    c.rope_factor = 8.f;
    c.rope_low_freq_factor = 1.f;
    c.rope_high_freq_factor = 4.f;
    c.rope_original_ctx = 8192;
    std::vector<float> s = rope_inv_freq(c);
    CHECK(s[0] == base[0]);                                     // wavelength 2π < 2048
    CHECK(s[63] == doctest::Approx(base[63] / 8.f).epsilon(1e-6));  // wavelength > 8192
}

// Greedy sampling with every penalty neutral (the params the sampler tests start from).
static edgellm_generate_params greedy_params() {
    edgellm_generate_params p{};
    p.struct_size = sizeof p;
    p.temperature = 0.f;
    p.repetition_penalty = 1.f;
    p.penalty_last_n = 64;
    p.top_p = 1.f;
    return p;
}

TEST_CASE("sampler: greedy, determinism, penalties, top-k=1") {
    edgellm_generate_params p = greedy_params();
    std::vector<float> logits = {0.1f, 2.0f, 1.9f, -1.f};
    {
        Sampler s(p);
        auto l = logits;
        CHECK(s.sample(l.data(), 4, {}) == 1);
    }
    {
        p.repetition_penalty = 2.f;  // 2.0 -> 1.0 < 1.9
        Sampler s(p);
        auto l = logits;
        CHECK(s.sample(l.data(), 4, {1}) == 2);
        p.repetition_penalty = 1.f;
    }
    p.temperature = 1.0f;
    p.top_k = 1;
    {
        Sampler s(p);
        for (int i = 0; i < 10; ++i) {
            auto l = logits;
            CHECK(s.sample(l.data(), 4, {}) == 1);
        }
    }
    p.top_k = 0;
    p.seed = 1234;
    std::vector<int> a, b;
    Sampler s1(p), s2(p);
    std::set<int> seen;
    for (int i = 0; i < 200; ++i) {
        auto l1 = logits, l2 = logits;
        a.push_back(s1.sample(l1.data(), 4, {}));
        b.push_back(s2.sample(l2.data(), 4, {}));
        seen.insert(a.back());
    }
    CHECK(a == b);
    CHECK(seen.size() >= 3);  // temperature 1 over close logits visits several tokens
    p.min_p = 0.5f;           // p(x)/p(max) >= 0.5 keeps only tokens 1 and 2
    Sampler s3(p);
    for (int i = 0; i < 100; ++i) {
        auto l = logits;
        int t = s3.sample(l.data(), 4, {});
        CHECK((t == 1 || t == 2));
    }
}

TEST_CASE("thread pool: covers every index once and propagates exceptions") {
    ThreadPool pool(3);
    std::vector<int> hits(1001, 0);
    pool.parallel_for(1001, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) hits[(size_t)i]++;
    });
    for (int h : hits) CHECK(h == 1);
    CHECK_THROWS_AS(pool.parallel_for(10, [&](int64_t b, int64_t, int) {
        if (b > 0) throw Error(EDGELLM_ERR_INTERNAL, "x");
    }), Error);
    int sum = 0;
    pool.parallel_for(1, [&](int64_t b, int64_t e, int) { sum += (int)(e - b); });
    CHECK(sum == 1);
}

TEST_CASE("cpu backend: matmul, rms_norm, attention against hand computation") {
    auto be = make_cpu_backend({2});
    // W (3, 32) identity-like rows; x (2, 32)
    std::vector<float> w(3 * 32, 0.f), x(2 * 32);
    for (int r = 0; r < 3; ++r) w[r * 32 + r] = 1.f + r;
    for (int i = 0; i < 64; ++i) x[i] = (float)i;
    QTensor t;
    quantize_rows(w.data(), 3, 32, DType::F32, t);
    auto W = be->upload_matrix(std::move(t));
    auto X = be->alloc(64), Y = be->alloc(6);
    be->write(*X, x.data(), 64);
    be->matmul(*Y, *W, *X, 2, false);
    std::vector<float> y(6);
    be->read(*Y, y.data(), 6);
    CHECK(y == std::vector<float>{0.f, 2.f, 6.f, 32.f, 66.f, 102.f});
    be->matmul(*Y, *W, *X, 2, true);
    be->read(*Y, y.data(), 6);
    CHECK(y[5] == 204.f);

    auto g = be->upload_vector(std::vector<float>(32, 2.f));
    auto N = be->alloc(64);
    be->rms_norm(*N, *X, *g, 2, 32, 0.f);
    std::vector<float> n(64);
    be->read(*N, n.data(), 64);
    double ss = 0;
    for (int i = 0; i < 32; ++i) ss += (double)i * i;
    CHECK(n[5] == doctest::Approx(5.0 / std::sqrt(ss / 32) * 2).epsilon(1e-5));

    // Attention with one kv head and two query heads: uniform keys give the mean of values.
    const int hd = 4;
    auto kv = be->alloc_kv(1, 8, hd);
    std::vector<float> qv(2 * hd, 0.f), kvec(hd, 0.f), vvec(hd);
    auto Q = be->alloc(2 * hd), K = be->alloc(hd), V = be->alloc(hd), O = be->alloc(2 * hd);
    RopeTable rt;  // no rotation
    rt.head_dim = hd;
    rt.rot_dim = hd;
    rt.inv_freq.assign(hd / 2, 0.f);
    AttentionParams ap;
    ap.n_head = 2;
    ap.n_head_kv = 1;
    ap.head_dim = hd;
    ap.scale = 0.5f;
    for (int pos = 0; pos < 3; ++pos) {
        for (int d = 0; d < hd; ++d) vvec[d] = (float)(pos * 10 + d);
        be->write(*Q, qv.data(), 2 * hd);
        be->write(*K, kvec.data(), hd);
        be->write(*V, vvec.data(), hd);
        be->rope(*Q, 1, 2, pos, rt);
        be->rope(*K, 1, 1, pos, rt);
        be->kv_store(*kv, 0, *K, *V, pos, 1);
    }
    be->attention(*O, *Q, *kv, 0, 2, 1, ap);
    std::vector<float> o(2 * hd);
    be->read(*O, o.data(), 2 * hd);
    for (int h = 0; h < 2; ++h)
        for (int d = 0; d < hd; ++d) CHECK(o[h * hd + d] == doctest::Approx(10.f + d));
}

TEST_CASE("greedy argmax: the sampler and the CPU backend pick the first maximum, never a NaN") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = INFINITY;
    std::vector<std::vector<float>> cases = {
        {3.f},
        {nan},
        {1.f, 2.f, 2.f, -1.f},               // a tie: the first
        {nan, 1.f, 5.f, 5.f},                // a NaN at index 0 does not win
        {nan, nan, nan},                     // every value NaN: 0
        {1.f, nan, 1.f},
        {nan, -inf, nan, -inf},              // -inf beats NaN
        {-inf, -inf, -inf},
        {-0.f, 0.f},                         // -0 == +0: a tie
        {0.f, -0.f, nan},
        {-3e38f, -1e38f, -1e38f, -3.4e38f},  // large negative values
        {2.f, nan, 3.f, nan, 3.f},
        {nan, nan, -3e38f, inf, inf},
    };
    const std::vector<int32_t> expect = {0, 0, 1, 2, 0, 0, 1, 0, 0, 0, 1, 2, 3};
    REQUIRE(expect.size() == cases.size());
    for (size_t i = 0; i < cases.size(); ++i) CHECK(greedy_rule(cases[i]) == expect[i]);
    // Random values from a few levels, NaN and -inf among them: many ties.
    std::mt19937 rng(11);
    const float levels[] = {-2.f, -1.f, 0.f, 1.f, 2.f, nan, -inf};
    for (int k = 0; k < 200; ++k) {
        std::vector<float> v(1 + rng() % 300);
        const uint32_t top = 2 + rng() % 7;  // levels used: fewer gives more NaN / -inf runs
        for (float &x : v) x = levels[(rng() % top + (k % 2 ? 5 : 0)) % 7];
        cases.push_back(v);
    }
    edgellm_generate_params p = greedy_params();
    auto be = make_cpu_backend({1});
    int nan_first = 0;
    for (const std::vector<float> &v : cases) {
        const int32_t want = greedy_rule(v);
        CAPTURE(v.size());
        CAPTURE(want);
        Sampler s(p);
        std::vector<float> l = v;
        CHECK(s.sample(l.data(), (int32_t)v.size(), {}) == want);
        auto b = be->alloc(v.size() + 3);
        std::vector<float> padded = v;
        padded.insert(padded.end(), {inf, inf, inf});  // past n: never read
        be->write(*b, padded.data(), padded.size());
        CHECK(be->argmax(*b, v.size()) == want);
        nan_first += std::isnan(v[0]) && want > 0;
    }
    CHECK(nan_first > 10);  // the NaN-at-0 rule is exercised
}

TEST_CASE("sampler: plain_greedy only where sample() is the argmax of the logits as they are") {
    edgellm_generate_params p = greedy_params();
    CHECK(Sampler(p).plain_greedy());
    p.temperature = -1.f;
    CHECK(Sampler(p).plain_greedy());
    p.temperature = 0.7f;
    CHECK_FALSE(Sampler(p).plain_greedy());
    p.temperature = 0.f;
    p.repetition_penalty = 1.1f;
    CHECK_FALSE(Sampler(p).plain_greedy());
    p.penalty_last_n = 0;  // no window: no penalty
    CHECK(Sampler(p).plain_greedy());
    p.penalty_last_n = -1;  // the whole history
    CHECK_FALSE(Sampler(p).plain_greedy());
    p.repetition_penalty = 1.f;
    p.frequency_penalty = 0.5f;
    CHECK_FALSE(Sampler(p).plain_greedy());
    p.frequency_penalty = 0.f;
    p.presence_penalty = -0.5f;
    CHECK_FALSE(Sampler(p).plain_greedy());
}

TEST_CASE("rope: longrope switches to the long factors for a pass past the original context") {
    ModelConfig c;
    c.head_dim = 8;
    c.rope_theta = 10000.f;
    c.rope_scaling = RopeScaling::LongRope;
    c.rope_original_ctx = 64;
    c.n_ctx_train = 256;
    c.rope_short_factors = {1.f, 1.f, 1.f, 1.f};
    c.rope_long_factors = {2.f, 4.f, 8.f, 16.f};
    const RopeTable s = rope_table(c, 0, 64), l = rope_table(c, 0, 65);
    for (int i = 0; i < 4; ++i) {
        CHECK(s.inv_freq[i] == doctest::Approx(std::pow(10000.0, -2.0 * i / 8)));
        CHECK(l.inv_freq[i] == doctest::Approx(s.inv_freq[i] / c.rope_long_factors[i]));
    }
    // transformers' attention factor: sqrt(1 + ln(256 / 64) / ln(64)), on both tables
    CHECK(s.mscale == doctest::Approx(std::sqrt(1.0 + std::log(4.0) / std::log(64.0))));
    CHECK(l.mscale == s.mscale);
}
