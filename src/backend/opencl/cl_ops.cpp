// The ops of the OpenCL backend: argument checks, kernel selection and launch geometry. Decode
// products (up to gemv_max_n tokens) run gemv.cl (int8 activations for Q4 / Q8_0), prefill
// products a dequantized tile through CLBlast (HGEMM on half tiles where the row enables fp16,
// SGEMM otherwise). No host synchronisation here, except argmax, which reads back its index.
#include <clblast.h>
#include <clblast_half.h>

#include <algorithm>
#include <cmath>

#include "backend/opencl/cl_backend.h"

namespace edgellm {
namespace ocl {

namespace {

cl_mem mem_of(const Buffer &b) { return static_cast<const ClBuffer &>(b).mem.m; }
ClBuffer &cb(const Buffer &b) { return const_cast<ClBuffer &>(static_cast<const ClBuffer &>(b)); }
const ClWeight &cw(const Weight &w) { return static_cast<const ClWeight &>(w); }

void need(bool ok, const char *what) {
    if (!ok) fail(EDGELLM_ERR_INTERNAL, "OpenCL op: %s", what);
}

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// An index the argmax kernel produced, read back: outside [0, n) only if the device failed.
int32_t checked_index(cl_int r, size_t n) {
    if (r < 0 || (size_t)r >= n) fail(EDGELLM_ERR_DEVICE, "OpenCL argmax: index %d for %zu values", (int)r, n);
    return r;
}

bool quantized(DType t) { return t == DType::Q4 || t == DType::Q8_0; }

// glu writes the int8 form of its output for up to gemv_max_n tokens of this many elements.
constexpr size_t kGluQ8MaxPerToken = 1 << 16;

}  // namespace

// ---- embeddings, norms, element-wise ----

void ClBackend::launch_embed(const ClWeight &W, const WeightChunk &c, cl_mem ids, cl_int tok0, int n, Buffer &out,
                             size_t out_off, float scale) {
    const char *kn = W.type == DType::Q4 ? "embed_q4" : W.type == DType::Q8_0 ? "embed_q8"
                     : W.type == DType::F16 ? "embed_f16" : "embed_f32";
    cl_kernel k = kernel(kn);
    args(k, c.data.m, c.scales.m ? c.scales.m : dummy_.m, c.mins.m ? c.mins.m : (c.scales.m ? c.scales.m : dummy_.m),
         (cl_int)W.has_mins, (cl_int)W.cols, ids ? ids : dummy_.m, tok0, (cl_int)c.rows, mem_of(out),
         (cl_long)out_off, (cl_float)scale);
    size_t gws[2] = {round_up((size_t)W.cols, 64), (size_t)n};
    launch(kn, k, 2, gws, nullptr);
}

void ClBackend::embed(Buffer &out, const Weight &table, const int32_t *tokens, int n, float scale) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(table);
    if (n <= 0) return;
    need(out.n_floats >= (size_t)n * (size_t)W.cols, "embed output too small");
    touch(out);
    for (int i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= W.rows)
            fail(EDGELLM_ERR_INVALID_TOKEN, "token %d outside [0, %lld)", tokens[i], (long long)W.rows);
    if (W.chunks.size() == 1 && n > 1) {
        ensure(tokens_, tokens_cap_, (size_t)n * 4);
        check(clEnqueueWriteBuffer(queue_, tokens_.m, CL_TRUE, 0, (size_t)n * 4, tokens, 0, nullptr, nullptr),
              "clEnqueueWriteBuffer(tokens)");
        launch_embed(W, W.chunks[0], tokens_.m, -1, n, out, 0, scale);
        return;
    }
    // One token per launch (decode, or a table split over several buffers): the id is an argument.
    for (int i = 0; i < n; ++i) {
        const WeightChunk *c = &W.chunks[0];
        for (const WeightChunk &cc : W.chunks)
            if (tokens[i] >= cc.row0 && tokens[i] < cc.row0 + cc.rows) c = &cc;
        launch_embed(W, *c, nullptr, (cl_int)(tokens[i] - c->row0), 1, out, (size_t)i * (size_t)W.cols, scale);
    }
}

void ClBackend::rms_norm(Buffer &out, const Buffer &x, const Weight &w, int rows, int dim, float eps,
                         size_t x_offset) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (rows <= 0) return;
    need(x.n_floats >= x_offset + (size_t)rows * dim && out.n_floats >= (size_t)rows * dim && cw(w).cols == dim,
         "rms_norm shapes");
    need(&out != &x || x_offset == 0, "rms_norm in place with an offset");
    touch(out);
    size_t gws = (size_t)rows * tune_.norm_wg, lws = (size_t)tune_.norm_wg;
    if (dim % 32 == 0 && want_q8((size_t)dim / 32, (size_t)rows)) {
        // Decode: the norm's output feeds a product; write its int8 form too (no quant_i8 launch).
        ClBuffer &o = cb(out);
        q8_target(o, (size_t)rows * dim);
        cl_kernel k = kernel("rms_norm_q8");
        args(k, mem_of(out), mem_of(x), (cl_long)x_offset, cw(w).chunks[0].data.m, (cl_int)dim, (cl_float)eps,
             o.q8.m, o.d8.m);
        launch("rms_norm_q8", k, 1, &gws, &lws);
        o.q8_version = o.version;
        o.q8_off = 0;
        o.q8_elems = (size_t)rows * dim;
        return;
    }
    cl_kernel k = kernel("rms_norm");
    args(k, mem_of(out), mem_of(x), (cl_long)x_offset, cw(w).chunks[0].data.m, (cl_int)dim, (cl_float)eps);
    launch("rms_norm", k, 1, &gws, &lws);
}

void ClBackend::add_bias(Buffer &y, const Weight &b, int n, int dim) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    need(y.n_floats >= (size_t)n * dim && cw(b).cols == dim, "add_bias shapes");
    touch(y);
    cl_kernel k = kernel("add_bias");
    args(k, mem_of(y), cw(b).chunks[0].data.m, (cl_int)dim);
    size_t gws[2] = {round_up((size_t)dim, 64), (size_t)n};
    launch("add_bias", k, 2, gws, nullptr);
}

void ClBackend::glu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n, Activation act) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(out.n_floats >= n && gate.n_floats >= n && up.n_floats >= n, "glu sizes");
    touch(out);
    if (n % 32 == 0 && n <= (size_t)tune_.gemv_max_n * kGluQ8MaxPerToken) {
        // Decode: the down product reads this next; write its int8 form too.
        ClBuffer &o = cb(out);
        q8_target(o, n);
        const char *kq = act == Activation::GeluTanh ? "glu_gelu_tanh_q8" : "glu_silu_q8";
        cl_kernel k = kernel(kq);
        args(k, mem_of(out), mem_of(gate), mem_of(up), (cl_long)(n / 32), o.q8.m, o.d8.m);
        size_t gws = round_up(n / 32, 64);
        launch(kq, k, 1, &gws, nullptr);
        o.q8_version = o.version;
        o.q8_off = 0;
        o.q8_elems = n;
        return;
    }
    const char *kn = act == Activation::GeluTanh ? "glu_gelu_tanh" : "glu_silu";
    cl_kernel k = kernel(kn);
    args(k, mem_of(out), mem_of(gate), mem_of(up), (cl_long)n);
    size_t gws = round_up(n, 64);
    launch(kn, k, 1, &gws, nullptr);
}

void ClBackend::add(Buffer &y, const Buffer &x, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(y.n_floats >= n && x.n_floats >= n, "add sizes");
    touch(y);
    cl_kernel k = kernel("add_inplace");
    args(k, mem_of(y), mem_of(x), (cl_long)n);
    size_t gws = round_up(n, 64);
    launch("add_inplace", k, 1, &gws, nullptr);
}

void ClBackend::softcap(Buffer &x, size_t n, float cap) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(x.n_floats >= n && cap > 0.f, "softcap");
    touch(x);
    cl_kernel k = kernel("softcap");
    args(k, mem_of(x), (cl_long)n, (cl_float)cap);
    size_t gws = round_up(n, 64);
    launch("softcap", k, 1, &gws, nullptr);
}

void ClBackend::copy(Buffer &dst, const Buffer &src, size_t n, size_t dst_offset, size_t src_offset) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(dst.n_floats >= dst_offset + n && src.n_floats >= src_offset + n, "copy sizes");
    touch(dst);
    check(clEnqueueCopyBuffer(queue_, mem_of(src), mem_of(dst), src_offset * 4, dst_offset * 4, n * 4, 0,
                              nullptr, nullptr), "clEnqueueCopyBuffer");
}

// ---- products ----

void ClBackend::q8_target(ClBuffer &b, size_t elems) {
    ensure(b.q8, b.q8_cap, elems);
    ensure(b.d8, b.d8_cap, elems / 32 * 8);
}

void ClBackend::quantize(const Buffer &xb, size_t x_off, int n, int K) {
    ClBuffer &x = cb(xb);
    const size_t elems = (size_t)n * (size_t)K;
    if (x.q8_version == x.version && x.q8_off == x_off && x.q8_elems >= elems) return;  // its producer did it
    q8_target(x, elems);
    const size_t G = (size_t)K / 32;
    cl_kernel k = kernel("quant_i8");
    args(k, mem_of(x), (cl_long)x_off, (cl_int)K, x.q8.m, x.d8.m);
    size_t gws[2] = {round_up(G, 64), (size_t)n};
    launch("quant_i8", k, 2, gws, nullptr);
    x.q8_version = x.version;
    x.q8_off = x_off;
    x.q8_elems = elems;
}

void ClBackend::gemv(const GemvOut *outs, int count, const Buffer &x, size_t x_off, int n, bool accumulate) {
    const ClWeight &W0 = *outs[0].W;
    const int K = (int)W0.cols;
    const DType type = W0.type;
    const char *kn = type == DType::Q4 ? "gemv_q4" : type == DType::Q8_0 ? "gemv_q8"
                     : type == DType::F16 ? "gemv_f16" : "gemv_f32";
    cl_kernel k = kernel(kn);
    const size_t rpw = (size_t)tune_.gemv_rows * (size_t)(tune_.gemv_wg / tune_.gemv_lpr);  // rows per group
    size_t groups = 0;
    for (int i = 0; i < 3; ++i) {
        // Unused slots repeat the last matrix with no rows (no work-groups).
        const GemvOut &o = outs[std::min(i, count - 1)];
        const bool used = i < count;
        const int rows = used ? (int)o.c->rows : 0;
        args_from(k, (cl_uint)(8 * i), o.c->data.m, o.c->scales.m ? o.c->scales.m : dummy_.m,
                  o.c->mins.m ? o.c->mins.m : dummy_.m, (cl_int)o.W->has_mins, (cl_int)rows, mem_of(*o.y),
                  (cl_long)o.y_off, (cl_int)o.ld);
        groups += ((size_t)rows + rpw - 1) / rpw;
    }
    for (int i = 0; i < count; ++i) touch(*outs[i].y);
    if (quantized(type)) args_from(k, 24, (cl_int)K, cb(x).q8.m, cb(x).d8.m, (cl_int)accumulate);
    else args_from(k, 24, (cl_int)K, mem_of(x), (cl_long)x_off, (cl_int)accumulate);
    size_t gws[2] = {groups * (size_t)tune_.gemv_wg, (size_t)n}, lws[2] = {(size_t)tune_.gemv_wg, 1};
    launch(kn, k, 2, gws, lws);
}

size_t ClBackend::gemm_tile_rows(const WeightChunk &c, size_t K, size_t elem_bytes) {
    // As many rows as the tile budget holds, a multiple of 64 (CLBlast pads nothing).
    size_t rows = std::max<size_t>(64, ((size_t)tune_.gemm_tile_mb << 20) / (K * elem_bytes) / 64 * 64);
    rows = std::min<size_t>(rows, (size_t)c.rows);
    ensure(tile_, tile_cap_, rows * K * elem_bytes);
    return rows;
}

void ClBackend::dequant_tile(const ClWeight &W, const WeightChunk &c, size_t r0, size_t nr, bool half) {
    const size_t K = (size_t)W.cols;
    const char *kn = half ? (W.type == DType::Q4 ? "dequant_tgh_q4" : W.type == DType::Q8_0 ? "dequant_tgh_q8"
                             : W.type == DType::F16 ? "dequant_th_f16" : "dequant_th_f32")
                          : (W.type == DType::Q4 ? "dequant_tg_q4" : W.type == DType::Q8_0 ? "dequant_tg_q8"
                             : W.type == DType::F16 ? "dequant_t_f16" : "dequant_t_f32");
    cl_kernel k = kernel(kn);
    args(k, c.data.m, c.scales.m ? c.scales.m : dummy_.m, c.mins.m ? c.mins.m : (c.scales.m ? c.scales.m : dummy_.m),
         (cl_int)W.has_mins, (cl_int)K, (cl_long)r0, (cl_int)nr, tile_.m);
    size_t gws[2] = {round_up(nr, 64), quantized(W.type) ? K / 32 : K}, lws[2] = {64, 1};
    launch(kn, k, 2, gws, lws);
}

void ClBackend::gemm(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                     bool accumulate, size_t x_off, size_t y_off) {
    touch(y);
    if (fp16_) return gemm_half(y, W, c, x, n, accumulate, x_off, y_off);
    const size_t K = (size_t)W.cols;
    const size_t tile_rows = gemm_tile_rows(c, K, 4);
    for (size_t r0 = 0; r0 < (size_t)c.rows; r0 += tile_rows) {
        const size_t nr = std::min(tile_rows, (size_t)c.rows - r0);
        dequant_tile(W, c, r0, nr, false);
        // Column-major: C (nr x n, ldc = W.rows, i.e. y row-major) = T (nr x K) * X (K x n, ld K).
        const size_t c_off = y_off + (size_t)c.row0 + r0;
        size_t tmp_bytes = 0;
        clblast::StatusCode st = clblast::GemmTempBufferSize<float>(
            clblast::Layout::kColMajor, clblast::Transpose::kNo, clblast::Transpose::kNo, nr, (size_t)n, K,
            0, nr, x_off, K, c_off, (size_t)W.rows, &queue_, tmp_bytes);
        if (st != clblast::StatusCode::kSuccess)
            fail(EDGELLM_ERR_DEVICE, "CLBlast GemmTempBufferSize failed: status %d", (int)st);
        if (tmp_bytes) ensure(blas_tmp_, blas_tmp_cap_, tmp_bytes);
        cl_event ev = nullptr;
        st = clblast::Gemm<float>(clblast::Layout::kColMajor, clblast::Transpose::kNo, clblast::Transpose::kNo,
                                  nr, (size_t)n, K, 1.0f, tile_.m, 0, nr, mem_of(x), x_off, K,
                                  accumulate ? 1.0f : 0.0f, mem_of(y), c_off, (size_t)W.rows, &queue_,
                                  profiling_ ? &ev : nullptr, tmp_bytes ? blas_tmp_.m : nullptr);
        if (st != clblast::StatusCode::kSuccess)
            fail(EDGELLM_ERR_DEVICE, "CLBlast Gemm (%zu x %d x %zu) failed: status %d", nr, n, K, (int)st);
        ++launches_;
        if (ev) events_.emplace_back("clblast_sgemm", ev);
    }
}

// fp16 prefill: the weight tile dequantized to half, K cut into slices of hgemm_k (a multiple of
// 32) whose HGEMMs (CLBlast accumulates in half) land in a half buffer and are summed into y in
// float, so the half accumulation spans one slice, never the whole K.
void ClBackend::gemm_half(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                          bool accumulate, size_t x_off, size_t y_off) {
    const size_t K = (size_t)W.cols;
    const size_t ks = std::min(K, std::max<size_t>(32, (size_t)tune_.hgemm_k / 32 * 32));
    const size_t tile_rows = gemm_tile_rows(c, K, 2);
    ensure(xh_, xh_cap_, (size_t)n * ks * 2);
    ensure(yh_, yh_cap_, (size_t)n * tile_rows * 2);
    cl_kernel kx = kernel("to_half"), ka = kernel("add_half");
    for (size_t r0 = 0; r0 < (size_t)c.rows; r0 += tile_rows) {
        const size_t nr = std::min(tile_rows, (size_t)c.rows - r0);
        dequant_tile(W, c, r0, nr, true);
        for (size_t k0 = 0; k0 < K; k0 += ks) {
            const size_t kn2 = std::min(ks, K - k0);
            args(kx, mem_of(x), (cl_long)x_off, (cl_int)K, (cl_int)k0, (cl_int)kn2, xh_.m);
            size_t gx[2] = {round_up(kn2, 64), (size_t)n};
            launch("to_half", kx, 2, gx, nullptr);
            // Column-major: C (nr x n) = T[k0.., :] (nr x kn2, ld nr, from element k0 * nr) * Xh (kn2 x n).
            size_t tmp_bytes = 0;
            clblast::StatusCode st = clblast::GemmTempBufferSize<cl_half>(
                clblast::Layout::kColMajor, clblast::Transpose::kNo, clblast::Transpose::kNo, nr, (size_t)n, kn2,
                k0 * nr, nr, 0, kn2, 0, nr, &queue_, tmp_bytes);
            if (st != clblast::StatusCode::kSuccess)
                fail(EDGELLM_ERR_DEVICE, "CLBlast GemmTempBufferSize (half) failed: status %d", (int)st);
            if (tmp_bytes) ensure(blas_tmp_, blas_tmp_cap_, tmp_bytes);
            cl_event ev = nullptr;
            st = clblast::Gemm<cl_half>(clblast::Layout::kColMajor, clblast::Transpose::kNo, clblast::Transpose::kNo,
                                        nr, (size_t)n, kn2, FloatToHalf(1.0f), tile_.m, k0 * nr, nr, xh_.m, 0, kn2,
                                        FloatToHalf(0.0f), yh_.m, 0, nr, &queue_, profiling_ ? &ev : nullptr,
                                        tmp_bytes ? blas_tmp_.m : nullptr);
            if (st != clblast::StatusCode::kSuccess)
                fail(EDGELLM_ERR_DEVICE, "CLBlast HGEMM (%zu x %d x %zu) failed: status %d", nr, n, kn2, (int)st);
            ++launches_;
            if (ev) events_.emplace_back("clblast_hgemm", ev);
            args(ka, mem_of(y), (cl_long)(y_off + (size_t)c.row0 + r0), (cl_int)W.rows, yh_.m, (cl_int)nr,
                 (cl_int)(accumulate || k0 > 0));
            size_t ga[2] = {round_up(nr, 64), (size_t)n};
            launch("add_half", ka, 2, ga, nullptr);
        }
    }
}

void ClBackend::matmul(Buffer &y, const Weight &Wb, const Buffer &x, int n, bool accumulate,
                       size_t x_offset, size_t y_offset) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(Wb);
    if (n <= 0) return;
    need(x.n_floats >= x_offset + (size_t)n * (size_t)W.cols, "matmul x too small");
    need(y.n_floats >= y_offset + (size_t)n * (size_t)W.rows, "matmul y too small");
    need(&x != &y, "matmul in place");
    if (n > tune_.gemv_max_n) {
        for (const WeightChunk &c : W.chunks) gemm(y, W, c, x, n, accumulate, x_offset, y_offset);
        return;
    }
    if (quantized(W.type)) quantize(x, x_offset, n, (int)W.cols);  // once; every chunk reads it
    for (const WeightChunk &c : W.chunks) {
        const GemvOut o{&W, &c, &y, y_offset + (size_t)c.row0, (size_t)W.rows};
        gemv(&o, 1, x, x_offset, n, accumulate);
    }
}

void ClBackend::matmul_shared(const Buffer &x, int n, std::initializer_list<Product> products) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0 || products.size() == 0) return;
    // One launch for all of them when they are decode products of one format in one chunk each.
    const ClWeight &W0 = cw(*products.begin()->W);
    bool one = n <= tune_.gemv_max_n && products.size() <= 3;
    for (const Product &p : products) {
        const ClWeight &W = cw(*p.W);
        one = one && W.type == W0.type && W.cols == W0.cols && W.chunks.size() == 1 && p.y != &x;
        need(x.n_floats >= (size_t)n * (size_t)W.cols && p.y->n_floats >= (size_t)n * (size_t)W.rows,
             "matmul_shared shapes");
    }
    if (!one) {
        for (const Product &p : products) matmul(*p.y, *p.W, x, n, false, 0, 0);
        return;
    }
    if (quantized(W0.type)) quantize(x, 0, n, (int)W0.cols);
    GemvOut outs[3];
    int count = 0;
    for (const Product &p : products) {
        const ClWeight &W = cw(*p.W);
        outs[count++] = GemvOut{&W, &W.chunks[0], p.y, 0, (size_t)W.rows};
    }
    gemv(outs, count, x, 0, n, false);
}

// ---- RoPE, KV cache, attention ----

cl_mem ClBackend::inv_freq_buffer(const std::vector<float> &f) {
    if (!inv_freq_.m || inv_freq_host_ != f) {
        inv_freq_ = Mem(make_buffer(f.size() * 4, f.data(), CL_MEM_READ_ONLY));
        inv_freq_host_ = f;
    }
    return inv_freq_.m;
}

void ClBackend::rope(Buffer &x, int n, int n_heads, int pos0, const RopeTable &t) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    need(t.rot_dim % 2 == 0 && t.rot_dim <= t.head_dim && (int)t.inv_freq.size() * 2 == t.rot_dim, "rope table");
    need(x.n_floats >= (size_t)n * n_heads * t.head_dim && pos0 >= 0, "rope shapes");
    touch(x);
    if (t.rot_dim == 0) return;
    cl_kernel k = kernel("rope");
    args(k, mem_of(x), inv_freq_buffer(t.inv_freq), (cl_int)t.head_dim, (cl_int)t.rot_dim, (cl_int)n_heads,
         (cl_int)pos0, (cl_float)t.mscale);
    size_t gws[3] = {(size_t)t.rot_dim / 2, (size_t)n_heads, (size_t)n};
    launch("rope", k, 3, gws, nullptr);
}

void ClBackend::kv_store(KvCache &cache, int layer, const Buffer &k, const Buffer &v, int pos0, int n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    ClKv &kv = static_cast<ClKv &>(cache);
    if (n <= 0) return;
    need(layer >= 0 && layer < kv.n_layer, "kv_store layer");
    if (pos0 < 0 || pos0 + n > kv.n_ctx)
        fail(EDGELLM_ERR_INTERNAL, "OpenCL: KV positions %d..%d outside the cache (%d)", pos0, pos0 + n, kv.n_ctx);
    need(k.n_floats >= (size_t)n * kv.kv_dim && v.n_floats >= (size_t)n * kv.kv_dim, "kv_store buffers");
    cl_kernel kk = kernel("kv_store");
    args(kk, mem_of(k), mem_of(v), kv.k[layer].m, kv.v[layer].m, (cl_int)kv.kv_dim, (cl_int)pos0);
    size_t gws[2] = {round_up((size_t)kv.kv_dim, 64), (size_t)n};
    launch("kv_store", kk, 2, gws, nullptr);
}

void ClBackend::attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0, int n,
                          const AttentionParams &p) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClKv &kv = static_cast<const ClKv &>(cache);
    if (n <= 0) return;
    need(p.head_dim % 4 == 0 && p.head_dim <= kHeadDimMax, "attention head_dim must be a multiple of 4, <= 256");
    need(p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0 && kv.kv_dim == p.n_head_kv * p.head_dim,
         "attention heads");
    need(layer >= 0 && layer < kv.n_layer && pos0 >= 0 && pos0 + n <= kv.n_ctx, "attention positions");
    const size_t qd = (size_t)p.n_head * p.head_dim;
    need(q.n_floats >= (size_t)n * qd && out.n_floats >= (size_t)n * qd && &out != &q, "attention buffers");
    touch(out);
    const int ctx = pos0 + n;
    // Prefill: query tokens in blocks that share each K / V load (attn_prefill), chunks of at most
    // kAttnPrefillChunk positions; decode: one work-group per (chunk, head, token) (attn_partial).
    const bool prefill = n > tune_.gemv_max_n;
    const int max_chunk = prefill ? kAttnPrefillChunk : kAttnMaxChunk;
    int n_chunks = std::max(1, (ctx + tune_.attn_chunk - 1) / tune_.attn_chunk);
    int chunk = (ctx + n_chunks - 1) / n_chunks;
    if (chunk > max_chunk) {
        n_chunks = (ctx + max_chunk - 1) / max_chunk;
        chunk = (ctx + n_chunks - 1) / n_chunks;
    }
    const int direct = n_chunks == 1;
    // Tokens per launch so that the partials stay under ~64 MiB.
    const size_t per_tok = (size_t)p.n_head * n_chunks * ((size_t)p.head_dim + 2) * 4;
    const int tb = direct ? n : (int)std::max<size_t>(1, std::min<size_t>((size_t)n, ((size_t)64 << 20) / per_tok));
    if (!direct) {
        ensure(part_o_, part_o_cap_, (size_t)tb * p.n_head * n_chunks * p.head_dim * 4);
        ensure(part_ml_, part_ml_cap_, (size_t)tb * p.n_head * n_chunks * 2 * 4);
    }
    // Decode: the reduction also writes the output's int8 form for the Wo product.
    const bool q8 = p.head_dim % 32 == 0 && want_q8(qd / 32, (size_t)n);
    if (q8) q8_target(cb(out), (size_t)n * qd);
    cl_kernel kp = kernel(prefill ? "attn_prefill" : "attn_partial");
    cl_kernel kr = kernel("attn_reduce");
    for (int t0 = 0; t0 < n; t0 += tb) {
        const int nt = std::min(tb, n - t0);
        if (prefill) {
            args(kp, mem_of(q), kv.k[layer].m, kv.v[layer].m, mem_of(out), direct ? dummy_.m : part_o_.m,
                 direct ? dummy_.m : part_ml_.m, (cl_int)p.n_head, (cl_int)p.n_head_kv, (cl_int)p.head_dim,
                 (cl_float)p.scale, (cl_int)pos0, (cl_int)t0, (cl_int)nt, (cl_int)chunk, (cl_int)n_chunks,
                 (cl_int)direct, (cl_float)p.softcap, (cl_int)p.window);
            const size_t blocks = ((size_t)nt + kAttnPrefillTokens - 1) / kAttnPrefillTokens;
            size_t gws[3] = {(size_t)n_chunks * tune_.attn_wg, (size_t)p.n_head, blocks};
            size_t lws[3] = {(size_t)tune_.attn_wg, 1, 1};
            launch("attn_prefill", kp, 3, gws, lws);
        } else {
            args(kp, mem_of(q), kv.k[layer].m, kv.v[layer].m, mem_of(out), direct ? dummy_.m : part_o_.m,
                 direct ? dummy_.m : part_ml_.m, (cl_int)p.n_head, (cl_int)p.n_head_kv, (cl_int)p.head_dim,
                 (cl_float)p.scale, (cl_int)pos0, (cl_int)t0, (cl_int)chunk, (cl_int)n_chunks, (cl_int)direct,
                 (cl_float)p.softcap, (cl_int)p.window);
            size_t gws[3] = {(size_t)n_chunks * tune_.attn_wg, (size_t)p.n_head, (size_t)nt};
            size_t lws[3] = {(size_t)tune_.attn_wg, 1, 1};
            launch("attn_partial", kp, 3, gws, lws);
        }
        if (direct) continue;
        if (q8) {
            cl_kernel kq = kernel("attn_reduce_q8");
            args(kq, mem_of(out), part_o_.m, part_ml_.m, (cl_int)p.n_head, (cl_int)p.head_dim, (cl_int)n_chunks,
                 (cl_int)t0, cb(out).q8.m, cb(out).d8.m);
            size_t g2[3] = {(size_t)p.head_dim / 32, (size_t)p.n_head, (size_t)nt};
            launch("attn_reduce_q8", kq, 3, g2, nullptr);
            continue;
        }
        args(kr, mem_of(out), part_o_.m, part_ml_.m, (cl_int)p.n_head, (cl_int)p.head_dim, (cl_int)n_chunks,
             (cl_int)t0);
        size_t g2[3] = {(size_t)p.head_dim, (size_t)p.n_head, (size_t)nt};
        launch("attn_reduce", kr, 3, g2, nullptr);
    }
    if (q8 && !direct) {
        ClBuffer &o = cb(out);
        o.q8_version = o.version;
        o.q8_off = 0;
        o.q8_elems = (size_t)n * qd;
    }
}

// ---- token selection ----

void ClBackend::enqueue_argmax(const Buffer &x, size_t n, cl_mem out, int out_i) {
    need(n > 0 && x.n_floats >= n && n <= (size_t)INT32_MAX / 2, "argmax size");
    const size_t wg = (size_t)tune_.argmax_wg;
    const size_t groups = std::min((size_t)tune_.argmax_groups, (n + wg - 1) / wg);
    if (!argmax_.m) {  // ticket (starts at zero), result, a pair per group (sample.cl)
        const std::vector<cl_int> zeros(2 + 2 * (size_t)tune_.argmax_groups, 0);
        argmax_ = Mem(make_buffer(zeros.size() * sizeof(cl_int), zeros.data(), CL_MEM_READ_WRITE));
    }
    cl_kernel k = kernel("argmax");
    args(k, mem_of(x), (cl_int)n, argmax_.m, out ? out : argmax_.m, (cl_int)(out ? out_i : 1));
    const size_t gws = groups * wg;
    launch("argmax", k, 1, &gws, &wg);
}

int32_t ClBackend::argmax(const Buffer &x, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    enqueue_argmax(x, n, nullptr, 0);
    cl_int r = -1;
    check(clEnqueueReadBuffer(queue_, argmax_.m, CL_TRUE, sizeof(cl_int), sizeof r, &r, 0, nullptr, nullptr),
          "clEnqueueReadBuffer(argmax)");
    return checked_index(r, n);
}

// ---- Greedy tokens held on the device (Backend::pipelined_tokens) ----
// The id lives in the first float of a ClBuffer (int32 bits): argmax_to's kernel writes it there,
// embed_from's embed kernel reads it as its token list, and token_read_begin copies it into the
// buffer's pinned host slot (pin_ptr) with a non-blocking read whose event token_read_end waits
// for. The queue is in order, so a read enqueued before the next step returns this step's id.

bool ClBackend::pipelined_tokens(const Weight &table) const { return cw(table).chunks.size() == 1; }

void ClBackend::argmax_to(Buffer &tok, const Buffer &x, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    need(tok.n_floats >= 1, "argmax_to: token buffer");
    touch(tok);
    enqueue_argmax(x, n, mem_of(tok), 0);
}

void ClBackend::embed_from(Buffer &out, const Weight &table, const Buffer &tok, float scale) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(table);
    need(W.chunks.size() == 1, "embed_from: an embedding table in one buffer");
    need(tok.n_floats >= 1 && out.n_floats >= (size_t)W.cols, "embed_from shapes");
    touch(out);
    // The kernel clamps the id to the table's rows: a bad id (token_read_end reports it) never
    // reads out of bounds.
    launch_embed(W, W.chunks[0], mem_of(tok), -1, 1, out, 0, scale);
}

void ClBackend::token_read_begin(Buffer &tok) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    ClBuffer &b = static_cast<ClBuffer &>(tok);
    need(tok.n_floats >= 1, "token_read_begin: token buffer");
    if (b.read_ev) fail(EDGELLM_ERR_INTERNAL, "OpenCL: a token read is already outstanding on this buffer");
    if (!b.pin_ptr) {
        cl_int err = CL_SUCCESS;
        b.pin = Mem(clCreateBuffer(ctx_, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, 64, nullptr, &err));
        check(err, "clCreateBuffer(token pin)");
        void *p = clEnqueueMapBuffer(queue_, b.pin.m, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, 64, 0, nullptr, nullptr, &err);
        check(err, "clEnqueueMapBuffer(token pin)");
        b.pin_ptr = static_cast<cl_int *>(p);
        clRetainCommandQueue(queue_);
        b.pin_q = queue_;
    }
    *b.pin_ptr = -1;
    check(clEnqueueReadBuffer(queue_, b.mem.m, CL_FALSE, 0, sizeof(cl_int), b.pin_ptr, 0, nullptr, &b.read_ev),
          "clEnqueueReadBuffer(token)");
    check(clFlush(queue_), "clFlush");
}

int32_t ClBackend::token_read_end(Buffer &tok, size_t n) {
    ClBuffer &b = static_cast<ClBuffer &>(tok);
    if (!b.read_ev) fail(EDGELLM_ERR_INTERNAL, "OpenCL: token_read_end without token_read_begin");
    {
        // Whatever was issued since token_read_begin (the next step) goes to the device now, to
        // run while the host waits: a driver may hold commands until a flush (clWaitForEvents
        // need not flush them).
        std::lock_guard<std::recursive_mutex> lock(mu_);
        clFlush(queue_);
    }
    // Waited for without the backend's lock: other sessions keep issuing work meanwhile.
    cl_int st = clWaitForEvents(1, &b.read_ev);
    cl_int exec = CL_COMPLETE;
    if (st == CL_SUCCESS)
        st = clGetEventInfo(b.read_ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec, &exec, nullptr);
    clReleaseEvent(b.read_ev);
    b.read_ev = nullptr;
    check(st, "clWaitForEvents(token)");
    check(exec < 0 ? exec : CL_SUCCESS, "token read");
    return checked_index(*b.pin_ptr, n);
}

ClBuffer::~ClBuffer() {
    if (read_ev) {  // the read writes into pin_ptr: let it land first
        clWaitForEvents(1, &read_ev);
        clReleaseEvent(read_ev);
    }
    if (pin_ptr) {  // (pin is released after the unmap runs: OpenCL keeps it alive until then)
        clEnqueueUnmapMemObject(pin_q, pin.m, pin_ptr, 0, nullptr, nullptr);
        clReleaseCommandQueue(pin_q);
    }
}

}  // namespace ocl
}  // namespace edgellm
