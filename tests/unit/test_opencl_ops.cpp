// Every op of the OpenCL backend against the CPU reference backend (make_cpu_backend) on random
// data, odd sizes and every weight format (F32, F16, Q8_0, Q4 with and without mins).
// Tolerance: |ocl - cpu| <= atol + rtol * |cpu| with the values stated per test (fp32 sums in a
// different order; half KV cache for attention). EDGELLM_TEST_SMALL=1 keeps sizes small (oclgrind).
// Every op case runs twice: the device's default path and the group-major decode path forced on
// through EDGELLM_OPENCL_TUNE (kGmTune), so PoCL covers the NVIDIA-row kernels too.
// Skips only when no OpenCL platform exists at all.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"
#include "core/error.h"
#include "core/fp16.h"
#include "model/config.h"
#include "model/tensor.h"
#include "opencl_test_util.h"

using namespace edgellm;
using namespace edgellm_test;

namespace {

// The group-major decode path forced on (small work-groups: several K-slices even at small sizes;
// 3 rows per item: partial blocks at every size), with the GQA-sharing decode attention, float
// activations (the NVIDIA row turns qa on; it has its own tests), chunks of 8 positions (several
// chunks even at the small sizes oclgrind runs) combined inside attn_dec (attn_fuse, as on the
// NVIDIA row; the float attn_reduce runs in the device-default path's tests, attn_reduce_q below).
const char *const kGmTune = "gm=1,gm_wg=64,gm_rows=3,attn_dec=1,attn_dwg=64,attn_chunk=8,attn_fuse=1,qa=0";

// The device's default path, then the group-major path forced on; empty without OpenCL.
std::vector<Backend *> ocl_backends() {
    static bool tried = false;
    // Deliberately never destroyed: releasing OpenCL objects from a static destructor at exit
    // races the runtime's own teardown (oclgrind aborts on it).
    static std::vector<Backend *> bes;
    if (!tried) {
        tried = true;
        if (list_opencl_devices().empty()) {
            MESSAGE("no OpenCL platform found: OpenCL op tests skipped");
            return bes;
        }
        // The device's default path with float activations (qa=0: the int8-activation products
        // have their own test below, against an emulation of their arithmetic).
        bes.push_back(make_tuned("qa=0").release());  // a failure here is a test failure (throws)
        bes.push_back(make_tuned(kGmTune).release());
        MESSAGE("OpenCL device: ", bes[0]->device_name());
    }
    return bes;
}

// The weights of the fused products: q, k, v (rq, rkv, rkv rows) and gate, up (rff rows) of K
// inputs in format t; their host copies (h), CPU reference uploads (c) and OpenCL uploads (o).
struct FusedWeights {
    QTensor h[5];
    std::unique_ptr<Weight> c[5], o[5];
    FusedWeights(Backend &ob, DType t, bool mins, int K, int rq, int rkv, int rff, uint32_t &seed) {
        const int rows[5] = {rq, rkv, rkv, rff, rff};
        for (int i = 0; i < 5; ++i) {
            QTensor q = rand_tensor(t, rows[i], K, mins, seed++);
            h[i] = clone(q);
            c[i] = cpu_backend().upload_matrix(clone(q));
            o[i] = ob.upload_matrix(std::move(q));
        }
    }
};

struct Fmt {
    DType t;
    bool mins;
    const char *name;
};
const Fmt kFormats[] = {{DType::F32, false, "f32"}, {DType::F16, false, "f16"},
                        {DType::Q8_0, false, "q8_0"}, {DType::Q4, false, "q4"},
                        {DType::Q4, true, "q4+mins"}};

}  // namespace

void case_1(Backend *ob) {  // opencl matmul matches the CPU reference in every format
    struct Shape { int rows, cols; };
    std::vector<Shape> shapes = {{1, 32}, {7, 96}, {33, 64}, {100, 160}};
    std::vector<int> tokens = {1, 3, 17};  // GEMV, GEMV for few tokens, dequant + CLBlast GEMM
    if (!small_mode()) {
        shapes.push_back({4096, 128});
        shapes.push_back({64, 4096});
        shapes.push_back({33, 14336});
    }
    uint32_t seed = 1;
    for (const Fmt &f : kFormats) {
        std::vector<Shape> sh = shapes;
        if (f.t == DType::F32 || f.t == DType::F16) {  // any K for unquantized formats
            sh.push_back({7, 1});
            sh.push_back({5, 7});
            sh.push_back({9, 33});
            sh.push_back({3, 100});
        }
        for (const Shape &s : sh) {
            QTensor t = rand_tensor(f.t, s.rows, s.cols, f.mins, seed++);
            auto wc = cpu_backend().upload_matrix(clone(t));
            auto wo = ob->upload_matrix(std::move(t));
            CHECK(t.data.empty());  // the host copy was taken over and freed
            for (int n : tokens) {
                if (small_mode() && n > 3 && s.rows * s.cols > 4000) continue;
                const std::string what = std::string(f.name) + " " + std::to_string(s.rows) + "x" +
                                         std::to_string(s.cols) + " n=" + std::to_string(n);
                // x with one extra leading row: x_offset = cols takes rows 1..n.
                Pair x = twin(*ob, rand_vec((size_t)(n + 1) * s.cols, seed++));
                Pair y = twin(*ob, rand_vec((size_t)(n + 1) * s.rows, seed++));
                cpu_backend().matmul(*y.c, *wc, *x.c, n, false, s.cols, 0);
                ob->matmul(*y.o, *wo, *x.o, n, false, s.cols, 0);
                const double atol = 2e-5 * std::sqrt((double)s.cols) + 1e-5, rtol = 2e-4;
                expect_close(*ob, y, atol, rtol, what + " overwrite");
                // accumulate into y at offset `rows` (the residual add)
                cpu_backend().matmul(*y.c, *wc, *x.c, n, true, 0, s.rows);
                ob->matmul(*y.o, *wo, *x.o, n, true, 0, s.rows);
                expect_close(*ob, y, atol * 2, rtol, what + " accumulate");
                // an x offset that is not a multiple of 4 floats (the aligned-load kernels copy it)
                if (n <= 3) {
                    Pair xu = twin(*ob, rand_vec((size_t)n * s.cols + 1, seed++));
                    cpu_backend().matmul(*y.c, *wc, *xu.c, n, false, 1, 0);
                    ob->matmul(*y.o, *wo, *xu.o, n, false, 1, 0);
                    expect_close(*ob, y, atol, rtol, what + " unaligned x");
                }
            }
        }
    }
}

TEST_CASE("opencl matmul matches the CPU reference in every format") {
    std::vector<Backend *> bes = ocl_backends();
    for (size_t i = 0; i < bes.size(); ++i) {
        INFO("path: ", std::string(i ? kGmTune : "device default"));
        case_1(bes[i]);
    }
}

void case_2(Backend *ob) {  // opencl fused qkv / swiglu products (with and without the RMSNorm) match the composed reference
    const int K = small_mode() ? 64 : 512, rq = 96, rkv = 33, rff = small_mode() ? 40 : 300;
    uint32_t seed = 100;
    for (const Fmt &f : kFormats) {
        for (int n : {1, 2, 9}) {
            FusedWeights fw(*ob, f.t, f.mins, K, rq, rkv, rff, seed);
            auto &cq = fw.c[0], &ck = fw.c[1], &cv = fw.c[2], &cg = fw.c[3], &cu = fw.c[4];
            auto &oq = fw.o[0], &ok = fw.o[1], &ov = fw.o[2], &og = fw.o[3], &ou = fw.o[4];
            Pair x = twin(*ob, rand_vec((size_t)n * K, seed++));
            Pair q = twin(*ob, std::vector<float>((size_t)n * rq, 7.f));
            Pair k = twin(*ob, std::vector<float>((size_t)n * rkv, 7.f));
            Pair v = twin(*ob, std::vector<float>((size_t)n * rkv, 7.f));
            cpu_backend().matmul(*q.c, *cq, *x.c, n, false);
            cpu_backend().matmul(*k.c, *ck, *x.c, n, false);
            cpu_backend().matmul(*v.c, *cv, *x.c, n, false);
            ob->matmul_qkv(*q.o, *k.o, *v.o, *oq, *ok, *ov, *x.o, n);
            const double atol = 2e-5 * std::sqrt((double)K) + 1e-5;
            std::string what = std::string(f.name) + " n=" + std::to_string(n);
            expect_close(*ob, q, atol, 2e-4, what + " q");
            expect_close(*ob, k, atol, 2e-4, what + " k");
            expect_close(*ob, v, atol, 2e-4, what + " v");
            Pair h = twin(*ob, std::vector<float>((size_t)n * rff, 3.f));
            Pair scratch = twin(*ob, std::vector<float>((size_t)n * rff, 0.f));
            Pair g = twin(*ob, std::vector<float>((size_t)n * rff, 0.f));
            Pair u = twin(*ob, std::vector<float>((size_t)n * rff, 0.f));
            cpu_backend().matmul(*g.c, *cg, *x.c, n, false);
            cpu_backend().matmul(*u.c, *cu, *x.c, n, false);
            cpu_backend().swiglu(*h.c, *g.c, *u.c, (size_t)n * rff);
            ob->matmul_swiglu(*h.o, *scratch.o, *og, *ou, *x.o, n);
            expect_close(*ob, h, atol, 5e-4, what + " swiglu");
            // With the RMSNorm folded in (norm weight, eps): against rms_norm + the composed ops.
            auto nv = rand_vec((size_t)K, seed++, 0.5f, 1.5f), nv2 = nv;
            auto cn = cpu_backend().upload_vector(std::move(nv2));
            auto on = ob->upload_vector(std::move(nv));
            Pair xr = twin(*ob, rand_vec((size_t)n * K, seed++, -3.f, 3.f));
            Pair xn = twin(*ob, std::vector<float>((size_t)n * K, 0.f));
            cpu_backend().rms_norm(*xn.c, *xr.c, *cn, n, K, 1e-5f);
            cpu_backend().matmul(*q.c, *cq, *xn.c, n, false);
            cpu_backend().matmul(*k.c, *ck, *xn.c, n, false);
            cpu_backend().matmul(*v.c, *cv, *xn.c, n, false);
            ob->norm_matmul_qkv(*q.o, *k.o, *v.o, *oq, *ok, *ov, *xr.o, *on, 1e-5f, *xn.o, n);
            expect_close(*ob, q, atol * 3, 5e-4, what + " norm q");
            expect_close(*ob, k, atol * 3, 5e-4, what + " norm k");
            expect_close(*ob, v, atol * 3, 5e-4, what + " norm v");
            cpu_backend().matmul(*g.c, *cg, *xn.c, n, false);
            cpu_backend().matmul(*u.c, *cu, *xn.c, n, false);
            cpu_backend().swiglu(*h.c, *g.c, *u.c, (size_t)n * rff);
            ob->norm_matmul_swiglu(*h.o, *scratch.o, *og, *ou, *xr.o, *on, 1e-5f, *xn.o, n);
            expect_close(*ob, h, atol * 3, 1e-3, what + " norm swiglu");
        }
    }
}

TEST_CASE("opencl fused qkv / swiglu products (with and without the RMSNorm) match the composed reference") {
    std::vector<Backend *> bes = ocl_backends();
    for (size_t i = 0; i < bes.size(); ++i) {
        INFO("path: ", std::string(i ? kGmTune : "device default"));
        case_2(bes[i]);
    }
}

void case_3(Backend *ob) {  // opencl embedding lookup, rms_norm, swiglu, add and copy
    uint32_t seed = 200;
    for (const Fmt &f : kFormats) {
        const int vocab = 50, dim = f.t == DType::F32 || f.t == DType::F16 ? 33 : 96;
        QTensor t = rand_tensor(f.t, vocab, dim, f.mins, seed++);
        auto wc = cpu_backend().upload_matrix(clone(t));
        auto wo = ob->upload_matrix(std::move(t));
        for (int n : {1, 5}) {
            std::vector<int32_t> toks = {49, 0, 7, 7, 23};
            Pair e = twin(*ob, std::vector<float>((size_t)n * dim, 1.f));
            cpu_backend().embed(*e.c, *wc, toks.data(), n);
            ob->embed(*e.o, *wo, toks.data(), n);
            expect_close(*ob, e, 1e-6, 1e-6, std::string("embed ") + f.name);
        }
        int32_t bad = vocab;
        Pair e = twin(*ob, std::vector<float>((size_t)dim, 1.f));
        try {
            ob->embed(*e.o, *wo, &bad, 1);
            FAIL("out-of-range token accepted");
        } catch (const Error &err) {
            CHECK(err.status() == EDGELLM_ERR_INVALID_TOKEN);
        }
    }
    std::vector<int> dims = {1, 7, 33, 100};
    if (!small_mode()) dims.push_back(4096);
    for (int dim : dims) {
        for (int n : {1, 3}) {
            auto wv = rand_vec((size_t)dim, seed++, 0.5f, 1.5f);
            auto wcv = wv;
            auto wc = cpu_backend().upload_vector(std::move(wcv));
            auto wo = ob->upload_vector(std::move(wv));
            Pair x = twin(*ob, rand_vec((size_t)n * dim, seed++, -3.f, 3.f));
            Pair out = twin(*ob, std::vector<float>((size_t)n * dim, 0.f));
            cpu_backend().rms_norm(*out.c, *x.c, *wc, n, dim, 1e-5f);
            ob->rms_norm(*out.o, *x.o, *wo, n, dim, 1e-5f);
            expect_close(*ob, out, 1e-5, 1e-4, "rms_norm " + std::to_string(dim));
            // in place, as the engine does for the last row
            cpu_backend().rms_norm(*x.c, *x.c, *wc, n, dim, 1e-6f);
            ob->rms_norm(*x.o, *x.o, *wo, n, dim, 1e-6f);
            expect_close(*ob, x, 1e-5, 1e-4, "rms_norm in place " + std::to_string(dim));
        }
    }
    for (size_t n : {(size_t)1, (size_t)7, (size_t)1000}) {
        Pair g = twin(*ob, rand_vec(n, seed++, -8.f, 8.f));
        Pair u = twin(*ob, rand_vec(n, seed++));
        Pair o = twin(*ob, std::vector<float>(n, 0.f));
        cpu_backend().swiglu(*o.c, *g.c, *u.c, n);
        ob->swiglu(*o.o, *g.o, *u.o, n);
        expect_close(*ob, o, 1e-6, 1e-5, "swiglu");
        cpu_backend().add(*o.c, *g.c, n);
        ob->add(*o.o, *g.o, n);
        expect_close(*ob, o, 1e-6, 1e-6, "add");
        Pair d = twin(*ob, std::vector<float>(n + 3, 2.f));
        cpu_backend().copy(*d.c, *g.c, n - 1, 3, 1);
        ob->copy(*d.o, *g.o, n - 1, 3, 1);
        expect_close(*ob, d, 0, 0 + 1e-30, "copy");
    }
}

TEST_CASE("opencl embedding lookup, rms_norm, swiglu, add and copy") {
    std::vector<Backend *> bes = ocl_backends();
    for (size_t i = 0; i < bes.size(); ++i) {
        INFO("path: ", std::string(i ? kGmTune : "device default"));
        case_3(bes[i]);
    }
}

// opencl rope_store_kv and attention (prefill then decode, GQA, split context). Decode steps
// alternate between the two ops and rope_attention (fused into one launch where the path has
// attn_dec): each reads the cache rows the other wrote.
struct AttnCfg { int n_head, n_head_kv, head_dim, prompt, steps, n_ctx; };
void case_4(Backend *ob, const std::vector<AttnCfg> *only = nullptr) {
    using Cfg = AttnCfg;
    std::vector<Cfg> cfgs = {{4, 2, 8, 7, 3, 16}, {2, 2, 64, 33, 2, 40}, {8, 2, 128, 5, 2, 12},
                             {12, 1, 16, 9, 3, 24},   // 12 query heads per kv head: two head blocks
                             {3, 1, 12, 5, 2, 10},    // head_dim % 8 != 0: attn_partial + rope_store_kv
                             {4, 1, 256, 40, 2, 50}};  // largest head_dim: short chunks, V in two passes
    if (!small_mode()) cfgs.push_back({4, 1, 64, 300, 3, 700});  // several context chunks
    if (!small_mode()) cfgs.push_back({2, 1, 64, 1, 600, 620});  // long decode
    if (only) cfgs = *only;
    uint32_t seed = 300;
    for (const Cfg &c : cfgs) {
        ModelConfig mc;
        mc.head_dim = c.head_dim;
        mc.rope_theta = 500000.f;
        mc.rope_scaling = RopeScaling::Llama3;
        mc.rope_factor = 8.f;
        const AttnParams par(mc, c.n_head, c.n_head_kv);
        const RopeParams &rp = par.rp;
        const AttentionParams &ap = par.ap;
        const int qd = c.n_head * c.head_dim, kvd = c.n_head_kv * c.head_dim;
        auto kc = cpu_backend().alloc_kv(2, c.n_ctx, kvd);
        auto ko = ob->alloc_kv(2, c.n_ctx, kvd);
        int pos = 0;
        const std::string name = "heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) +
                                 " hd " + std::to_string(c.head_dim);
        auto step = [&](int n, bool fused) {
            Pair q = twin(*ob, rand_vec((size_t)n * qd, seed++, -2.f, 2.f));
            Pair k = twin(*ob, rand_vec((size_t)n * kvd, seed++, -2.f, 2.f));
            Pair v = twin(*ob, rand_vec((size_t)n * kvd, seed++));
            Pair out = twin(*ob, std::vector<float>((size_t)n * qd, 0.f));
            cpu_backend().rope_store_kv(*q.c, *k.c, *v.c, *kc, 1, pos, n, rp);
            cpu_backend().attention(*out.c, *q.c, *kc, 1, pos, n, ap);
            if (fused) {
                ob->rope_attention(*out.o, *q.o, *k.o, *v.o, *ko, 1, pos, n, rp, ap);
            } else {
                ob->rope_store_kv(*q.o, *k.o, *v.o, *ko, 1, pos, n, rp);
                expect_close(*ob, q, 2e-5, 1e-4, name + " rope q at " + std::to_string(pos));
                expect_close(*ob, k, 2e-5, 1e-4, name + " rope k at " + std::to_string(pos));
                ob->attention(*out.o, *q.o, *ko, 1, pos, n, ap);
            }
            // The OpenCL cache holds half: ~1e-3 relative per value.
            expect_close(*ob, out, 3e-3, 3e-3, name + (fused ? " rope_attention" : " attention") + " at " +
                                                   std::to_string(pos) + " n=" + std::to_string(n));
            pos += n;
        };
        step(c.prompt, true);
        // A few tokens at once (attn_dec where the row allows that many; chunks past an early
        // token's position are empty for it).
        if (pos + 3 + c.steps <= c.n_ctx) step(3, false);
        for (int i = 0; i < c.steps && pos < c.n_ctx; ++i) step(1, i % 2 == 0);
    }
}

TEST_CASE("opencl rope_store_kv and attention (prefill then decode, GQA, split context)") {
    std::vector<Backend *> bes = ocl_backends();
    for (size_t i = 0; i < bes.size(); ++i) {
        INFO("path: ", std::string(i ? kGmTune : "device default"));
        case_4(bes[i]);
    }
    if (bes.empty()) return;
    // Chunks of 2 positions: in a 3-token step the first token's position lies before the last
    // chunk, which is then empty for it (attn_dec's early exit, the fused combine's ticket count).
    const std::vector<AttnCfg> tiny = {{4, 2, 8, 1, 3, 12}, {12, 1, 16, 2, 2, 12}};
    for (const char *extra : {",attn_chunk=2", ",attn_chunk=2,attn_fuse=0,attn_qb=2"}) {  // qb 2: 6 head blocks
        const std::string tune = std::string(kGmTune) + extra;
        INFO("path: ", tune);
        std::unique_ptr<Backend> be = make_tuned(tune);
        case_4(be.get(), &tiny);
    }
}

TEST_CASE("opencl weights larger than the max allocation are split by rows") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: skipped");
        return;
    }
    for (const char *tune : {"qa=0", kGmTune}) {
        INFO("path: ", std::string(tune));
        setenv("EDGELLM_OPENCL_MAX_ALLOC", "1000", 1);
        std::unique_ptr<Backend> ob;
        try {
            ob = make_tuned(tune);
        } catch (...) {
            unsetenv("EDGELLM_OPENCL_MAX_ALLOC");
            throw;
        }
        unsetenv("EDGELLM_OPENCL_MAX_ALLOC");
        uint32_t seed = 400;
        for (const Fmt &f : kFormats) {
            const int rows = 45, cols = 128;  // 1000-byte chunks: several chunks per matrix
            QTensor t = rand_tensor(f.t, rows, cols, f.mins, seed++);
            auto wc = cpu_backend().upload_matrix(clone(t));
            auto wo = ob->upload_matrix(std::move(t));
            for (int n : {1, 17}) {
                Pair x = twin(*ob, rand_vec((size_t)n * cols, seed++));
                Pair y = twin(*ob, std::vector<float>((size_t)n * rows, 0.f));
                cpu_backend().matmul(*y.c, *wc, *x.c, n, false);
                ob->matmul(*y.o, *wo, *x.o, n, false);
                expect_close(*ob, y, 1e-4, 2e-4, std::string("split matmul ") + f.name);
            }
            std::vector<int32_t> toks = {44, 0, 20};
            Pair e = twin(*ob, std::vector<float>(3 * cols, 0.f));
            cpu_backend().embed(*e.c, *wc, toks.data(), 3);
            ob->embed(*e.o, *wo, toks.data(), 3);
            expect_close(*ob, e, 1e-6, 1e-6, std::string("split embed ") + f.name);
        }
    }
}

// ---- int8 activations (tuning qa: the NVIDIA row's decode products) --------------------------
// The products then read x quantized per 32-group (d = max|v| / 127, q = rint(v / d)), so they
// are checked against a host emulation of exactly that arithmetic (integer sums exact; allowed:
// fp32 summation order and one q flipped by a different rsqrt rounding) and, loosely, against the
// float reference (normalised mean squared error).
namespace {

const char *const kQaTune = "gm=1,gm_wg=64,gm_rows=3,gm_unroll=2,qa=1";

struct QaX {  // one token of quantized activations
    std::vector<float> d, sumv;
    std::vector<int> q;
    float max_d = 0.f;
};

QaX qa_quant(const float *x, int K, const std::vector<float> *nw, float eps) {
    std::vector<float> v(x, x + K);
    if (nw) {
        float ss = 0.f;
        for (int i = 0; i < K; ++i) ss += x[i] * x[i];
        const float inv = 1.f / std::sqrt(ss / (float)K + eps);
        for (int i = 0; i < K; ++i) v[i] = x[i] * inv * (*nw)[i];
    }
    QaX r;
    r.q.resize(K);
    for (int g = 0; g < K / 32; ++g) {
        float amax = 0.f, s = 0.f;
        for (int i = 0; i < 32; ++i) {
            amax = std::max(amax, std::fabs(v[g * 32 + i]));
            s += v[g * 32 + i];
        }
        const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
        for (int i = 0; i < 32; ++i) r.q[g * 32 + i] = (int)std::nearbyint(v[g * 32 + i] * id);
        r.d.push_back(d);
        r.sumv.push_back(s);
        r.max_d = std::max(r.max_d, d);
    }
    return r;
}

// The emulated product of row r of W with xq, and its tolerance.
void qa_row(const QTensor &W, int64_t r, const QaX &xq, double &y, double &tol) {
    const int K = (int)W.cols;
    std::vector<float> w((size_t)K);
    dequantize_row(W, r, w.data());
    y = 0.0;
    double mag = 0.0, wmax = 0.0;
    for (int g = 0; g < K / 32; ++g) {
        const double m = W.has_mins() ? fp16_to_f32(W.mins.as<uint16_t>()[r * (K / 32) + g]) : 0.0;
        double s = 0.0;
        for (int i = 0; i < 32; ++i) {
            const double wi = w[(size_t)g * 32 + i];
            s += (wi - m) * xq.q[(size_t)g * 32 + i];
            mag += std::fabs(wi * xq.q[(size_t)g * 32 + i] * xq.d[g]);
            wmax = std::max(wmax, std::fabs(wi));
        }
        y += s * xq.d[g] + m * xq.sumv[g];
    }
    tol = 2e-6 * mag + 1e-6 + wmax * xq.max_d;
}

struct QaCheck {
    Backend *ob;
    std::string what;
    // y_ocl (n, rows) vs the emulation of W over xs (one QaX per token) and the float reference.
    void operator()(const Buffer &yo, const std::vector<float> &yref, const QTensor &W,
                    const std::vector<QaX> &xs, size_t y_off, size_t ldy, const std::vector<float> *yacc,
                    bool swiglu_with = false, const QTensor *U = nullptr) const {
        const int n = (int)xs.size();
        std::vector<float> got(yo.n_floats);
        ob->read(yo, got.data(), got.size());
        double worst = 0, num = 0, den = 0;
        std::string at;
        for (int t = 0; t < n; ++t)
            for (int64_t r = 0; r < W.rows; ++r) {
                double e, tol;
                qa_row(W, r, xs[t], e, tol);
                if (swiglu_with) {
                    double u, tu;
                    qa_row(*U, r, xs[t], u, tu);
                    const double sg = e / (1.0 + std::exp(-e));
                    tol = std::fabs(u) * tol + std::fabs(sg) * tu + 1e-6;
                    e = sg * u;
                }
                const size_t i = y_off + (size_t)t * ldy + (size_t)r;
                if (yacc) e += (*yacc)[i];
                const double err = std::fabs(got[i] - e) / tol;
                if (!(err <= worst)) {
                    worst = err;
                    at = "t=" + std::to_string(t) + " r=" + std::to_string(r) + " ocl=" +
                         std::to_string(got[i]) + " emul=" + std::to_string(e);
                }
                num += (got[i] - yref[i]) * (got[i] - yref[i]);
                den += (double)yref[i] * yref[i];
            }
        INFO(what, ": worst vs emulation at ", at);
        CHECK(worst <= 1.0);
        INFO(what, ": NMSE vs float ", num / std::max(den, 1e-30));
        CHECK(num <= 2e-4 * den + 1e-12);
    }
};

}  // namespace

TEST_CASE("opencl int8-activation (qa) products match an int8 emulation and the float reference") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: skipped");
        return;
    }
    std::vector<std::string> tunes = {kQaTune, std::string(kQaTune) + ",dot=0", std::string(kQaTune) + ",qa_pro=0"};
    for (const std::string &tune : tunes) {
        INFO("path: ", tune);
        std::unique_ptr<Backend> obp = make_tuned(tune);
        Backend *ob = obp.get();
        uint32_t seed = 500;
        struct Shape { int rows, cols; };
        std::vector<Shape> shapes = {{1, 32}, {7, 96}, {33, 64}, {100, 160}};
        if (!small_mode()) {
            shapes.push_back({4096, 128});
            shapes.push_back({64, 4096});
            shapes.push_back({33, 14336});
        }
        for (bool mins : {false, true}) {
            for (const Shape &s : shapes) {
                QTensor t = rand_tensor(DType::Q4, s.rows, s.cols, mins, seed++);
                QTensor host = clone(t);
                auto wc = cpu_backend().upload_matrix(clone(t));
                auto wo = ob->upload_matrix(std::move(t));
                for (int n : {1, 3}) {
                    const std::string what = std::string(mins ? "q4+mins " : "q4 ") + std::to_string(s.rows) + "x" +
                                             std::to_string(s.cols) + " n=" + std::to_string(n);
                    // x with one extra leading row and one extra float: offsets cols + 1 (unaligned).
                    std::vector<float> xv = rand_vec((size_t)(n + 1) * s.cols + 1, seed++);
                    Pair x = twin(*ob, xv);
                    Pair y = twin(*ob, rand_vec((size_t)(n + 1) * s.rows, seed++));
                    std::vector<QaX> xs;
                    for (int t = 0; t < n; ++t) xs.push_back(qa_quant(&xv[(size_t)s.cols + 1 + (size_t)t * s.cols], s.cols, nullptr, 0.f));
                    cpu_backend().matmul(*y.c, *wc, *x.c, n, false, s.cols + 1, 0);
                    ob->matmul(*y.o, *wo, *x.o, n, false, s.cols + 1, 0);
                    QaCheck chk{ob, what + " overwrite"};
                    chk(*y.o, read_all(cpu_backend(), *y.c), host, xs, 0, s.rows, nullptr);
                    // accumulate into y at offset `rows` (the residual add), x from offset 0
                    std::vector<float> before = read_all(*ob, *y.o);
                    xs.clear();
                    for (int t = 0; t < n; ++t) xs.push_back(qa_quant(&xv[(size_t)t * s.cols], s.cols, nullptr, 0.f));
                    cpu_backend().matmul(*y.c, *wc, *x.c, n, true, 0, s.rows);
                    ob->matmul(*y.o, *wo, *x.o, n, true, 0, s.rows);
                    QaCheck{ob, what + " accumulate"}(*y.o, read_all(cpu_backend(), *y.c), host, xs, s.rows, s.rows,
                                                      &before);
                }
            }
            // Fused q/k/v and gate/up + SwiGLU, with and without the RMSNorm folded into quant_act.
            const int K = small_mode() ? 64 : 512, rq = 96, rkv = 33, rff = small_mode() ? 40 : 300;
            for (int n : {1, 2}) {
                FusedWeights fw(*ob, DType::Q4, mins, K, rq, rkv, rff, seed);
                const QTensor &hq = fw.h[0], &hk = fw.h[1], &hv = fw.h[2], &hg = fw.h[3], &hu = fw.h[4];
                auto &cq = fw.c[0], &ck = fw.c[1], &cv = fw.c[2], &cg = fw.c[3], &cu = fw.c[4];
                auto &oq = fw.o[0], &ok = fw.o[1], &ov = fw.o[2], &og = fw.o[3], &ou = fw.o[4];
                for (bool norm : {false, true}) {
                    const std::string what = std::string(mins ? "q4+mins" : "q4") + (norm ? " norm" : "") +
                                             " n=" + std::to_string(n);
                    std::vector<float> xv = rand_vec((size_t)n * K, seed++, -3.f, 3.f);
                    std::vector<float> nw = rand_vec((size_t)K, seed++, 0.5f, 1.5f), nw2 = nw, nw3 = nw;
                    auto cn = cpu_backend().upload_vector(std::move(nw2));
                    auto on = ob->upload_vector(std::move(nw3));
                    Pair x = twin(*ob, xv), xn = twin(*ob, std::vector<float>((size_t)n * K, 0.f));
                    std::vector<QaX> xs;
                    for (int t = 0; t < n; ++t) xs.push_back(qa_quant(&xv[(size_t)t * K], K, norm ? &nw : nullptr, 1e-5f));
                    Pair q = twin(*ob, std::vector<float>((size_t)n * rq, 7.f));
                    Pair k = twin(*ob, std::vector<float>((size_t)n * rkv, 7.f));
                    Pair v = twin(*ob, std::vector<float>((size_t)n * rkv, 7.f));
                    const Buffer *xin = x.c.get();
                    if (norm) {
                        cpu_backend().rms_norm(*xn.c, *x.c, *cn, n, K, 1e-5f);
                        xin = xn.c.get();
                        ob->norm_matmul_qkv(*q.o, *k.o, *v.o, *oq, *ok, *ov, *x.o, *on, 1e-5f, *xn.o, n);
                    } else {
                        ob->matmul_qkv(*q.o, *k.o, *v.o, *oq, *ok, *ov, *x.o, n);
                    }
                    cpu_backend().matmul(*q.c, *cq, *xin, n, false);
                    cpu_backend().matmul(*k.c, *ck, *xin, n, false);
                    cpu_backend().matmul(*v.c, *cv, *xin, n, false);
                    QaCheck{ob, what + " q"}(*q.o, read_all(cpu_backend(), *q.c), hq, xs, 0, rq, nullptr);
                    QaCheck{ob, what + " k"}(*k.o, read_all(cpu_backend(), *k.c), hk, xs, 0, rkv, nullptr);
                    QaCheck{ob, what + " v"}(*v.o, read_all(cpu_backend(), *v.c), hv, xs, 0, rkv, nullptr);
                    Pair h = twin(*ob, std::vector<float>((size_t)n * rff, 3.f));
                    Pair scratch = twin(*ob, std::vector<float>((size_t)n * rff, 0.f));
                    Pair g = twin(*ob, std::vector<float>((size_t)n * rff, 0.f));
                    Pair u = twin(*ob, std::vector<float>((size_t)n * rff, 0.f));
                    if (norm) ob->norm_matmul_swiglu(*h.o, *scratch.o, *og, *ou, *x.o, *on, 1e-5f, *xn.o, n);
                    else ob->matmul_swiglu(*h.o, *scratch.o, *og, *ou, *x.o, n);
                    cpu_backend().matmul(*g.c, *cg, *xin, n, false);
                    cpu_backend().matmul(*u.c, *cu, *xin, n, false);
                    cpu_backend().swiglu(*h.c, *g.c, *u.c, (size_t)n * rff);
                    QaCheck{ob, what + " swiglu"}(*h.o, read_all(cpu_backend(), *h.c), hg, xs, 0, rff, nullptr, true, &hu);
                }
            }
        }
    }
}

TEST_CASE("opencl int8 activations quantized by their producers (SwiGLU, attention) feed the next product") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: skipped");
        return;
    }
    // One row per item and one K-slice (gm_items=1): blocks of 64 whole rows, so gmq_swiglu_q4
    // quantizes its output; attention split into chunks of 8: the last attn_dec work-group of
    // each head block quantizes (attn_fuse=0: attn_reduce_q does, over at most 2 longer chunks).
    for (const char *tune : {"gm=1,gm_wg=64,gm_rows=1,gm_items=1,qa=1,attn_dec=1,attn_chunk=8,attn_fuse=1",
                             "gm=1,gm_wg=64,gm_rows=1,gm_items=1,qa=1,attn_dec=1,attn_chunk=8,attn_fuse=0,attn_dec_chunks=2"}) {
    INFO("tune: ", tune);
    std::unique_ptr<Backend> obp = make_tuned(tune);
    Backend *ob = obp.get();
    uint32_t seed = 700;
    for (bool mins : {false, true}) {
        const int K = 128, F = 192, D = 40;
        QTensor tg = rand_tensor(DType::Q4, F, K, mins, seed++), tu = rand_tensor(DType::Q4, F, K, mins, seed++),
                td = rand_tensor(DType::Q4, D, F, mins, seed++);
        QTensor hd = clone(td);
        auto og = ob->upload_matrix(std::move(tg)), ou = ob->upload_matrix(std::move(tu)),
             od = ob->upload_matrix(std::move(td));
        auto cd = cpu_backend().upload_matrix(clone(hd));
        for (int n : {1, 2}) {
            for (bool interrupt : {false, true}) {
                const std::string what = std::string(mins ? "q4+mins" : "q4") + " n=" + std::to_string(n) +
                                         (interrupt ? " (another op in between)" : "");
                Pair x = twin(*ob, rand_vec((size_t)n * K, seed++, -2.f, 2.f));
                Pair h = twin(*ob, std::vector<float>((size_t)n * F, 0.f));
                Pair scratch = twin(*ob, std::vector<float>((size_t)n * F, 0.f));
                Pair y = twin(*ob, std::vector<float>((size_t)n * D, 0.f));  // (a write: before)
                ob->matmul_swiglu(*h.o, *scratch.o, *og, *ou, *x.o, n);
                if (interrupt) ob->copy(*scratch.o, *x.o, 4);
                ob->matmul(*y.o, *od, *h.o, n, false);
                // Emulation over the SwiGLU output as the device wrote it (float).
                std::vector<float> hv = read_all(*ob, *h.o);
                cpu_backend().write(*h.c, hv.data(), hv.size());
                cpu_backend().matmul(*y.c, *cd, *h.c, n, false);
                std::vector<QaX> xs;
                for (int t = 0; t < n; ++t) xs.push_back(qa_quant(&hv[(size_t)t * F], F, nullptr, 0.f));
                QaCheck{ob, what + " swiglu -> down"}(*y.o, read_all(cpu_backend(), *y.c), hd, xs, 0, D, nullptr);
            }
        }
        // Attention (4 query heads over 2 kv heads, head_dim 32) -> Wo.
        const int nh = 4, nkv = 2, hdim = 32, qd = nh * hdim, kvd = nkv * hdim, ctx = 30;
        ModelConfig mc;
        mc.head_dim = hdim;
        mc.rope_theta = 10000.f;
        const AttnParams par(mc, nh, nkv);
        const RopeParams &rp = par.rp;
        const AttentionParams &ap = par.ap;
        QTensor to = rand_tensor(DType::Q4, 48, qd, mins, seed++);
        QTensor ho = clone(to);
        auto oo = ob->upload_matrix(std::move(to));
        auto co = cpu_backend().upload_matrix(clone(ho));
        auto ko = ob->alloc_kv(1, ctx, kvd);
        auto kcpu = cpu_backend().alloc_kv(1, ctx, kvd);
        for (int pos = 0; pos < ctx; ++pos) {
            Pair q = twin(*ob, rand_vec((size_t)qd, seed++, -2.f, 2.f));
            Pair k = twin(*ob, rand_vec((size_t)kvd, seed++, -2.f, 2.f));
            Pair v = twin(*ob, rand_vec((size_t)kvd, seed++));
            Pair out = twin(*ob, std::vector<float>((size_t)qd, 0.f));
            Pair y = twin(*ob, rand_vec(48, seed++));
            std::vector<float> before = read_all(*ob, *y.o);
            if (pos % 2) {  // RoPE and the KV store fused into the attention launch
                ob->rope_attention(*out.o, *q.o, *k.o, *v.o, *ko, 0, pos, 1, rp, ap);
            } else {
                ob->rope_store_kv(*q.o, *k.o, *v.o, *ko, 0, pos, 1, rp);
                ob->attention(*out.o, *q.o, *ko, 0, pos, 1, ap);
            }
            ob->matmul(*y.o, *oo, *out.o, 1, true);
            // The float attention output (written by the step that also quantized it) first.
            cpu_backend().rope_store_kv(*q.c, *k.c, *v.c, *kcpu, 0, pos, 1, rp);
            cpu_backend().attention(*out.c, *q.c, *kcpu, 0, pos, 1, ap);
            expect_close(*ob, out, 3e-3, 3e-3, std::string("attention output at ") + std::to_string(pos));
            std::vector<float> av = read_all(*ob, *out.o);
            cpu_backend().write(*out.c, av.data(), av.size());
            cpu_backend().write(*y.c, before.data(), before.size());
            cpu_backend().matmul(*y.c, *co, *out.c, 1, true);
            std::vector<QaX> xs = {qa_quant(av.data(), qd, nullptr, 0.f)};
            QaCheck{ob, std::string(mins ? "q4+mins" : "q4") + " attention -> Wo at " + std::to_string(pos)}(
                *y.o, read_all(cpu_backend(), *y.c), ho, xs, 0, 48, &before);
        }
    }
    }
}
