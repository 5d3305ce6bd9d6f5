// Every op of the fast CPU backend against the scalar reference backend, on random data at odd
// sizes, once per kernel level this machine runs (scalar, then AVX2 / AVX-512 VNNI or NEON /
// dotprod, each forced through CpuFastOptions::max_isa). Products of Q4 / Q8_0 read int8
// activations: they are checked tightly against the reference fed the same quantization of x,
// and against the float reference within the bound that rounding x to int8 allows. Tolerances:
// |fast - ref| <= atol + rtol * |ref|. Also the thread pool both CPU backends share.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu_fast/cpu_fast_backend.h"
#include "backend/cpu_fast/kernels.h"
#include "core/fp16.h"
#include "core/thread_pool.h"
#include "model/tensor.h"
#include "test_tensors.h"

using namespace edgellm;
using edgellm_test::clone;
using edgellm_test::rand_tensor;
using edgellm_test::rand_vec;

namespace {

std::vector<cpu_fast::Isa> levels() {
    cpu_fast::Isa a[8];
    const int n = cpu_fast::available_isas(a, 8);
    return std::vector<cpu_fast::Isa>(a, a + n);
}

std::unique_ptr<Backend> fast(cpu_fast::Isa isa, int threads = 2) {
    CpuFastOptions o;
    o.n_threads = threads;
    o.max_isa = cpu_fast::isa_name(isa);
    return make_cpu_fast_backend(o);
}

Backend &ref() {
    static std::unique_ptr<Backend> be = make_cpu_backend(CpuBackendOptions{2});
    return *be;
}

// x as the fast backend's products see it: int8 per group of 32 (d = max|x| / 127, q rounded to
// nearest even), dequantized again.
std::vector<float> emulate_q8(const std::vector<float> &x) {
    std::vector<float> out(x.size());
    for (size_t g0 = 0; g0 + 32 <= x.size(); g0 += 32) {
        float amax = 0.f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[g0 + i]));
        const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
        for (int i = 0; i < 32; ++i) out[g0 + i] = d * std::nearbyint(x[g0 + i] * id);
    }
    return out;
}

std::unique_ptr<Buffer> put(Backend &b, const std::vector<float> &v) {
    auto buf = b.alloc(v.size());
    b.write(*buf, v.data(), v.size());
    return buf;
}
std::vector<float> get(Backend &b, const Buffer &x, size_t n) {
    std::vector<float> v(n);
    b.read(x, v.data(), n);
    return v;
}

void expect_close(const std::vector<float> &want, const std::vector<float> &got, double atol, double rtol,
                  const std::string &what) {
    REQUIRE(want.size() == got.size());
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double diff = std::fabs((double)want[i] - (double)got[i]);
        const double e = diff == 0 ? 0 : diff / (atol + rtol * std::fabs((double)want[i]));
        if (!(e <= worst)) {
            worst = e;
            at = i;
        }
    }
    INFO(what, ": worst at ", at, " ref=", want[at], " fast=", got[at], " (", worst, " of the tolerance)");
    CHECK(worst <= 1.0);
}

struct Fmt {
    DType t;
    bool mins;
    const char *name;
};
const Fmt kFormats[] = {{DType::F32, false, "f32"}, {DType::F16, false, "f16"}, {DType::Q8_0, false, "q8_0"},
                        {DType::Q4, false, "q4_0"}, {DType::Q4, true, "q4_1"}};

bool quantized(DType t) { return t == DType::Q4 || t == DType::Q8_0; }

// y (n, rows) (+)= x W^T on both backends.
void check_matmul(Backend &fb, const Fmt &f, int rows, int K, int n, bool accumulate, uint32_t seed) {
    CAPTURE(f.name);
    CAPTURE(rows);
    CAPTURE(K);
    CAPTURE(n);
    CAPTURE(accumulate);
    QTensor t = rand_tensor(f.t, rows, K, f.mins, seed);
    const QTensor tq = clone(t);
    auto wr = ref().upload_matrix(clone(t));
    auto wf = fb.upload_matrix(std::move(t));
    const std::vector<float> x = rand_vec((size_t)n * K, seed + 1);
    const std::vector<float> y0 = rand_vec((size_t)n * rows, seed + 2);
    auto yf = put(fb, y0);
    auto xf = put(fb, x);
    fb.matmul(*yf, *wf, *xf, n, accumulate);
    const std::vector<float> got = get(fb, *yf, y0.size());

    // Tight: the reference fed the int8-rounded x the fast products read.
    const std::vector<float> xe = quantized(f.t) ? emulate_q8(x) : x;
    auto yr = put(ref(), y0);
    auto xr = put(ref(), xe);
    ref().matmul(*yr, *wr, *xr, n, accumulate);
    const double scale = std::sqrt((double)K) * 0.05;  // typical |y| of these inputs
    expect_close(get(ref(), *yr, y0.size()), got, 2e-5 * scale + 1e-5, 1e-4, "matmul vs reference (same x)");
    if (quantized(f.t)) {
        // Against the float x: rounding x to int8 moves each element by at most d / 2 of its
        // group, so |y - y_float| <= sum_k |w_rk| d_k / 2 (plus float rounding).
        auto yr2 = put(ref(), y0);
        auto xr2 = put(ref(), x);
        ref().matmul(*yr2, *wr, *xr2, n, accumulate);
        const std::vector<float> want = get(ref(), *yr2, y0.size());
        std::vector<float> w((size_t)K);
        int bad = 0;
        for (int r = 0; r < rows; ++r) {
            dequantize_row(tq, r, w.data());
            for (int i = 0; i < n; ++i) {
                double bound = 0;
                for (int k = 0; k < K; ++k)
                    bound += std::fabs(w[(size_t)k]) * std::fabs(x[(size_t)i * K + k] - xe[(size_t)i * K + k]);
                const size_t at = (size_t)i * rows + r;
                if (std::fabs((double)want[at] - got[at]) > bound * 1.001 + 1e-5 * scale + 1e-6) ++bad;
            }
        }
        CHECK_MESSAGE(bad == 0, "matmul vs reference (float x): outside the int8 rounding bound");
    }
}

}  // namespace

TEST_CASE("cpu_fast: the kernel levels include scalar and the forced level is the one used") {
    const auto lv = levels();
    REQUIRE(!lv.empty());
    CHECK(lv.front() == cpu_fast::Isa::Scalar);
    for (cpu_fast::Isa isa : lv) {
        auto b = fast(isa);
        CHECK(b->device_name().find(cpu_fast::isa_name(isa)) != std::string::npos);
    }
    cpu_fast::Isa i;
    CHECK(cpu_fast::isa_from_name("avx2", i));
    CHECK(i == cpu_fast::Isa::Avx2);
    CHECK_FALSE(cpu_fast::isa_from_name("sse9", i));
    std::vector<int> cpus;
    CHECK(parse_cpu_list("4-7", cpus));
    CHECK(cpus == std::vector<int>{4, 5, 6, 7});
    CHECK(parse_cpu_list("0,2,5-6", cpus));
    CHECK(cpus == std::vector<int>{0, 2, 5, 6});
    CHECK_FALSE(parse_cpu_list("7-4", cpus));
    CHECK_FALSE(parse_cpu_list("a", cpus));
    CHECK_FALSE(parse_cpu_list("", cpus));
}

TEST_CASE("cpu_fast: activation quantization gives the same bytes at every level") {
    for (int K : {32, 96, 4096}) {
        std::vector<float> x = rand_vec((size_t)K, 7u + (uint32_t)K, -3.f, 3.f);
        x[5] = 0.5f * 3.f;  // ties of the rounding appear once a group's max is hit exactly
        for (int j = 64; j < K && j < 96; ++j) x[(size_t)j] = 0.f;  // an all-zero group
        const cpu_fast::Kernels &s = cpu_fast::kernels_scalar();
        std::vector<int8_t> q0((size_t)K), q1((size_t)K);
        std::vector<float> d0((size_t)K / 32), s0((size_t)K / 32), d1((size_t)K / 32), s1((size_t)K / 32);
        s.quantize_act(x.data(), K, q0.data(), d0.data(), s0.data());
        // The scalar level against the definition.
        const std::vector<float> e = emulate_q8(x);
        for (int j = 0; j < K; ++j) CHECK(d0[(size_t)j / 32] * q0[(size_t)j] == e[(size_t)j]);
        for (cpu_fast::Isa isa : levels()) {
            CAPTURE(cpu_fast::isa_name(isa));
            CAPTURE(K);
            cpu_fast::kernels_for(isa).quantize_act(x.data(), K, q1.data(), d1.data(), s1.data());
            CHECK(q0 == q1);
            CHECK(d0 == d1);
            CHECK(s0 == s1);
        }
    }
}

TEST_CASE("cpu_fast: matmul of every format at odd sizes against the reference, every level") {
    for (cpu_fast::Isa isa : levels()) {
        CAPTURE(cpu_fast::isa_name(isa));
        auto fb = fast(isa);
        uint32_t seed = 100;
        for (const Fmt &f : kFormats) {
            const bool q = quantized(f.t);
            for (int rows : {1, 7, 33, 93}) {
                for (int n : {1, 3, 4, 7, 9}) {
                    const int K = q ? 96 : 93;
                    check_matmul(*fb, f, rows, K, n, (n % 2) == 1, seed++);
                }
            }
            check_matmul(*fb, f, 33, q ? 4096 : 4095, 5, false, seed++);
            check_matmul(*fb, f, 4096, 64, 1, true, seed++);
        }
    }
}

TEST_CASE("cpu_fast: matmul_shared equals separate products") {
    for (cpu_fast::Isa isa : levels()) {
        CAPTURE(cpu_fast::isa_name(isa));
        auto fb = fast(isa);
        for (const Fmt &f : kFormats) {
            CAPTURE(f.name);
            const int K = quantized(f.t) ? 64 : 65, n = 5;
            auto a = fb->upload_matrix(rand_tensor(f.t, 33, K, f.mins, 1));
            auto b = fb->upload_matrix(rand_tensor(f.t, 7, K, f.mins, 2));
            auto c = fb->upload_matrix(rand_tensor(f.t, 93, K, f.mins, 3));
            auto x = put(*fb, rand_vec((size_t)n * K, 4));
            auto ya = fb->alloc(n * 33), yb = fb->alloc(n * 7), yc = fb->alloc(n * 93);
            fb->matmul_shared(*x, n, {{a.get(), ya.get()}, {b.get(), yb.get()}, {c.get(), yc.get()}});
            auto za = fb->alloc(n * 33), zb = fb->alloc(n * 7), zc = fb->alloc(n * 93);
            fb->matmul(*za, *a, *x, n, false);
            fb->matmul(*zb, *b, *x, n, false);
            fb->matmul(*zc, *c, *x, n, false);
            CHECK(get(*fb, *ya, n * 33) == get(*fb, *za, n * 33));
            CHECK(get(*fb, *yb, n * 7) == get(*fb, *zb, n * 7));
            CHECK(get(*fb, *yc, n * 93) == get(*fb, *zc, n * 93));
        }
    }
}

TEST_CASE("cpu_fast: embed, rms_norm, bias, rope, glu, add, softcap, copy, argmax against the reference") {
    for (cpu_fast::Isa isa : levels()) {
        CAPTURE(cpu_fast::isa_name(isa));
        auto fb = fast(isa);
        for (const Fmt &f : kFormats) {  // embed dequantizes exactly in every format
            CAPTURE(f.name);
            QTensor t = rand_tensor(f.t, 93, quantized(f.t) ? 96 : 33, f.mins, 9);
            const int cols = (int)t.cols;
            auto tr = ref().upload_matrix(clone(t));
            auto tf = fb->upload_matrix(std::move(t));
            const int32_t tok[4] = {0, 92, 7, 33};
            auto of = fb->alloc(4 * cols);
            auto orf = ref().alloc(4 * cols);
            fb->embed(*of, *tf, tok, 4, 1.5f);
            ref().embed(*orf, *tr, tok, 4, 1.5f);
            expect_close(get(ref(), *orf, 4 * cols), get(*fb, *of, 4 * cols), 1e-7, 1e-6, "embed");
        }
        for (int dim : {1, 7, 33, 93, 4096}) {
            CAPTURE(dim);
            const int rows = 3;
            const std::vector<float> x = rand_vec((size_t)rows * dim, 11, -2.f, 2.f);
            std::vector<float> g = rand_vec((size_t)dim, 12);
            auto wr = ref().upload_vector(std::vector<float>(g));
            auto wf = fb->upload_vector(std::move(g));
            auto xr = put(ref(), x), xf = put(*fb, x);
            auto orr = ref().alloc(x.size()), of = fb->alloc(x.size());
            ref().rms_norm(*orr, *xr, *wr, rows, dim, 1e-5f);
            fb->rms_norm(*of, *xf, *wf, rows, dim, 1e-5f);
            expect_close(get(ref(), *orr, x.size()), get(*fb, *of, x.size()), 1e-6, 1e-5, "rms_norm");
            // bias, glu (both activations), add, softcap, copy
            std::vector<float> b = rand_vec((size_t)dim, 13);
            auto br = ref().upload_vector(std::vector<float>(b));
            auto bf = fb->upload_vector(std::move(b));
            ref().add_bias(*xr, *br, rows, dim);
            fb->add_bias(*xf, *bf, rows, dim);
            expect_close(get(ref(), *xr, x.size()), get(*fb, *xf, x.size()), 0, 0, "add_bias");
            for (Activation act : {Activation::SiLU, Activation::GeluTanh}) {
                const std::vector<float> u = rand_vec(x.size(), 14);
                auto ur = put(ref(), u), uf = put(*fb, u);
                ref().glu(*orr, *xr, *ur, x.size(), act);
                fb->glu(*of, *xf, *uf, x.size(), act);
                expect_close(get(ref(), *orr, x.size()), get(*fb, *of, x.size()), 1e-7, 1e-6, "glu");
            }
            ref().add(*xr, *orr, x.size());
            fb->add(*xf, *of, x.size());
            ref().softcap(*xr, x.size(), 1.5f);
            fb->softcap(*xf, x.size(), 1.5f);
            expect_close(get(ref(), *xr, x.size()), get(*fb, *xf, x.size()), 1e-7, 1e-6, "add + softcap");
            fb->copy(*of, *xf, (size_t)dim, 0, (size_t)dim);
            std::vector<float> xv = get(*fb, *xf, x.size());
            CHECK(get(*fb, *of, (size_t)dim) == std::vector<float>(xv.begin() + dim, xv.begin() + 2 * dim));
            CHECK(fb->argmax(*xf, x.size()) == ref().argmax(*xr, x.size()));
        }
        // rope: head_dim 64 with a partial rotation, several positions
        RopeTable t;
        t.head_dim = 64;
        t.rot_dim = 32;
        t.mscale = 1.1f;
        for (int j = 0; j < 16; ++j) t.inv_freq.push_back(std::pow(10000.f, -(float)j / 16.f));
        const std::vector<float> x = rand_vec(7 * 3 * 64, 15);
        auto xr = put(ref(), x), xf = put(*fb, x);
        ref().rope(*xr, 7, 3, 41, t);
        fb->rope(*xf, 7, 3, 41, t);
        expect_close(get(ref(), *xr, x.size()), get(*fb, *xf, x.size()), 1e-7, 1e-6, "rope");
    }
}

TEST_CASE("cpu_fast: kv_store + attention (fp16 cache) against the reference") {
    struct Case {
        int n_head, n_head_kv, hd, pos0, n, window;
        float softcap;
    };
    const Case cases[] = {{3, 1, 64, 0, 7, 0, 0.f},  {4, 2, 33, 5, 1, 0, 0.f}, {2, 2, 7, 0, 33, 0, 50.f},
                          {6, 2, 64, 20, 4, 8, 0.f}, {1, 1, 93, 92, 1, 0, 0.f}};
    for (cpu_fast::Isa isa : levels()) {
        CAPTURE(cpu_fast::isa_name(isa));
        auto fb = fast(isa);
        for (const Case &c : cases) {
            CAPTURE(c.n_head);
            CAPTURE(c.hd);
            CAPTURE(c.pos0);
            CAPTURE(c.n);
            const int kd = c.n_head_kv * c.hd, qd = c.n_head * c.hd, ctx = c.pos0 + c.n;
            auto kr = ref().alloc_kv(2, ctx, kd);
            auto kf = fb->alloc_kv(2, ctx, kd);
            // Cache values that fp16 holds exactly, so both caches store the same numbers.
            auto f16_exact = [](std::vector<float> v) {
                for (float &a : v) a = fp16_to_f32(f32_to_fp16(a));
                return v;
            };
            const std::vector<float> k = f16_exact(rand_vec((size_t)ctx * kd, 21, -2.f, 2.f));
            const std::vector<float> v = f16_exact(rand_vec((size_t)ctx * kd, 22));
            auto k1r = put(ref(), k), v1r = put(ref(), v), k1f = put(*fb, k), v1f = put(*fb, v);
            ref().kv_store(*kr, 1, *k1r, *v1r, 0, ctx);
            fb->kv_store(*kf, 1, *k1f, *v1f, 0, ctx);
            const std::vector<float> q = rand_vec((size_t)c.n * qd, 23, -2.f, 2.f);
            auto qr = put(ref(), q), qf = put(*fb, q);
            auto orr = ref().alloc((size_t)c.n * qd), of = fb->alloc((size_t)c.n * qd);
            AttentionParams p;
            p.n_head = c.n_head;
            p.n_head_kv = c.n_head_kv;
            p.head_dim = c.hd;
            p.scale = 1.f / std::sqrt((float)c.hd);
            p.softcap = c.softcap;
            p.window = c.window;
            ref().attention(*orr, *qr, *kr, 1, c.pos0, c.n, p);
            fb->attention(*of, *qf, *kf, 1, c.pos0, c.n, p);
            expect_close(get(ref(), *orr, q.size()), get(*fb, *of, q.size()), 1e-5, 1e-4, "attention");
            // A value that fp16 rounds: the cache holds it to half precision.
            const std::vector<float> k2 = rand_vec((size_t)kd, 24);
            auto k2f = put(*fb, k2);
            fb->kv_store(*kf, 0, *k2f, *k2f, 0, 1);
            AttentionParams p1 = p;
            auto q1 = put(*fb, std::vector<float>((size_t)qd, 0.f));
            auto o1 = fb->alloc((size_t)qd);
            fb->attention(*o1, *q1, *kf, 0, 0, 1, p1);  // one key: out = v
            const std::vector<float> out = get(*fb, *o1, (size_t)qd);
            for (int j = 0; j < c.hd; ++j) CHECK(out[(size_t)j] == fp16_to_f32(f32_to_fp16(k2[(size_t)j])));
        }
    }
}

TEST_CASE("thread pool: every index once, on every call; exceptions come back") {
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        CHECK(pool.size() == threads);
        for (int64_t n : {1, 7, 33, 93, 4096}) {
            CAPTURE(threads);
            CAPTURE(n);
            std::vector<std::atomic<int>> hits((size_t)n);
            std::atomic<int> bad_thread{0};
            for (int rep = 0; rep < 50; ++rep) {  // back to back: the spinning hand-over
                pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
                    if (t < 0 || t >= threads || b >= e) ++bad_thread;
                    for (int64_t i = b; i < e; ++i) ++hits[(size_t)i];
                });
            }
            CHECK(std::all_of(hits.begin(), hits.end(), [](const std::atomic<int> &h) { return h.load() == 50; }));
            CHECK(bad_thread.load() == 0);
        }
        bool thrown = false;
        try {
            pool.parallel_for(16, [&](int64_t, int64_t e, int) {
                if (e > 8) throw std::runtime_error("a chunk failed");
            });
        } catch (const std::runtime_error &) {
            thrown = true;
        }
        CHECK(thrown);
        int sum = 0;  // still usable after an exception
        pool.parallel_for(1, [&](int64_t b, int64_t e, int) { sum += (int)(e - b); });
        CHECK(sum == 1);
    }
}
