// The fused layer tail of the OpenCL backend (Backend::layer_tail as one layer_tail_q4 launch)
// against the same op run as separate launches on the same device (the same int8 activations:
// results agree to float rounding) and against the CPU reference (float activations: within the
// int8 quantization error), over several chained layers and repeated launches (the kernel's
// counters must come back to zero), with several work-group counts and block shapes; the same with
// the layer's attention (RoPE, KV store, attention) as the launch's first stage
// (Backend::attention_layer_tail) over a growing context. Also Backend::norm_matmul, the final
// norm folded into the logits' int8 input.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"
#include "model/tensor.h"
#include "opencl_test_util.h"

using namespace edgellm;
using namespace edgellm_test;

namespace {

// One decoder layer's weights on the three backends (CPU reference, fused, separate launches).
struct TailLayer {
    std::unique_ptr<Weight> w[4][9];  // [backend][wq wk wv wo gate up down attn_norm ffn_norm]
    LayerRefs refs[4];
    // The same weights on be[0..nb) (nb <= 4).
    TailLayer(Backend *const *be, int nb, int E, int F, int Q, int KV, bool mins, uint32_t &seed) {
        const int rows[7] = {Q, KV, KV, E, F, F, E}, cols[7] = {E, E, E, Q, E, E, F};
        for (int i = 0; i < 7; ++i) {
            QTensor t = rand_tensor(DType::Q4, rows[i], cols[i], mins, seed++);
            for (int b = 0; b < nb; ++b) w[b][i] = be[b]->upload_matrix(clone(t));
        }
        for (int i = 7; i < 9; ++i) {
            std::vector<float> nw = rand_vec((size_t)E, seed++, 0.5f, 1.5f);
            for (int b = 0; b < nb; ++b) w[b][i] = be[b]->upload_vector(std::vector<float>(nw));
        }
        for (int b = 0; b < nb; ++b) {
            LayerRefs &r = refs[b];
            r.wq = w[b][0].get(); r.wk = w[b][1].get(); r.wv = w[b][2].get(); r.wo = w[b][3].get();
            r.w_gate = w[b][4].get(); r.w_up = w[b][5].get(); r.w_down = w[b][6].get();
            r.attn_norm = w[b][7].get(); r.ffn_norm = w[b][8].get();
        }
    }
};

// One backend's buffers of a layer tail: x (from x0), the attention output, q / k / v and the
// scratch (h, up, xn).
struct TailBufs {
    std::unique_ptr<Buffer> x, att, q, k, v, h, up, xn;
    TailBufs(Backend &be, int E, int F, int Q, int KV, const std::vector<float> &x0)
        : x(be.alloc(E)), att(be.alloc(Q)), q(be.alloc(Q)), k(be.alloc(KV)), v(be.alloc(KV)), h(be.alloc(F)),
          up(be.alloc(F)), xn(be.alloc(E)) {
        be.write(*x, x0.data(), x0.size());
    }
    Buffer &qkv(int i) { return i == 0 ? *q : i == 1 ? *k : *v; }
};

// Normalized squared error of got vs ref.
double nmse(const std::vector<float> &got, const std::vector<float> &ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return num / std::max(den, 1e-30);
}

// Worst |a - b| / (atol + rtol |b|).
double worst_rel(const std::vector<float> &a, const std::vector<float> &b, double atol, double rtol) {
    double w = 0;
    for (size_t i = 0; i < b.size(); ++i) w = std::max(w, std::fabs((double)a[i] - b[i]) / (atol + rtol * std::fabs((double)b[i])));
    return w;
}

}  // namespace

TEST_CASE("opencl fused layer tail (one launch) matches separate launches and the CPU reference") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: skipped");
        return;
    }
    // Small work-groups so that every stage has several blocks; stage shapes: gm_max_split 2 gives
    // 32-row blocks of 2 K-slices, gm_items=1 64-row blocks of one slice. tail_wpc: few work-groups
    // (each runs many blocks, waiting at stage boundaries) or more work-groups than blocks. tail_s*:
    // stages 0, 2 and 3 with their own K-slices (8-row blocks of 8 slices over 10 groups for W_down).
    const std::string base = "gm=1,gm_wg=64,gm_rows=1,qa=1,";
    const std::vector<std::string> shapes = {"gm_max_split=2,tail_wpc=1", "gm_max_split=2,tail_wpc=64",
                                             "gm_items=1,tail_wpc=2",
                                             "gm_max_split=2,tail_s0=1,tail_s2=8,tail_s3=4,tail_wpc=2"};
    const int E = 128, F = 320, Q = 96, KV = 32, n_layer = 3, rounds = small_mode() ? 1 : 2;
    const float eps = 1e-5f;
    for (const std::string &shape : shapes) {
        INFO("tune: ", shape);
        std::unique_ptr<Backend> fused = make_tuned(base + shape + ",fuse_tail=1");
        std::unique_ptr<Backend> sep = make_tuned(base + shape + ",fuse_tail=0");
        Backend *be[3] = {&cpu_backend(), fused.get(), sep.get()};
        for (bool mins : {false, true}) {
            uint32_t seed = mins ? 900 : 800;
            std::vector<std::unique_ptr<TailLayer>> layers;
            for (int l = 0; l < n_layer; ++l) layers.push_back(std::make_unique<TailLayer>(be, 3, E, F, Q, KV, mins, seed));
            // Per backend: x, att, q, k, v and the scratch (h, up, xn).
            std::vector<float> x0 = rand_vec((size_t)E, seed++, -2.f, 2.f);
            std::unique_ptr<TailBufs> B[3];
            for (int b = 0; b < 3; ++b) B[b] = std::make_unique<TailBufs>(*be[b], E, F, Q, KV, x0);
            for (int r = 0; r < rounds; ++r) {
                for (int l = 0; l < n_layer; ++l) {
                    const bool more = l + 1 < n_layer;
                    // The attention output: here random (scaled like one), same on every backend.
                    std::vector<float> a = rand_vec((size_t)Q, seed++, -1.f, 1.f);
                    const uint64_t l0 = opencl_launch_count(*fused), s0 = opencl_launch_count(*sep);
                    for (int b = 0; b < 3; ++b) {
                        TailBufs &t = *B[b];
                        be[b]->write(*t.att, a.data(), a.size());
                        be[b]->layer_tail(*t.x, *t.att, layers[(size_t)l]->refs[b],
                                          more ? &layers[(size_t)l + 1]->refs[b] : nullptr, *t.q, *t.k, *t.v, *t.h,
                                          *t.up, *t.xn, 1, eps);
                    }
                    const std::string what = std::string(mins ? "q4+mins" : "q4") + " round " + std::to_string(r) +
                                             " layer " + std::to_string(l);
                    INFO(what);
                    // One launch for the tail plus the quantization of att (no producer did it here),
                    // against quant_act + Wo + gate/up + W_down (+ q/k/v) launched separately.
                    CHECK(opencl_launch_count(*fused) - l0 == 2);
                    CHECK(opencl_launch_count(*sep) - s0 == (more ? 5u : 4u));
                    std::vector<float> xc = read_all(*be[0], *B[0]->x), xf = read_all(*be[1], *B[1]->x),
                                       xs = read_all(*be[2], *B[2]->x);
                    CHECK(worst_rel(xf, xs, 1e-3, 1e-3) <= 1.0);
                    CHECK(nmse(xf, xc) <= 2e-4);
                    if (more) {
                        for (int i = 0; i < 3; ++i) {
                            INFO("output ", std::string(1, "qkv"[i]));
                            std::vector<float> c = read_all(*be[0], B[0]->qkv(i)), f = read_all(*be[1], B[1]->qkv(i)),
                                               s = read_all(*be[2], B[2]->qkv(i));
                            CHECK(worst_rel(f, s, 1e-3, 1e-3) <= 1.0);
                            // Two int8 inputs upstream of these (h for W_down, then n1(x)).
                            CHECK(nmse(f, c) <= 5e-4);
                        }
                    }
                    // Keep the three residual streams identical (the CPU one is the float reference of
                    // this layer only): the next layer starts from the fused x everywhere.
                    for (int b : {0, 2}) be[b]->write(*B[b]->x, xf.data(), xf.size());
                    if (more)
                        for (int b : {0, 2}) {
                            std::vector<float> qf = read_all(*be[1], *B[1]->q), kf = read_all(*be[1], *B[1]->k),
                                               vf = read_all(*be[1], *B[1]->v);
                            be[b]->write(*B[b]->q, qf.data(), qf.size());
                            be[b]->write(*B[b]->k, kf.data(), kf.size());
                            be[b]->write(*B[b]->v, vf.data(), vf.size());
                        }
                }
            }
        }
    }
}

// Backend::attention_layer_tail: RoPE, the KV store and attention as the first stage of the fused
// layer tail (tail_attn: one launch per layer) against the separate launches on the same device
// (attn_dec, then the fused tail) and the CPU reference, for two layers with their own KV-cache
// layers over a context that grows past several chunks, GQA with several query-head blocks per kv
// head or all of them in one block, few or many work-groups. q / k / v of layer 0 are random at
// every position, those of layer 1 come from layer 0's launch (its stage 3); x and q / k / v are
// carried over from the fused backend everywhere, so each step compares one op.
// Also tail_attn=2: the next layer's attention as the tail's last stage (layer 0's launch runs
// layer 1's attention, layer 1's call then only its tail); its x is carried over only between
// positions, so that layer 1's call finds the attention its previous launch ran.
TEST_CASE("opencl attention fused into the layer tail (one launch per layer) matches separate launches and the CPU") {
    const std::vector<edgellm_device_info> devs = list_opencl_devices();
    if (devs.empty()) {
        MESSAGE("no OpenCL platform found: skipped");
        return;
    }
    // PoCL 3.1 (Debian 12) miscompiles layer_tail_q4 with the attention stage compiled in (memory
    // corruption or a hang even where the stage does not run; the same kernel is clean under
    // oclgrind with race detection, which CI runs on this file, and passes on NVIDIA).
    if (!std::getenv("DBG_POCL") && std::string(devs[0].platform_name).find("Portable Computing Language") != std::string::npos) {
        MESSAGE("PoCL: skipped (kernel compiler bug, see above); oclgrind and GPU runs cover this case");
        return;
    }
    const std::string base = "gm=1,gm_wg=64,gm_rows=1,qa=1,attn_dec=1,fuse_tail=1,";
    struct Shape {
        const char *tune;
        bool mins;
    };
    const Shape shapes[] = {{"gm_max_split=2,attn_qb=1,attn_chunk=4,tail_wpc=2", false},
                            {"gm_max_split=2,attn_qb=8,attn_chunk=3,tail_wpc=64", true},
                            {"gm_items=1,attn_qb=2,attn_chunk=8,tail_wpc=1", false}};
    const int n_head = 4, n_kv = 2, hd = 32, E = 128, F = 320, Q = n_head * hd, KV = n_kv * hd, n_layer = 2;
    const int n_pos = small_mode() ? 10 : 20;
    const float eps = 1e-5f;
    ModelConfig mc;
    mc.head_dim = hd;
    mc.rope_theta = 10000.f;
    const AttnParams par(mc, n_head, n_kv);
    for (const Shape &shape : shapes) {
        INFO("tune: ", std::string(shape.tune));
        std::unique_ptr<Backend> fused = make_tuned(base + shape.tune + ",tail_attn=1");
        // (tail_kvpf: the separate tail also prefetches the next layer's K / V into L2, on NVIDIA;
        // elsewhere only its arguments are bound, the kernel compiles it out.)
        std::unique_ptr<Backend> sep = make_tuned(base + shape.tune + ",tail_attn=0,tail_kvpf=2");
        std::unique_ptr<Backend> ahead = make_tuned(base + shape.tune + ",tail_attn=2");
        Backend *be[4] = {&cpu_backend(), fused.get(), sep.get(), ahead.get()};
        uint32_t seed = shape.mins ? 1900 : 1800;
        std::vector<std::unique_ptr<TailLayer>> layers;
        for (int l = 0; l < n_layer; ++l)
            layers.push_back(std::make_unique<TailLayer>(be, 4, E, F, Q, KV, shape.mins, seed));
        std::vector<float> x0 = rand_vec((size_t)E, seed++, -2.f, 2.f);
        std::unique_ptr<TailBufs> B[4];
        std::unique_ptr<KvCache> kv[4];
        for (int b = 0; b < 4; ++b) {
            B[b] = std::make_unique<TailBufs>(*be[b], E, F, Q, KV, x0);
            kv[b] = be[b]->alloc_kv(n_layer, n_pos, KV);
        }
        for (int pos = 0; pos < n_pos; ++pos)
            for (int l = 0; l < n_layer; ++l) {
                const bool more = l + 1 < n_layer;
                INFO("position ", pos, " layer ", l);
                if (l == 0) {  // the layer's q / k / v (scaled like the products' outputs)
                    const std::vector<float> qv = rand_vec((size_t)Q, seed++, -2.f, 2.f),
                                             kv0 = rand_vec((size_t)KV, seed++, -2.f, 2.f),
                                             vv = rand_vec((size_t)KV, seed++, -1.f, 1.f);
                    for (int b = 0; b < 4; ++b) {
                        be[b]->write(*B[b]->q, qv.data(), qv.size());
                        be[b]->write(*B[b]->k, kv0.data(), kv0.size());
                        be[b]->write(*B[b]->v, vv.data(), vv.size());
                    }
                }
                const uint64_t l0 = opencl_launch_count(*fused), a0 = opencl_launch_count(*ahead);
                for (int b = 0; b < 4; ++b) {
                    TailBufs &t = *B[b];
                    be[b]->attention_layer_tail(*t.x, *t.att, *t.q, *t.k, *t.v, *kv[b], l, pos, par.rp, par.ap,
                                                layers[(size_t)l]->refs[b],
                                                more ? &layers[(size_t)l + 1]->refs[b] : nullptr, *t.h, *t.up, *t.xn,
                                                1, eps);
                }
                CHECK(opencl_launch_count(*fused) - l0 == 1);
                // tail_attn=2: layer 0 its attention (attn_dec, with attn_reduce_q where the device does
                // not combine in attn_dec) and the tail with layer 1's attention; layer 1 only the tail.
                if (l == 0) CHECK(opencl_launch_count(*ahead) - a0 >= 2u);
                else CHECK(opencl_launch_count(*ahead) - a0 == 1u);
                // The attention output (float; all earlier K / V rows came through each backend's
                // own cache), then the residual stream and the next q / k / v.
                const std::vector<float> ac = read_all(*be[0], *B[0]->att), af = read_all(*be[1], *B[1]->att),
                                         as = read_all(*be[2], *B[2]->att);
                CHECK(worst_rel(af, ac, 1e-2, 1e-2) <= 1.0);  // half K / V in the device caches
                CHECK(worst_rel(af, as, 1e-4, 1e-4) <= 1.0);
                if (!more) {  // tail_attn=2: att is layer 1's, which layer 0's launch computed
                    const std::vector<float> aa = read_all(*be[3], *B[3]->att);
                    CHECK(worst_rel(aa, ac, 1e-2, 1e-2) <= 1.0);
                    CHECK(worst_rel(aa, af, 1e-4, 1e-4) <= 1.0);
                }
                const std::vector<float> xc = read_all(*be[0], *B[0]->x), xf = read_all(*be[1], *B[1]->x),
                                         xs = read_all(*be[2], *B[2]->x), xa = read_all(*be[3], *B[3]->x);
                CHECK(nmse(xf, xc) <= 2e-4);
                CHECK(nmse(xf, xs) <= 1e-6);  // the same int8 inputs up to the rounding of att
                CHECK(nmse(xf, xa) <= 1e-6);
                for (int b : {0, 2}) be[b]->write(*B[b]->x, xf.data(), xf.size());
                if (!more) be[3]->write(*B[3]->x, xf.data(), xf.size());  // (between positions only)
                if (!more) continue;
                for (int i = 0; i < 3; ++i) {
                    INFO("output ", std::string(1, "qkv"[i]));
                    const std::vector<float> c = read_all(*be[0], B[0]->qkv(i)), f = read_all(*be[1], B[1]->qkv(i)),
                                             sp = read_all(*be[2], B[2]->qkv(i)), a = read_all(*be[3], B[3]->qkv(i));
                    CHECK(nmse(f, sp) <= 1e-6);
                    CHECK(nmse(f, a) <= 1e-6);
                    CHECK(nmse(f, c) <= 5e-4);
                    for (int b : {0, 2}) be[b]->write(B[b]->qkv(i), f.data(), f.size());
                }
            }
    }
}

// The model's last step (Backend::norm_matmul: final RMSNorm, then the logits product for the
// last token's row of x): with int8 activations the OpenCL backend norms and quantizes x in one
// quant_act launch (no rms_norm launch, no copy of the row); against the composed ops on the
// same device and against the CPU reference.
TEST_CASE("opencl norm_matmul (the final norm folded into the logits' input) matches the composed ops") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: skipped");
        return;
    }
    // The product as one K-slice per row (gm_items=1), then as 4 (logits_split, which NVIDIA sets).
    for (const char *split : {"", ",logits_split=4"}) {
        INFO("tune: gm_items=1", split);
        std::unique_ptr<Backend> fused = make_tuned(std::string("gm=1,gm_wg=64,gm_rows=1,qa=1,gm_items=1") + split);
        std::unique_ptr<Backend> plain = make_tuned("gm=1,gm_wg=64,gm_rows=1,qa=0");
        Backend *be[3] = {&cpu_backend(), fused.get(), plain.get()};
        const int rows = 100, cols = 160, n = 3;
        const float eps = 1e-5f;
        for (bool mins : {false, true})
            for (int last : {0, n - 1}) {
                INFO((mins ? "q4+mins" : "q4"), ", row ", last);
                const uint32_t seed = (mins ? 70 : 60) + (uint32_t)last;
                QTensor t = rand_tensor(DType::Q4, rows, cols, mins, seed);
                std::vector<float> nw = rand_vec((size_t)cols, seed + 10, 0.5f, 1.5f);
                std::vector<float> x0 = rand_vec((size_t)n * cols, seed + 20, -3.f, 3.f);
                std::vector<float> y[3];
                uint64_t launches[3] = {0, 0, 0};
                for (int b = 0; b < 3; ++b) {
                    std::unique_ptr<Weight> w = be[b]->upload_matrix(clone(t));
                    std::unique_ptr<Weight> norm = be[b]->upload_vector(std::vector<float>(nw));
                    std::unique_ptr<Buffer> x = be[b]->alloc((size_t)n * cols), out = be[b]->alloc(rows),
                                            xn = be[b]->alloc(cols);
                    be[b]->write(*x, x0.data(), x0.size());
                    const uint64_t l0 = b ? opencl_launch_count(*be[b]) : 0;
                    be[b]->norm_matmul(*out, *w, *x, (size_t)last * cols, *norm, eps, *xn);
                    if (b) launches[b] = opencl_launch_count(*be[b]) - l0;
                    y[b] = read_all(*be[b], *out);
                }
                CHECK(launches[1] == 2);  // quant_act (norm + quantization) + the product
                CHECK(launches[2] == 2);  // rms_norm + the product (float activations); the row copy is no launch
                CHECK(worst_rel(y[2], y[0], 1e-4, 1e-4) <= 1.0);
                CHECK(nmse(y[1], y[0]) <= 2e-4);  // int8 activations
            }
    }
}
