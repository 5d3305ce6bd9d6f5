// Every op of the OpenCL backend against the CPU reference backend on random data at odd sizes,
// on the device's own tuning row and with the Mali-G610 row forced (its exact kernels and block
// sizes on whatever device runs the tests). Decode products of Q4 / Q8_0 read int8 activations:
// they are checked tightly against the reference fed with the same quantization of x (a host
// emulation of quant.cl), and loosely against the float reference.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "opencl_test_util.h"

using namespace edgellm;
using namespace edgellm_test;

namespace {

struct Fmt {
    DType t;
    bool mins;
    const char *name;
};
const Fmt kFormats[] = {{DType::F32, false, "f32"}, {DType::F16, false, "f16"}, {DType::Q8_0, false, "q8_0"},
                        {DType::Q4, false, "q4"}, {DType::Q4, true, "q4+mins"}};

bool quant(DType t) { return t == DType::Q4 || t == DType::Q8_0; }

// x quantized as quant.cl does (d = max|x| / 127 per 32-group, q = round-half-even(x * 127 / max))
// and dequantized again: what the int8 products multiply by.
std::vector<float> emulate_q8(const std::vector<float> &x) {
    std::vector<float> out(x.size());
    for (size_t g0 = 0; g0 < x.size(); g0 += 32) {
        float amax = 0.f;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[g0 + i]));
        const float d = amax / 127.f, id = amax > 0.f ? 127.f / amax : 0.f;
        for (int i = 0; i < 32; ++i) out[g0 + i] = d * std::nearbyint(x[g0 + i] * id);
    }
    return out;
}

// The rows the tests run: the device's own, then the Mali row forced.
const char *const kRows[] = {"", "mali-g610"};

bool have_device() {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: OpenCL op test skipped");
        return false;
    }
    return true;
}

// y (n, rows) = x W^T on both backends, x random; decode products of quantized formats compared
// with the reference fed the emulated int8 x.
void check_matmul(Backend &ob, const Fmt &f, int rows, int K, int n, bool accumulate, uint32_t seed,
                  int gemv_max_n) {
    INFO("format ", std::string(f.name));
    CAPTURE(rows);
    CAPTURE(K);
    CAPTURE(n);
    QTensor t = rand_tensor(f.t, rows, K, f.mins, seed);
    auto wc = cpu_backend().upload_matrix(clone(t));
    auto wo = ob.upload_matrix(std::move(t));
    std::vector<float> xv = rand_vec((size_t)n * K, seed + 1);
    const bool int8 = quant(f.t) && n <= gemv_max_n;
    Pair x = twin(ob, xv);
    if (int8) cpu_backend().write(*x.c, emulate_q8(xv).data(), xv.size());
    Pair y = twin(ob, rand_vec((size_t)n * rows, seed + 2));
    cpu_backend().matmul(*y.c, *wc, *x.c, n, accumulate);
    ob.matmul(*y.o, *wo, *x.o, n, accumulate);
    // Prefill on fp16 devices runs HGEMM, which accumulates in half within each K-slice: a
    // half-precision tolerance there (the error at the 8B's K is measured in the HGEMM test below).
    const bool hgemm = !int8 && n > gemv_max_n && opencl_describe(ob).find("HGEMM") != std::string::npos;
    const double tol = hgemm ? 1e-2 : 2e-3;
    expect_close(ob, y, tol * std::sqrt((double)K), 2 * tol, std::string("matmul ") + f.name);
}

}  // namespace

TEST_CASE("opencl matmul in every format, decode (int8 activations) and prefill, odd sizes") {
    if (!have_device()) return;
    for (const char *row : kRows) {
        INFO("row: ", std::string(row));
        std::unique_ptr<Backend> ob = make_tuned("", row);
        uint32_t seed = 10;
        for (const Fmt &f : kFormats)
            for (int rows : {1, 7, 33, 93})
                for (int K : {32, 96, 544})
                    for (int n : {1, 3, 7}) check_matmul(*ob, f, rows, K, n, n == 3, seed += 3, 4);
        for (const Fmt &f : kFormats) check_matmul(*ob, f, 64, 4096, 1, false, seed += 3, 4);
        // Float formats take any K.
        for (DType t : {DType::F32, DType::F16})
            for (int K : {1, 7, 33, 93})
                for (int n : {1, 9}) check_matmul(*ob, Fmt{t, false, dtype_name(t)}, 13, K, n, false, seed += 3, 4);
    }
}

TEST_CASE("opencl int8 decode products stay close to the float reference") {
    if (!have_device()) return;
    std::unique_ptr<Backend> ob = make_tuned("", "mali-g610");
    for (const Fmt &f : kFormats) {
        if (!quant(f.t)) continue;
        INFO("format ", std::string(f.name));
        const int rows = 96, K = 1024;
        QTensor t = rand_tensor(f.t, rows, K, f.mins, 77);
        auto wc = cpu_backend().upload_matrix(clone(t));
        auto wo = ob->upload_matrix(std::move(t));
        Pair x = twin(*ob, rand_vec(K, 78));
        Pair y = twin(*ob, std::vector<float>(rows, 0.f));
        cpu_backend().matmul(*y.c, *wc, *x.c, 1, false);
        ob->matmul(*y.o, *wo, *x.o, 1, false);
        std::vector<float> a = read_all(cpu_backend(), *y.c), b = read_all(*ob, *y.o);
        double num = 0, den = 0;
        for (int i = 0; i < rows; ++i) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += a[i] * a[i];
        }
        MESSAGE(f.name << ": normalised MSE of int8 products against float " << num / den);
        CHECK(num / den < 1e-3);
    }
}

TEST_CASE("opencl matmul_shared: q/k/v and gate/up as one launch, fallbacks for mixed formats") {
    if (!have_device()) return;
    for (const char *row : kRows) {
        INFO("row: ", std::string(row));
        std::unique_ptr<Backend> ob = make_tuned("", row);
        const int K = 128;
        for (const Fmt &f : kFormats) {
            INFO("format ", std::string(f.name));
            const int shapes[3] = {64, 17, 17};
            std::vector<std::unique_ptr<Weight>> wc, wo;
            for (int i = 0; i < 3; ++i) {
                QTensor t = rand_tensor(f.t, shapes[i], K, f.mins, 200 + (uint32_t)i);
                wc.push_back(cpu_backend().upload_matrix(clone(t)));
                wo.push_back(ob->upload_matrix(std::move(t)));
            }
            for (int n : {1, 2, 6}) {
                CAPTURE(n);
                std::vector<float> xv = rand_vec((size_t)n * K, 300 + (uint32_t)n);
                Pair x = twin(*ob, xv);
                if (quant(f.t) && n <= 4) cpu_backend().write(*x.c, emulate_q8(xv).data(), xv.size());
                Pair y[3] = {twin(*ob, std::vector<float>((size_t)n * 64, 0.f)),
                             twin(*ob, std::vector<float>((size_t)n * 17, 0.f)),
                             twin(*ob, std::vector<float>((size_t)n * 17, 0.f))};
                cpu_backend().matmul_shared(*x.c, n, {{wc[0].get(), y[0].c.get()}, {wc[1].get(), y[1].c.get()},
                                                      {wc[2].get(), y[2].c.get()}});
                ob->matmul_shared(*x.o, n, {{wo[0].get(), y[0].o.get()}, {wo[1].get(), y[1].o.get()},
                                            {wo[2].get(), y[2].o.get()}});
                for (int i = 0; i < 3; ++i) expect_close(*ob, y[i], 2e-3 * std::sqrt((double)K), 4e-3, "shared product");
                // Two products (gate / up).
                cpu_backend().matmul_shared(*x.c, n, {{wc[1].get(), y[1].c.get()}, {wc[2].get(), y[2].c.get()}});
                ob->matmul_shared(*x.o, n, {{wo[1].get(), y[1].o.get()}, {wo[2].get(), y[2].o.get()}});
                for (int i = 1; i < 3; ++i) expect_close(*ob, y[i], 2e-3 * std::sqrt((double)K), 4e-3, "gate/up");
            }
        }
    }
}

TEST_CASE("opencl embed (with scale), rms_norm (offsets, per head, in place), bias, glu, add, softcap, copy") {
    if (!have_device()) return;
    for (const char *row : kRows) {
        INFO("row: ", std::string(row));
        std::unique_ptr<Backend> ob = make_tuned("", row);
        for (const Fmt &f : kFormats) {
            INFO("format ", std::string(f.name));
            QTensor t = rand_tensor(f.t, 50, 96, f.mins, 5);
            auto wc = cpu_backend().upload_matrix(clone(t));
            auto wo = ob->upload_matrix(std::move(t));
            std::vector<int32_t> toks = {49, 0, 7, 7};
            Pair e = twin(*ob, std::vector<float>(4 * 96, 0.f));
            cpu_backend().embed(*e.c, *wc, toks.data(), 4, 1.5f);
            ob->embed(*e.o, *wo, toks.data(), 4, 1.5f);
            expect_close(*ob, e, 1e-6, 1e-6, "embed");
            cpu_backend().embed(*e.c, *wc, toks.data(), 1, 1.f);
            ob->embed(*e.o, *wo, toks.data(), 1, 1.f);
            expect_close(*ob, e, 1e-6, 1e-6, "embed one");
            const int32_t bad = 50;
            CHECK_THROWS_AS(ob->embed(*e.o, *wo, &bad, 1, 1.f), Error);
        }
        for (int dim : {1, 7, 33, 93, 4096}) {
            CAPTURE(dim);
            const int rows = 3;
            auto wv = rand_vec(dim, 9);
            auto gc = cpu_backend().upload_vector(std::vector<float>(wv));
            auto go = ob->upload_vector(std::vector<float>(wv));
            Pair x = twin(*ob, rand_vec((size_t)(rows + 1) * dim, 10));
            Pair o = twin(*ob, std::vector<float>((size_t)rows * dim, 0.f));
            cpu_backend().rms_norm(*o.c, *x.c, *gc, rows, dim, 1e-5f, dim);
            ob->rms_norm(*o.o, *x.o, *go, rows, dim, 1e-5f, dim);
            expect_close(*ob, o, 1e-5, 1e-4, "rms_norm with offset");
            cpu_backend().rms_norm(*x.c, *x.c, *gc, rows, dim, 1e-6f);
            ob->rms_norm(*x.o, *x.o, *go, rows, dim, 1e-6f);
            expect_close(*ob, x, 1e-5, 1e-4, "rms_norm in place");
            auto bc = cpu_backend().upload_vector(std::vector<float>(wv));
            auto bo = ob->upload_vector(std::vector<float>(wv));
            cpu_backend().add_bias(*o.c, *bc, rows, dim);
            ob->add_bias(*o.o, *bo, rows, dim);
            expect_close(*ob, o, 1e-6, 1e-6, "add_bias");
        }
        for (size_t n : {1, 7, 33, 93, 4096}) {
            CAPTURE(n);
            Pair g = twin(*ob, rand_vec(n, 11, -6.f, 6.f)), u = twin(*ob, rand_vec(n, 12)), out = twin(*ob, std::vector<float>(n));
            for (Activation a : {Activation::SiLU, Activation::GeluTanh}) {
                cpu_backend().glu(*out.c, *g.c, *u.c, n, a);
                ob->glu(*out.o, *g.o, *u.o, n, a);
                expect_close(*ob, out, 1e-5, 1e-4, "glu");
            }
            cpu_backend().add(*out.c, *g.c, n);
            ob->add(*out.o, *g.o, n);
            expect_close(*ob, out, 1e-6, 1e-6, "add");
            cpu_backend().softcap(*g.c, n, 3.f);
            ob->softcap(*g.o, n, 3.f);
            expect_close(*ob, g, 1e-5, 1e-5, "softcap");
            cpu_backend().copy(*u.c, *g.c, n / 2, n - n / 2, 0);
            ob->copy(*u.o, *g.o, n / 2, n - n / 2, 0);
            expect_close(*ob, u, 1e-5, 1e-5, "copy");
        }
    }
}

TEST_CASE("opencl rope, kv_store and attention: prefill then decode, GQA, partial rotary, windows, soft-caps") {
    if (!have_device()) return;
    struct Case {
        int n_head, n_head_kv, head_dim, rot_dim, window;
        float softcap, mscale;
        const char *tune;
    };
    const Case cases[] = {
        {4, 2, 16, 16, 0, 0.f, 1.f, ""},
        {6, 2, 32, 24, 0, 0.f, 1.19f, "attn_chunk=8"},
        {2, 1, 64, 64, 5, 0.f, 1.f, "attn_chunk=4"},
        {8, 8, 8, 8, 0, 20.f, 1.f, "attn_chunk=3"},
        {3, 1, 128, 64, 9, 50.f, 1.f, ""},
    };
    for (const char *row : kRows) {
        for (const Case &cs : cases) {
            INFO("row: ", std::string(row), " tune: ", std::string(cs.tune), " heads ", cs.n_head, "/", cs.n_head_kv,
                 " hd ", cs.head_dim, " rot ", cs.rot_dim, " window ", cs.window, " softcap ", cs.softcap);
            std::unique_ptr<Backend> ob = make_tuned(cs.tune, row);
            const int qd = cs.n_head * cs.head_dim, kd = cs.n_head_kv * cs.head_dim, n_ctx = 40;
            RopeTable rt;
            rt.head_dim = cs.head_dim;
            rt.rot_dim = cs.rot_dim;
            rt.mscale = cs.mscale;
            for (int i = 0; i < cs.rot_dim / 2; ++i) rt.inv_freq.push_back(std::pow(10000.f, -2.f * i / cs.rot_dim));
            auto kvc = cpu_backend().alloc_kv(2, n_ctx, kd);
            auto kvo = ob->alloc_kv(2, n_ctx, kd);
            AttentionParams ap;
            ap.n_head = cs.n_head;
            ap.n_head_kv = cs.n_head_kv;
            ap.head_dim = cs.head_dim;
            ap.scale = 1.f / std::sqrt((float)cs.head_dim);
            ap.softcap = cs.softcap;
            ap.window = cs.window;
            int pos = 0;
            uint32_t seed = 1000;
            for (int n : {13, 1, 1, 7, 1}) {
                CAPTURE(pos);
                CAPTURE(n);
                Pair q = twin(*ob, rand_vec((size_t)n * qd, seed++)), k = twin(*ob, rand_vec((size_t)n * kd, seed++));
                Pair v = twin(*ob, rand_vec((size_t)n * kd, seed++));
                // The cache is half on OpenCL: give the reference the same rounded k and v.
                for (Pair *p : {&k, &v}) {
                    std::vector<float> h = read_all(cpu_backend(), *p->c);
                    for (float &e : h) e = fp16_to_f32(f32_to_fp16(e));
                    cpu_backend().write(*p->c, h.data(), h.size());
                    ob->write(*p->o, h.data(), h.size());
                }
                cpu_backend().rope(*q.c, n, cs.n_head, pos, rt);
                ob->rope(*q.o, n, cs.n_head, pos, rt);
                expect_close(*ob, q, 1e-5, 1e-4, "rope q");
                // k rotated on the host side of the reference, then rounded as the cache will be.
                cpu_backend().rope(*k.c, n, cs.n_head_kv, pos, rt);
                ob->rope(*k.o, n, cs.n_head_kv, pos, rt);
                expect_close(*ob, k, 1e-5, 1e-4, "rope k");
                cpu_backend().kv_store(*kvc, 1, *k.c, *v.c, pos, n);
                ob->kv_store(*kvo, 1, *k.o, *v.o, pos, n);
                Pair o = twin(*ob, std::vector<float>((size_t)n * qd, 0.f));
                cpu_backend().attention(*o.c, *q.c, *kvc, 1, pos, n, ap);
                ob->attention(*o.o, *q.o, *kvo, 1, pos, n, ap);
                expect_close(*ob, o, 3e-3, 3e-3, "attention");
                pos += n;
            }
            Pair q = twin(*ob, rand_vec((size_t)qd, 1));
            CHECK_THROWS_AS(ob->kv_store(*kvo, 1, *q.o, *q.o, n_ctx, 1), Error);
        }
    }
}

TEST_CASE("opencl weights larger than the max allocation are split by rows") {
    if (!have_device()) return;
    for (const char *row : kRows) {
        INFO("row: ", std::string(row));
        setenv("EDGELLM_OPENCL_MAX_ALLOC", "1000", 1);
        std::unique_ptr<Backend> ob;
        try {
            ob = make_tuned("", row);
        } catch (...) {
            unsetenv("EDGELLM_OPENCL_MAX_ALLOC");
            throw;
        }
        unsetenv("EDGELLM_OPENCL_MAX_ALLOC");
        uint32_t seed = 400;
        for (const Fmt &f : kFormats) {
            for (int n : {1, 17}) check_matmul(*ob, f, 45, 128, n, false, seed += 3, 4);
            QTensor t = rand_tensor(f.t, 45, 128, f.mins, seed++);
            auto wc = cpu_backend().upload_matrix(clone(t));
            auto wo = ob->upload_matrix(std::move(t));
            std::vector<int32_t> toks = {44, 0, 20};
            Pair e = twin(*ob, std::vector<float>(3 * 128, 0.f));
            cpu_backend().embed(*e.c, *wc, toks.data(), 3, 1.f);
            ob->embed(*e.o, *wo, toks.data(), 3, 1.f);
            expect_close(*ob, e, 1e-6, 1e-6, std::string("split embed ") + f.name);
        }
    }
}

TEST_CASE("opencl fp16 prefill (HGEMM on half tiles, K-slices summed in float) at the 8B's largest K") {
    if (!have_device()) return;
    for (const char *row : kRows) {
        INFO("row: ", std::string(row));
        std::unique_ptr<Backend> ob = make_tuned("", row);
        if (opencl_describe(*ob).find("HGEMM") == std::string::npos) {
            MESSAGE("device without cl_khr_fp16: HGEMM test skipped (" << opencl_describe(*ob) << ")");
            return;
        }
        // K = 14336 (Llama-3-8B's down projection) over 8 tokens, and a product large enough for
        // CLBlast's tiled Xgemm kernel (the one the mali-g610 row's parameters configure).
        struct Shape {
            int rows, K, n;
        };
        for (const Shape sh : {Shape{64, 14336, 8}, Shape{1024, 1024, 256}}) {
            CAPTURE(sh.rows);
            CAPTURE(sh.K);
            CAPTURE(sh.n);
            QTensor t = rand_tensor(DType::Q4, sh.rows, sh.K, false, 3);
            auto wc = cpu_backend().upload_matrix(clone(t));
            auto wo = ob->upload_matrix(std::move(t));
            // Activations like a SwiGLU output: mostly small, some large.
            std::vector<float> xv = rand_vec((size_t)sh.n * sh.K, 4, -0.3f, 0.3f);
            for (size_t i = 0; i < xv.size(); i += 97) xv[i] *= 20.f;
            Pair x = twin(*ob, xv);
            Pair y = twin(*ob, std::vector<float>((size_t)sh.n * sh.rows, 0.f));
            cpu_backend().matmul(*y.c, *wc, *x.c, sh.n, false);
            ob->matmul(*y.o, *wo, *x.o, sh.n, false);
            std::vector<float> a = read_all(cpu_backend(), *y.c), b = read_all(*ob, *y.o);
            double num = 0, den = 0, worst = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                num += (a[i] - b[i]) * (a[i] - b[i]);
                den += a[i] * a[i];
                worst = std::max(worst, (double)std::fabs(a[i] - b[i]));
            }
            MESSAGE(opencl_describe(*ob) << ": HGEMM " << sh.rows << " x " << sh.K << " x " << sh.n
                                         << ": relative RMS error " << std::sqrt(num / den) << ", worst abs error " << worst);
            CHECK(std::sqrt(num / den) < 5e-3);
        }
    }
}

TEST_CASE("opencl int8 forms written by the norm, GLU and attention kernels equal quant_i8's, and go stale on a write") {
    if (!have_device()) return;
    for (const char *row : kRows) {
        INFO("row: ", std::string(row));
        std::unique_ptr<Backend> ob = make_tuned("attn_chunk=4", row);
        const int K = 256, rows = 40;
        QTensor t = rand_tensor(DType::Q4, rows, K, false, 91);
        auto W = ob->upload_matrix(std::move(t));
        auto run_fresh = [&](const Buffer &src, int n) {
            // The same values through a plain write: quant_i8 makes their int8 form.
            std::vector<float> v((size_t)n * K);
            ob->read(src, v.data(), v.size());
            auto x = ob->alloc(v.size());
            ob->write(*x, v.data(), v.size());
            auto y = ob->alloc((size_t)n * rows);
            ob->matmul(*y, *W, *x, n, false);
            return read_all(*ob, *y);
        };
        // The product of x; `launches` is how many kernels it took (1: x's int8 form was ready).
        uint64_t launches = 0;
        auto product = [&](const Buffer &x, int n) {
            auto y = ob->alloc((size_t)n * rows);
            const uint64_t before = opencl_launch_count(*ob);
            ob->matmul(*y, *W, x, n, false);
            launches = opencl_launch_count(*ob) - before;
            return read_all(*ob, *y);
        };
        for (int n : {1, 3}) {
            CAPTURE(n);
            // rms_norm -> product
            auto x = ob->alloc((size_t)n * K), xn = ob->alloc((size_t)n * K);
            std::vector<float> xv = rand_vec((size_t)n * K, 92);
            ob->write(*x, xv.data(), xv.size());
            auto g = ob->upload_vector(rand_vec(K, 93));
            ob->rms_norm(*xn, *x, *g, n, K, 1e-5f);
            CHECK(product(*xn, n) == run_fresh(*xn, n));
            CHECK(launches == 1);
            // a write after the norm makes its int8 form stale
            ob->add(*xn, *x, (size_t)n * K);
            CHECK(product(*xn, n) == run_fresh(*xn, n));
            CHECK(launches == 2);
            // glu -> product
            auto h = ob->alloc((size_t)n * K), u = ob->alloc((size_t)n * K);
            ob->write(*u, rand_vec((size_t)n * K, 94).data(), (size_t)n * K);
            ob->glu(*h, *x, *u, (size_t)n * K, Activation::SiLU);
            CHECK(product(*h, n) == run_fresh(*h, n));
            CHECK(launches == 1);
            ob->glu(*h, *x, *u, (size_t)n * K, Activation::GeluTanh);
            CHECK(product(*h, n) == run_fresh(*h, n));
            CHECK(launches == 1);
            // attention (split context, reduced with its int8 form) -> product: 8 heads of 32
            const int nh = 8, hd = 32, ctx = 11;
            auto kv = ob->alloc_kv(1, 16, nh * hd);
            auto kb = ob->alloc((size_t)ctx * nh * hd), vb = ob->alloc((size_t)ctx * nh * hd);
            ob->write(*kb, rand_vec((size_t)ctx * nh * hd, 95).data(), (size_t)ctx * nh * hd);
            ob->write(*vb, rand_vec((size_t)ctx * nh * hd, 96).data(), (size_t)ctx * nh * hd);
            ob->kv_store(*kv, 0, *kb, *vb, 0, ctx);
            AttentionParams ap;
            ap.n_head = nh;
            ap.n_head_kv = nh;
            ap.head_dim = hd;
            ap.scale = 0.2f;
            auto q = ob->alloc((size_t)n * K), o = ob->alloc((size_t)n * K);
            ob->write(*q, rand_vec((size_t)n * K, 97).data(), (size_t)n * K);
            ob->attention(*o, *q, *kv, 0, ctx - n, n, ap);
            CHECK(product(*o, n) == run_fresh(*o, n));
            CHECK(launches == 1);
        }
    }
}
