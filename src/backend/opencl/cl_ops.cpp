// The ops of the OpenCL backend: argument checks, kernel selection (GEMV for few tokens,
// dequantized tile + CLBlast SGEMM for prefill), launch geometry. No host synchronisation here,
// except argmax, which reads back its index.
#include <clblast.h>

#include <algorithm>
#include <cmath>

#include "backend/opencl/cl_backend.h"

namespace edgellm {
namespace ocl {

namespace {

const char *fmt_suffix(DType t) {
    switch (t) {
    case DType::Q4: return "q4";
    case DType::Q8_0: return "q8";
    case DType::F16: return "f16";
    default: return "f32";
    }
}

cl_mem mem_of(const Buffer &b) { return static_cast<const ClBuffer &>(b).mem.m; }
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

}  // namespace

void ClBackend::launch_embed(const ClWeight &W, const WeightChunk &c, cl_mem ids, cl_int tok0, int n, Buffer &out,
                             size_t out_off) {
    const std::string kn = std::string(W.gm ? "embed_gm_" : "embed_") + fmt_suffix(W.type);
    cl_kernel k = kernel(kn.c_str());
    args(k, c.data.m, c.scales.m ? c.scales.m : dummy_.m, c.mins.m ? c.mins.m : (c.scales.m ? c.scales.m : dummy_.m),
         (cl_int)W.has_mins, (cl_int)W.cols, ids ? ids : dummy_.m, tok0, (cl_int)c.rows, mem_of(out), (cl_long)out_off);
    size_t gws[2] = {round_up((size_t)W.cols, 64), (size_t)n};
    launch(kn.c_str(), k, 2, gws, nullptr);
}

void ClBackend::embed(Buffer &out, const Weight &table, const int32_t *tokens, int n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(table);
    if (n <= 0) return;
    need(out.n_floats >= (size_t)n * (size_t)W.cols, "embed output too small");
    for (int i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= W.rows)
            fail(EDGELLM_ERR_INVALID_TOKEN, "token %d outside [0, %lld)", tokens[i], (long long)W.rows);
    if (W.chunks.size() == 1 && n > 1) {
        ensure(tokens_, tokens_cap_, (size_t)n * 4);
        ++mods_;
        check(clEnqueueWriteBuffer(queue_, tokens_.m, CL_TRUE, 0, (size_t)n * 4, tokens, 0, nullptr, nullptr),
              "clEnqueueWriteBuffer(tokens)");
        launch_embed(W, W.chunks[0], tokens_.m, -1, n, out, 0);
        return;
    }
    // One token per launch (decode, or a table split over several buffers): the id is an argument.
    for (int i = 0; i < n; ++i) {
        const WeightChunk *c = &W.chunks[0];
        for (const WeightChunk &cc : W.chunks)
            if (tokens[i] >= cc.row0 && tokens[i] < cc.row0 + cc.rows) c = &cc;
        launch_embed(W, *c, nullptr, (cl_int)(tokens[i] - c->row0), 1, out, (size_t)i * (size_t)W.cols);
    }
}

void ClBackend::rms_norm(Buffer &out, const Buffer &x, const Weight &w, int n, int dim, float eps) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    need(x.n_floats >= (size_t)n * dim && out.n_floats >= (size_t)n * dim && cw(w).cols == dim,
         "rms_norm shapes");
    cl_kernel k = kernel("rms_norm");
    args(k, mem_of(out), mem_of(x), cw(w).chunks[0].data.m, (cl_int)dim, (cl_float)eps);
    size_t gws = (size_t)n * tune_.norm_wg, lws = (size_t)tune_.norm_wg;
    launch("rms_norm", k, 1, &gws, &lws);
}

ClBackend::GmShape ClBackend::gm_shape(int64_t rows, int64_t G, int split) const {
    int s = 1;
    const int64_t lanes = (rows + tune_.gm_rows - 1) / tune_.gm_rows;  // row lanes (items per slice)
    if (split > 0 && split <= G && split <= tune_.gm_wg) {
        s = split;
    } else {
        while (s < tune_.gm_max_split && lanes * s < tune_.gm_items && s * 2 <= G) s *= 2;
    }
    const size_t R = (size_t)tune_.gm_wg / (size_t)s;
    return GmShape{(size_t)s, R, R * (size_t)tune_.gm_rows};
}

void ClBackend::gm_launch(const char *name, cl_kernel k, const GmShape &g, size_t blocks, int n) {
    size_t gws[3] = {blocks * g.R, g.S, (size_t)n}, lws[3] = {g.R, g.S, 1};
    launch(name, k, 3, gws, lws);
}

void ClBackend::quant_act(const Buffer &x, size_t x_off, int n, int K, const Weight *norm, float eps) {
    need(K % 32 == 0 && x.n_floats >= x_off + (size_t)n * K, "quant_act shapes");
    need(!norm || cw(*norm).cols == K, "quant_act norm size");
    const QaPending p = qa_pending_;
    qa_pending_ = QaPending();
    if (!norm && p.buf == mem_of(x) && p.off == x_off && p.n == n && p.K == K && p.mods == mods_) {
        qa_cur_ = p.set;  // the producer of x quantized it already
        return;
    }
    ensure_qa(0, n, K);
    qa_cur_ = 0;
    cl_kernel k = kernel("quant_act");
    args(k, mem_of(x), (cl_int)x_off, (cl_int)K, (cl_int)(norm != nullptr),
         norm ? cw(*norm).chunks[0].data.m : dummy_.m, (cl_float)eps, qa_q_[0].m, qa_d_[0].m);
    size_t gws[2] = {round_up((size_t)K / 8, (size_t)tune_.qa_wg), (size_t)n}, lws[2] = {(size_t)tune_.qa_wg, 1};
    launch("quant_act", k, 2, gws, lws);
}

void ClBackend::ensure_qa(int set, int n, int K) {
    ensure(qa_q_[set], qa_q_cap_[set], (size_t)n * K);
    ensure(qa_d_[set], qa_d_cap_[set], (size_t)n * (K / 32) * 16);
}

void ClBackend::set_qa_pending(const Buffer &x, size_t off, int n, int K, int set) {
    qa_pending_.buf = mem_of(x);
    qa_pending_.off = off;
    qa_pending_.n = n;
    qa_pending_.K = K;
    qa_pending_.mods = mods_;
    qa_pending_.set = set;
}

void ClBackend::gm_gemv(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                        bool accumulate, size_t x_off, size_t y_off, int split) {
    const bool qa = qa_ok(W);  // then x is already quantized into qa_q_ / qa_d_ (matmul)
    const std::string kn = std::string(qa ? "gmq_" : "gm_") + fmt_suffix(W.type);
    cl_kernel k = kernel(kn.c_str());
    args(k, c.data.m, c.scales.m, c.mins.m ? c.mins.m : c.scales.m, (cl_int)W.has_mins, (cl_int)c.rows,
         (cl_int)W.cols);
    if (qa) args_from(k, 6, qa_q_[qa_cur_].m, qa_d_[qa_cur_].m);  // gmq_*: xq, xd
    else args_from(k, 6, mem_of(x), (cl_int)x_off);              // gm_*: x, x_off
    args_from(k, 8, mem_of(y), (cl_int)(y_off + (size_t)c.row0), (cl_int)W.rows, (cl_int)accumulate);
    const GmShape g = gm_shape(c.rows, W.cols / 32, split);
    gm_launch(kn.c_str(), k, g, g.blocks(c.rows), n);
}

void ClBackend::gemv(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                     bool accumulate, size_t x_off, size_t y_off) {
    if (W.gm) return gm_gemv(y, W, c, x, n, accumulate, x_off, y_off);
    const std::string kn = std::string("gemv_") + fmt_suffix(W.type);
    cl_kernel k = kernel(kn.c_str());
    args(k, c.data.m, c.scales.m ? c.scales.m : dummy_.m, c.mins.m ? c.mins.m : (c.scales.m ? c.scales.m : dummy_.m),
         (cl_int)W.has_mins, (cl_int)c.rows, (cl_int)W.cols, mem_of(x), (cl_int)x_off, mem_of(y),
         (cl_int)(y_off + (size_t)c.row0), (cl_int)W.rows, (cl_int)accumulate);
    const size_t rpw = (size_t)tune_.gemv_rows * (tune_.gemv_wg / tune_.gemv_lpr);  // rows per group
    const size_t nb = ((size_t)c.rows + rpw - 1) / rpw;
    size_t gws[2] = {nb * tune_.gemv_wg, (size_t)n}, lws[2] = {(size_t)tune_.gemv_wg, 1};
    launch(kn.c_str(), k, 2, gws, lws);
}

void ClBackend::gemm(Buffer &y, const ClWeight &W, const WeightChunk &c, const Buffer &x, int n,
                     bool accumulate, size_t x_off, size_t y_off) {
    const size_t K = (size_t)W.cols;
    // Rows per tile: as many as the tile budget holds, a multiple of 64 (CLBlast pads nothing).
    size_t tile_rows = std::max<size_t>(64, tune_.gemm_tmp_bytes / (K * 4) / 64 * 64);
    tile_rows = std::min<size_t>(tile_rows, (size_t)c.rows);
    ensure(tile_, tile_cap_, tile_rows * K * 4);
    const bool grouped = W.type == DType::Q4 || W.type == DType::Q8_0;
    const std::string kn =
        std::string(W.gm ? "dequant_tgm_" : grouped ? "dequant_tg_" : "dequant_t_") + fmt_suffix(W.type);
    cl_kernel k = kernel(kn.c_str());
    const cl_int crows = (cl_int)c.rows;
    for (size_t r0 = 0; r0 < (size_t)c.rows; r0 += tile_rows) {
        const size_t nr = std::min(tile_rows, (size_t)c.rows - r0);
        args(k, c.data.m, c.scales.m ? c.scales.m : dummy_.m, c.mins.m ? c.mins.m : (c.scales.m ? c.scales.m : dummy_.m),
             (cl_int)W.has_mins, (cl_int)K, (cl_long)r0, (cl_int)nr, tile_.m);
        if (W.gm) check(clSetKernelArg(k, 8, sizeof(cl_int), &crows), "clSetKernelArg");
        size_t gws[2] = {round_up(nr, 64), grouped ? K / 32 : K}, lws[2] = {64, 1};
        launch(kn.c_str(), k, 2, gws, lws);
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
        ++mods_;
        if (ev) events_.emplace_back("clblast_sgemm", ev);
    }
}

void ClBackend::matmul(Buffer &y, const Weight &Wb, const Buffer &x, int n, bool accumulate,
                       size_t x_offset, size_t y_offset) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(Wb);
    if (n <= 0) return;
    need(x.n_floats >= x_offset + (size_t)n * (size_t)W.cols, "matmul x too small");
    need(y.n_floats >= y_offset + (size_t)n * (size_t)W.rows, "matmul y too small");
    const bool quant = W.type == DType::Q4 || W.type == DType::Q8_0;
    if (n <= tune_.gemv_max_n && qa_ok(W)) {  // quantize x once, then every chunk reads it
        quant_act(x, x_offset, n, (int)W.cols, nullptr, 0.f);
        for (const WeightChunk &c : W.chunks) gm_gemv(y, W, c, x, n, accumulate, x_offset, y_offset);
        return;
    }
    if (n <= tune_.gemv_max_n && quant && x_offset % 4 != 0) {
        // The quantized GEMV kernels load x as aligned float4: move an unaligned slice first.
        const size_t len = (size_t)n * (size_t)W.cols;
        ensure(xalign_, xalign_cap_, len * 4);
        ++mods_;
        check(clEnqueueCopyBuffer(queue_, mem_of(x), xalign_.m, x_offset * 4, 0, len * 4, 0, nullptr, nullptr),
              "clEnqueueCopyBuffer");
        ClBuffer tmp;
        tmp.mem.m = xalign_.m;
        tmp.n_floats = len;
        try {
            for (const WeightChunk &c : W.chunks) gemv(y, W, c, tmp, n, accumulate, 0, y_offset);
        } catch (...) {
            tmp.mem.m = nullptr;
            throw;
        }
        tmp.mem.m = nullptr;  // borrowed
        return;
    }
    for (const WeightChunk &c : W.chunks) {
        if (n <= tune_.gemv_max_n) gemv(y, W, c, x, n, accumulate, x_offset, y_offset);
        else gemm(y, W, c, x, n, accumulate, x_offset, y_offset);
    }
}

void ClBackend::norm_matmul(Buffer &y, const Weight &Wb, const Buffer &x, size_t x_off, const Weight &norm,
                            float eps, Buffer &xn) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(Wb);
    if (!qa_ok(W) || cw(norm).cols != W.cols) {
        Backend::norm_matmul(y, Wb, x, x_off, norm, eps, xn);
        return;
    }
    // int8 activations: quant_act norms and quantizes x in place of the rms_norm launch (and of
    // the copy of the last token's row).
    need(x.n_floats >= x_off + (size_t)W.cols && y.n_floats >= (size_t)W.rows, "norm_matmul shapes");
    quant_act(x, x_off, 1, (int)W.cols, &norm, eps);
    for (const WeightChunk &c : W.chunks) gm_gemv(y, W, c, x, 1, false, x_off, 0, tune_.logits_split);
}

bool ClBackend::try_gemv3(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                          const Weight &Wv, const Buffer &x, const Weight *norm, float eps, int n) {
    const ClWeight &A = cw(Wq), &B = cw(Wk), &C = cw(Wv);
    const bool fusable = n <= tune_.gemv_max_n && A.type == B.type && B.type == C.type &&
                         A.cols == B.cols && B.cols == C.cols && A.chunks.size() == 1 &&
                         B.chunks.size() == 1 && C.chunks.size() == 1 && (!norm || cw(*norm).cols == A.cols);
    if (!fusable) return false;
    need(x.n_floats >= (size_t)n * A.cols && q.n_floats >= (size_t)n * A.rows &&
         k.n_floats >= (size_t)n * B.rows && v.n_floats >= (size_t)n * C.rows, "matmul_qkv shapes");
    const bool gm = A.gm && B.gm && C.gm;
    const bool qa = qa_ok(A) && qa_ok(B) && qa_ok(C);
    const std::string kn = std::string(qa ? "gmq3_" : gm ? "gm3_" : "gemv3_") + fmt_suffix(A.type);
    cl_kernel kk = kernel(kn.c_str());
    auto s = [&](const ClWeight &W) { return W.chunks[0].scales.m ? W.chunks[0].scales.m : dummy_.m; };
    // Without mins the scales buffer (same size) is bound: compilers may load M speculatively.
    auto m = [&](const ClWeight &W) { return W.chunks[0].mins.m ? W.chunks[0].mins.m : s(W); };
    // int8 activations: quantized by the kernel's own prologue (x small enough for __local), else
    // by a quant_act launch.
    const bool pro = qa && qa_prologue_ok((int)A.cols);
    if (qa && !pro) quant_act(x, 0, n, (int)A.cols, norm, eps);
    args(kk, A.chunks[0].data.m, s(A), m(A), (cl_int)A.has_mins, (cl_int)A.rows, mem_of(q),
         B.chunks[0].data.m, s(B), m(B), (cl_int)B.has_mins, (cl_int)B.rows, mem_of(k),
         C.chunks[0].data.m, s(C), m(C), (cl_int)C.has_mins, (cl_int)C.rows, mem_of(v),
         (cl_int)A.cols);
    if (qa) {
        args_from(kk, 19, pro ? dummy_.m : qa_q_[qa_cur_].m, pro ? dummy_.m : qa_d_[qa_cur_].m, (cl_int)pro, mem_of(x),
                  (cl_int)(norm != nullptr), norm ? cw(*norm).chunks[0].data.m : dummy_.m, (cl_float)eps);
        local_args(kk, 26, pro ? (size_t)A.cols : 16, pro ? (size_t)A.cols / 2 : 16);
    } else {
        args_from(kk, 19, mem_of(x), (cl_int)(norm != nullptr), norm ? cw(*norm).chunks[0].data.m : dummy_.m,
                  (cl_float)eps);
    }
    if (gm) {
        const GmShape g = gm_shape(A.rows + B.rows + C.rows, A.cols / 32);
        gm_launch(kn.c_str(), kk, g, g.blocks(A.rows) + g.blocks(B.rows) + g.blocks(C.rows), n);
        return true;
    }
    const size_t R = (size_t)tune_.gemv_rows * (tune_.gemv_wg / tune_.gemv_lpr);  // rows per group
    const size_t nb = (A.rows + R - 1) / R + (B.rows + R - 1) / R + (C.rows + R - 1) / R;
    size_t gws[2] = {nb * tune_.gemv_wg, (size_t)n}, lws[2] = {(size_t)tune_.gemv_wg, 1};
    launch(kn.c_str(), kk, 2, gws, lws);
    return true;
}

bool ClBackend::try_gemv_swiglu(Buffer &out, const Weight &Wg, const Weight &Wu, const Buffer &x,
                                const Weight *norm, float eps, int n) {
    const ClWeight &A = cw(Wg), &B = cw(Wu);
    need(A.rows == B.rows && A.cols == B.cols, "matmul_swiglu weight shapes differ");
    const bool fusable = n <= tune_.gemv_max_n && A.type == B.type && A.chunks.size() == 1 &&
                         B.chunks.size() == 1 && (!norm || cw(*norm).cols == A.cols);
    if (!fusable) return false;
    need(x.n_floats >= (size_t)n * A.cols && out.n_floats >= (size_t)n * A.rows, "matmul_swiglu shapes");
    const bool gm = A.gm && B.gm;
    const WeightChunk &a = A.chunks[0], &b = B.chunks[0];
    const GmShape g = gm_shape(A.rows, A.cols / 32);  // (gm only)
    if (qa_ok(A) && qa_ok(B)) {
        const bool pro = qa_prologue_ok((int)A.cols);
        if (!pro) quant_act(x, 0, n, (int)A.cols, norm, eps);
        cl_kernel k = kernel("gmq_swiglu_q4");
        args(k, a.data.m, a.scales.m, a.mins.m ? a.mins.m : a.scales.m, (cl_int)A.has_mins, b.data.m, b.scales.m,
             b.mins.m ? b.mins.m : b.scales.m, (cl_int)B.has_mins, (cl_int)A.rows, (cl_int)A.cols,
             pro ? dummy_.m : qa_q_[qa_cur_].m, pro ? dummy_.m : qa_d_[qa_cur_].m, mem_of(out));
        args_from(k, 16, (cl_int)pro, mem_of(x), (cl_int)(norm != nullptr),
                  norm ? cw(*norm).chunks[0].data.m : dummy_.m, (cl_float)eps);
        local_args(k, 21, pro ? (size_t)A.cols : 16, pro ? (size_t)A.cols / 2 : 16);
        // Quantize the output for W_down in the same launch when each block is whole 32-groups.
        const bool fq = tune_.gm_rows == 1 && g.R % 32 == 0 && A.rows % 32 == 0;
        if (fq) ensure_qa(1, n, (int)A.rows);
        args_from(k, 13, (cl_int)fq, fq ? qa_q_[1].m : dummy_.m, fq ? qa_d_[1].m : dummy_.m);
        gm_launch("gmq_swiglu_q4", k, g, g.blocks(A.rows), n);
        if (fq) set_qa_pending(out, 0, n, (int)A.rows);
        return true;
    }
    const std::string kn = std::string(gm ? "gm_swiglu_" : "gemv_swiglu_") + fmt_suffix(A.type);
    cl_kernel k = kernel(kn.c_str());
    args(k, a.data.m, a.scales.m ? a.scales.m : dummy_.m, a.mins.m ? a.mins.m : (a.scales.m ? a.scales.m : dummy_.m),
         (cl_int)A.has_mins, b.data.m, b.scales.m ? b.scales.m : dummy_.m,
         b.mins.m ? b.mins.m : (b.scales.m ? b.scales.m : dummy_.m), (cl_int)B.has_mins, (cl_int)A.rows, (cl_int)A.cols,
         mem_of(x), mem_of(out), (cl_int)(norm != nullptr), norm ? cw(*norm).chunks[0].data.m : dummy_.m,
         (cl_float)eps);
    if (gm) {
        gm_launch(kn.c_str(), k, g, g.blocks(A.rows), n);
        return true;
    }
    const size_t rpw = (size_t)tune_.gemv_rows * (tune_.gemv_wg / tune_.gemv_lpr);
    const size_t nb = ((size_t)A.rows + rpw - 1) / rpw;
    size_t gws[2] = {nb * tune_.gemv_wg, (size_t)n}, lws[2] = {(size_t)tune_.gemv_wg, 1};
    launch(kn.c_str(), k, 2, gws, lws);
    return true;
}

void ClBackend::matmul_qkv(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                           const Weight &Wv, const Buffer &x, int n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    if (!try_gemv3(q, k, v, Wq, Wk, Wv, x, nullptr, 0.f, n)) Backend::matmul_qkv(q, k, v, Wq, Wk, Wv, x, n);
}

void ClBackend::norm_matmul_qkv(Buffer &q, Buffer &k, Buffer &v, const Weight &Wq, const Weight &Wk,
                                const Weight &Wv, const Buffer &x, const Weight &norm, float eps,
                                Buffer &xn, int n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    if (!try_gemv3(q, k, v, Wq, Wk, Wv, x, &norm, eps, n))
        Backend::norm_matmul_qkv(q, k, v, Wq, Wk, Wv, x, norm, eps, xn, n);
}

void ClBackend::matmul_swiglu(Buffer &out, Buffer &scratch, const Weight &Wg, const Weight &Wu,
                              const Buffer &x, int n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    if (!try_gemv_swiglu(out, Wg, Wu, x, nullptr, 0.f, n))
        Backend::matmul_swiglu(out, scratch, Wg, Wu, x, n);  // prefill: two GEMMs + SwiGLU
}

void ClBackend::norm_matmul_swiglu(Buffer &out, Buffer &scratch, const Weight &Wg, const Weight &Wu,
                                   const Buffer &x, const Weight &norm, float eps, Buffer &xn, int n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    if (!try_gemv_swiglu(out, Wg, Wu, x, &norm, eps, n))
        Backend::norm_matmul_swiglu(out, scratch, Wg, Wu, x, norm, eps, xn, n);
}

void ClBackend::layer_tail(Buffer &x, const Buffer &att, const LayerRefs &L, const LayerRefs *next,
                           Buffer &q, Buffer &k, Buffer &v, Buffer &h, Buffer &up, Buffer &xn, int n, float eps) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    if (n == 1 && try_layer_tail(x, att, L, next, q, k, v, eps)) return;
    Backend::layer_tail(x, att, L, next, q, k, v, h, up, xn, n, eps);
}

void ClBackend::attention_layer_tail(Buffer &x, Buffer &att, Buffer &q, Buffer &k, Buffer &v, KvCache &cache,
                                     int layer, int pos0, const RopeParams &rp, const AttentionParams &ap,
                                     const LayerRefs &L, const LayerRefs *next, Buffer &h, Buffer &up, Buffer &xn,
                                     int n, float eps) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n <= 0) return;
    const AttnAhead ah = ahead_;
    ahead_ = AttnAhead();
    if (n == 1 && tune_.tail_attn == 1) {
        const TailAttn ta{&cache, layer, pos0, &rp, &ap};
        if (try_layer_tail(x, att, L, next, q, k, v, eps, &ta)) return;
    }
    if (n == 1 && tune_.tail_attn == 2) {
        // This layer's attention unless the previous launch ran it (its output is then in att and,
        // quantized, in the qa set qa_pending_ names); then the tail with the next layer's attention
        // as its last stage.
        if (!(ah.mods == mods_ && ah.cache == &cache && ah.layer == layer && ah.pos0 == pos0 && ah.att == mem_of(att) &&
              ah.q == mem_of(q)))
            rope_attention(att, q, k, v, cache, layer, pos0, n, rp, ap);
        const bool more = next && layer + 1 < static_cast<const ClKv &>(cache).n_layer;
        TailAttn ta{&cache, layer + 1, pos0, &rp, &ap};
        ta.last = true;
        if (try_layer_tail(x, att, L, next, q, k, v, eps, more ? &ta : nullptr)) {
            if (more) ahead_ = AttnAhead{&cache, layer + 1, pos0, mem_of(att), mem_of(q), mods_};
            return;
        }
        Backend::layer_tail(x, att, L, next, q, k, v, h, up, xn, n, eps);
        return;
    }
    // The next layer's cached K / V rows (positions before pos0) prefetched into L2 by the tail's
    // work-groups that run out of blocks (tail_kvpf), for that layer's attention launch: its
    // staging then waits for L2, not DRAM. Only while both fit a quarter of the L2; longer contexts
    // keep attention streaming from DRAM (a prefetch would only evict its own lines).
    // Whole lines only (none past the rows written).
    const ClKv &kv = static_cast<const ClKv &>(cache);
    const int64_t kv_bytes = (int64_t)pos0 * kv.kv_dim * 2;  // half, each of K and V
    KvPrefetch pf;
    if (tune_.tail_kvpf && next && layer + 1 < kv.n_layer && 2 * kv_bytes <= (int64_t)cache_bytes_ / 4)
        pf = KvPrefetch{kv.k[layer + 1].m, kv.v[layer + 1].m, (int)(kv_bytes / 128)};
    rope_attention(att, q, k, v, cache, layer, pos0, n, rp, ap);
    if (n == 1 && try_layer_tail(x, att, L, next, q, k, v, eps, nullptr, &pf)) return;
    Backend::layer_tail(x, att, L, next, q, k, v, h, up, xn, n, eps);
}

// tail_attn's chunks: at most this many positions (its K / V staging: 16 KiB each at head_dim 128).
constexpr int kTailAttnChunk = 64;

bool ClBackend::try_layer_tail(Buffer &x, const Buffer &att, const LayerRefs &L, const LayerRefs *next,
                               Buffer &q, Buffer &k, Buffer &v, float eps, const TailAttn *ta,
                               const KvPrefetch *pf) {
    if (!tune_.fuse_tail || !tune_.qa || tune_.gm_rows != 1) return false;
    auto fits = [&](const Weight *w) { return qa_ok(cw(*w)) && cw(*w).chunks.size() == 1; };
    if (!fits(L.wo) || !fits(L.w_gate) || !fits(L.w_up) || !fits(L.w_down)) return false;
    if (next && (!fits(next->wq) || !fits(next->wk) || !fits(next->wv))) return false;
    const ClWeight &Wo = cw(*L.wo), &Wg = cw(*L.w_gate), &Wu = cw(*L.w_up), &Wd = cw(*L.w_down);
    const int64_t E = Wo.rows, F = Wg.rows, Q = Wo.cols;  // n_embd, n_ff, q_dim
    if (E % 32 || F % 32 || Q % 32 || Wg.cols != E || Wu.rows != F || Wu.cols != E || Wd.rows != E ||
        Wd.cols != F || cw(*L.ffn_norm).cols != E)
        return false;
    if (next && (next->wq->cols != E || next->wk->cols != E || next->wv->cols != E ||
                 cw(*next->attn_norm).cols != E))
        return false;
    // __local: the kernel's own arrays (5 floats per item) and xl / dl: 1.5 bytes per input of the
    // widest product input (n_embd, n_ff or q_dim); with attention also the K / V staging and its
    // later uses (tail_attn), and al.
    const size_t wide = (size_t)std::max(std::max(E, F), Q);
    size_t xl_bytes = wide, dl_bytes = wide / 2, al_bytes = 16;
    // Stages 0, 2 and 3 with the tuning's K-slices where set (tail_s*).
    const GmShape g0 = gm_shape(E, Q / 32, tune_.tail_s0), g1 = gm_shape(F, E / 32),
                  g2 = gm_shape(E, F / 32, tune_.tail_s2);
    if (g1.R % 32 != 0) return false;  // stage 1 quantizes whole 32-groups of h per block
    const int64_t rq = next ? next->wq->rows : 0, rk = next ? next->wk->rows : 0, rv = next ? next->wv->rows : 0;
    const GmShape g3 = gm_shape(rq + rk + rv, E / 32, tune_.tail_s3);
    // The attention stage: blocks of (chunk, head block), as attn_dec's (chunks of attn_chunk
    // positions, at most attn_dec_chunks of them and kTailAttnChunk positions each).
    int n_chunks = 0, chunk = 0, n_qblk = 0, hd = 0;
    if (ta) {
        const AttentionParams &ap = *ta->ap;
        const ClKv &kv = static_cast<const ClKv &>(*ta->cache);
        hd = ap.head_dim;
        const int nq = ap.n_head_kv > 0 ? ap.n_head / ap.n_head_kv : 0;
        const int nh = std::min(tune_.attn_qb, nq);
        if (hd % 32 || hd > 256 || nq <= 0 || ap.n_head % ap.n_head_kv || (int64_t)ap.n_head * hd != Q ||
            nh * hd / 4 > tune_.gm_wg || ta->rp->head_dim != hd || ta->rp->n_head != ap.n_head ||
            ta->rp->n_head_kv != ap.n_head_kv || kv.kv_dim != ap.n_head_kv * hd)
            return false;
        check_rope(q, k, v, kv, ta->layer, ta->pos0, 1, *ta->rp);
        const int ctx = ta->pos0 + 1;
        n_chunks = std::max(1, (ctx + tune_.attn_chunk - 1) / tune_.attn_chunk);
        if (tune_.attn_dec_chunks > 0) n_chunks = std::min(n_chunks, tune_.attn_dec_chunks);
        chunk = std::min(kTailAttnChunk, (ctx + n_chunks - 1) / n_chunks);
        n_chunks = (ctx + chunk - 1) / chunk;  // every chunk holds positions
        n_qblk = (nq + tune_.attn_qb - 1) / tune_.attn_qb;
        const size_t stage = (size_t)chunk * hd * 2, wg = (size_t)tune_.gm_wg;
        xl_bytes = std::max(xl_bytes, std::max(stage, 32 * wg));
        dl_bytes = std::max(dl_bytes, std::max(stage, 16 * wg));
        al_bytes = 4 * ((size_t)tune_.attn_qb * (hd + chunk) + 2 * tune_.attn_qb);
    }
    if (5 * 4 * (size_t)tune_.gm_wg + 64 + xl_bytes + dl_bytes + al_bytes > local_mem_) return false;
    need(x.n_floats >= (size_t)E && att.n_floats >= (size_t)Q, "layer_tail shapes");
    need(!next || (q.n_floats >= (size_t)rq && k.n_floats >= (size_t)rk && v.n_floats >= (size_t)rv),
         "layer_tail q/k/v shapes");

    if (ta && ta->last && !next) return false;  // the last stage reads the next q / k / v of stage 3
    const int hblocks = ta ? ta->ap->n_head_kv * n_qblk : 0;
    cl_mem xq0, xd0, xq1 = dummy_.m, xd1 = dummy_.m;
    int out_set = -1;
    if (ta && !ta->last) {  // the attention stage quantizes its output into set 1 for stage 0
        ensure_qa(1, 1, (int)Q);
        qa_pending_ = QaPending();
        xq0 = xq1 = qa_q_[1].m;
        xd0 = xd1 = qa_d_[1].m;
    } else {
        quant_act(att, 0, 1, (int)Q, nullptr, 0.f);  // nothing to do when attn_dec quantized att
        xq0 = qa_q_[qa_cur_].m;
        xd0 = qa_d_[qa_cur_].m;
        if (ta) {  // the next layer's attention output, quantized into the set stage 0 does not read
            out_set = qa_cur_ == 2 ? 1 : 2;
            ensure_qa(out_set, 1, (int)Q);
            xq1 = qa_q_[out_set].m;
            xd1 = qa_d_[out_set].m;
        }
    }
    if (ta) {
        ensure(part_o_, part_o_cap_, (size_t)ta->ap->n_head * n_chunks * hd * 4);
        ensure(part_ml_, part_ml_cap_, (size_t)ta->ap->n_head * n_chunks * 2 * 4);
    }
    ensure(tail_hq_, tail_hq_cap_, (size_t)F);
    ensure(tail_hd_, tail_hd_cap_, (size_t)F / 32 * 16);
    if (!tail_ctr_.m || tail_ctr_n_ < 8 + (size_t)hblocks) {  // ticket, stages 0-3, attention; head blocks
        tail_ctr_n_ = std::max<size_t>(16, 8 + (size_t)hblocks);
        const std::vector<cl_uint> zero(tail_ctr_n_, 0);
        tail_ctr_ = Mem(make_buffer(zero.size() * sizeof(cl_uint), zero.data(), CL_MEM_READ_WRITE));
    }
    const cl_int4 sl = {{(cl_int)g0.S, (cl_int)g1.S, (cl_int)g2.S, (cl_int)g3.S}};
    const cl_int4 nb = {{(cl_int)g0.blocks(E), (cl_int)g1.blocks(F), (cl_int)g2.blocks(E),
                         next ? (cl_int)(g3.blocks(rq) + g3.blocks(rk) + g3.blocks(rv)) : 0}};
    auto sc = [&](const ClWeight &W) { return W.chunks[0].scales.m; };
    auto mn = [&](const ClWeight &W) { return W.chunks[0].mins.m ? W.chunks[0].mins.m : W.chunks[0].scales.m; };
    cl_kernel kk = kernel("layer_tail_q4");
    args(kk, tail_ctr_.m, sl, nb, (cl_int)E, (cl_int)F, (cl_int)Q, (cl_float)eps, mem_of(x), xq0, xd0,
         Wo.chunks[0].data.m, sc(Wo), mn(Wo), (cl_int)Wo.has_mins, Wg.chunks[0].data.m, sc(Wg), mn(Wg),
         (cl_int)Wg.has_mins, Wu.chunks[0].data.m, sc(Wu), mn(Wu), (cl_int)Wu.has_mins,
         cw(*L.ffn_norm).chunks[0].data.m, tail_hq_.m, tail_hd_.m, Wd.chunks[0].data.m, sc(Wd), mn(Wd),
         (cl_int)Wd.has_mins);
    const ClWeight *nw[3] = {next ? &cw(*next->wq) : &Wo, next ? &cw(*next->wk) : &Wo, next ? &cw(*next->wv) : &Wo};
    const int64_t nr[3] = {rq, rk, rv};
    Buffer *outs[3] = {&q, &k, &v};
    for (int i = 0; i < 3; ++i)
        args_from(kk, (cl_uint)(29 + 6 * i), nw[i]->chunks[0].data.m, sc(*nw[i]), mn(*nw[i]), (cl_int)nw[i]->has_mins,
                  (cl_int)nr[i], mem_of(*outs[i]));
    args_from(kk, 47, next ? cw(*next->attn_norm).chunks[0].data.m : dummy_.m);
    const cl_int n_attn = (cl_int)(n_chunks * hblocks);
    if (ta) {
        const ClKv &kv = static_cast<const ClKv &>(*ta->cache);
        const AttentionParams &ap = *ta->ap;
        const cl_int4 ah = {{(cl_int)ap.n_head, (cl_int)ap.n_head_kv, (cl_int)hd, (cl_int)n_qblk}};
        const cl_int4 ac = {{(cl_int)ta->pos0, (cl_int)chunk, (cl_int)n_chunks, n_attn}};
        args_from(kk, 48, kv.k[ta->layer].m, kv.v[ta->layer].m, inv_freq_buffer(*ta->rp->inv_freq), mem_of(att),
                  part_o_.m, part_ml_.m, ah, ac, (cl_float)ap.scale, xq1, xd1, (cl_int)ta->last);
    } else {
        const bool fetch = pf && pf->k && pf->lines > 0;
        const cl_int4 zero = {{0, 0, 0, 0}}, lines = {{fetch ? pf->lines : 0, 0, 0, 0}};
        args_from(kk, 48, fetch ? pf->k : dummy_.m, fetch ? pf->v : dummy_.m, dummy_.m, dummy_.m, dummy_.m, dummy_.m,
                  zero, lines, 0.f, xq1, xd1, (cl_int)0);
    }
    local_args(kk, 60, xl_bytes, dl_bytes);
    check(clSetKernelArg(kk, 62, al_bytes, nullptr), "clSetKernelArg(local)");
    const size_t total = (size_t)n_attn + (size_t)(nb.s[0] + nb.s[1] + nb.s[2] + nb.s[3]);
    const size_t groups = std::min(total, (size_t)compute_units_ * (size_t)tune_.tail_wpc);
    size_t gws = groups * (size_t)tune_.gm_wg, lws = (size_t)tune_.gm_wg;
    launch("layer_tail_q4", kk, 1, &gws, &lws);
    if (out_set > 0) set_qa_pending(att, 0, 1, (int)Q, out_set);  // att (the next layer's) is quantized there
    return true;
}

cl_mem ClBackend::inv_freq_buffer(const std::vector<float> &f) {
    if (!inv_freq_.m || inv_freq_host_ != f) {
        inv_freq_ = Mem(make_buffer(f.size() * 4, f.data(), CL_MEM_READ_ONLY));
        inv_freq_host_ = f;
    }
    return inv_freq_.m;
}

void ClBackend::check_rope(const Buffer &q, const Buffer &k, const Buffer &v, const ClKv &kv, int layer,
                           int pos0, int n, const RopeParams &p) {
    need(p.inv_freq && (int)p.inv_freq->size() * 2 == p.head_dim && p.head_dim % 2 == 0, "rope inv_freq");
    need(layer >= 0 && layer < kv.n_layer && kv.kv_dim == p.n_head_kv * p.head_dim, "rope layer/kv_dim");
    if (pos0 < 0 || pos0 + n > kv.n_ctx)
        fail(EDGELLM_ERR_INTERNAL, "OpenCL: KV positions %d..%d outside the cache (%d)", pos0, pos0 + n, kv.n_ctx);
    need(q.n_floats >= (size_t)n * p.n_head * p.head_dim && k.n_floats >= (size_t)n * kv.kv_dim &&
         v.n_floats >= (size_t)n * kv.kv_dim, "rope buffers");
}

void ClBackend::rope_store_kv(Buffer &q, Buffer &k, const Buffer &v, KvCache &cache, int layer,
                              int pos0, int n, const RopeParams &p) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    ClKv &kv = static_cast<ClKv &>(cache);
    if (n <= 0) return;
    check_rope(q, k, v, kv, layer, pos0, n, p);
    cl_kernel kk = kernel("rope_store_kv");
    args(kk, mem_of(q), mem_of(k), mem_of(v), kv.k[layer].m, kv.v[layer].m, inv_freq_buffer(*p.inv_freq),
         (cl_int)p.head_dim, (cl_int)p.n_head, (cl_int)p.n_head_kv, (cl_int)pos0);
    size_t gws[3] = {(size_t)p.head_dim / 2, (size_t)(p.n_head + p.n_head_kv), (size_t)n};
    launch("rope_store_kv", kk, 3, gws, nullptr);
}

void ClBackend::attention(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0,
                          int n, const AttentionParams &p) {
    attention_impl(out, q, cache, layer, pos0, n, p, nullptr);
}

void ClBackend::rope_attention(Buffer &out, Buffer &q, Buffer &k, const Buffer &v, KvCache &cache,
                               int layer, int pos0, int n, const RopeParams &rp, const AttentionParams &ap) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    // One decoded token through attn_dec: RoPE and the KV store happen inside the attention launch
    // (the same checks as rope_store_kv; attention_impl checks the rest).
    if (n == 1 && tune_.attn_rope && attn_dec_ok(rp.head_dim)) {
        check_rope(q, k, v, static_cast<const ClKv &>(cache), layer, pos0, n, rp);
        need(rp.head_dim == ap.head_dim && rp.n_head == ap.n_head && rp.n_head_kv == ap.n_head_kv,
             "rope and attention heads differ");
        const FusedRope fr{&k, &v, &rp};
        attention_impl(out, q, cache, layer, pos0, n, ap, &fr);
        return;
    }
    Backend::rope_attention(out, q, k, v, cache, layer, pos0, n, rp, ap);
}

void ClBackend::attention_impl(Buffer &out, const Buffer &q, const KvCache &cache, int layer, int pos0,
                               int n, const AttentionParams &p, const FusedRope *rope) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClKv &kv = static_cast<const ClKv &>(cache);
    if (n <= 0) return;
    need(p.head_dim % 4 == 0 && p.head_dim <= 256, "attention head_dim must be a multiple of 4, <= 256");
    need(p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0 && kv.kv_dim == p.n_head_kv * p.head_dim,
         "attention heads");
    need(layer >= 0 && layer < kv.n_layer && pos0 >= 0 && pos0 + n <= kv.n_ctx, "attention positions");
    const size_t qd = (size_t)p.n_head * p.head_dim;
    need(q.n_floats >= (size_t)n * qd && out.n_floats >= (size_t)n * qd, "attention buffers");
    const int ctx = pos0 + n;
    // Decode (a few tokens): attn_dec shares every K/V load among a GQA group's query heads.
    const bool dec = n <= tune_.gemv_max_n && attn_dec_ok(p.head_dim);
    need(!rope || (dec && n == 1), "fused RoPE needs attn_dec and one token");
    const int max_chunk = dec ? std::min(kAttnDecChunk, attn_kv_ / p.head_dim) : tune_.attn_max_chunk;
    int n_chunks = std::max(1, (ctx + tune_.attn_chunk - 1) / tune_.attn_chunk);
    if (dec && tune_.attn_dec_chunks > 0) n_chunks = std::min(n_chunks, tune_.attn_dec_chunks);
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
    const int nq = p.n_head / p.n_head_kv, n_qblk = (nq + tune_.attn_qb - 1) / tune_.attn_qb;
    const size_t blocks = (size_t)p.n_head_kv * n_qblk;  // attn_dec work-groups per chunk and token
    // attn_dec combines the chunks itself (a ticket per token and head block).
    const bool fuse = dec && !direct && tune_.attn_fuse;
    if (fuse && tickets_cap_ < (size_t)tb * blocks * 4) {
        ensure(tickets_, tickets_cap_, (size_t)tb * blocks * 4);
        const cl_int zero = 0;
        ++mods_;
        check(clEnqueueFillBuffer(queue_, tickets_.m, &zero, sizeof zero, 0, tickets_cap_, 0, nullptr, nullptr),
              "clEnqueueFillBuffer(tickets)");
    }
    const char *kname = dec ? "attn_dec" : "attn_partial";
    // With int8 activations, the last step (attn_dec or attn_reduce_q) quantizes the output for Wo.
    const bool rq = tune_.qa && tune_.gm && dec && tb == n && p.head_dim % 32 == 0;
    if (rq) ensure_qa(1, n, (int)qd);
    cl_kernel kp = kernel(kname);
    cl_kernel kr = kernel("attn_reduce");
    for (int t0 = 0; t0 < n; t0 += tb) {
        const int nt = std::min(tb, n - t0);
        args(kp, mem_of(q), kv.k[layer].m, kv.v[layer].m, mem_of(out), direct ? dummy_.m : part_o_.m,
             direct ? dummy_.m : part_ml_.m, (cl_int)p.n_head, (cl_int)p.n_head_kv,
             (cl_int)p.head_dim, (cl_float)p.scale, (cl_int)pos0, (cl_int)t0, (cl_int)chunk,
             (cl_int)n_chunks, (cl_int)direct);
        if (dec) {
            args_from(kp, 15, (cl_int)(rq && (direct || fuse)), rq ? qa_q_[1].m : dummy_.m, rq ? qa_d_[1].m : dummy_.m,
                      (cl_int)(rope != nullptr), rope ? mem_of(*rope->k) : dummy_.m, rope ? mem_of(*rope->v) : dummy_.m,
                      rope ? inv_freq_buffer(*rope->p->inv_freq) : dummy_.m, (cl_int)fuse, fuse ? tickets_.m : dummy_.m);
        }
        // attn_dec: a work-group per (chunk, kv head x query-head block); attn_partial: per (chunk, head).
        const size_t wg = (size_t)(dec ? tune_.attn_dwg : tune_.attn_wg);
        size_t gws[3] = {(size_t)n_chunks * wg, dec ? blocks : (size_t)p.n_head, (size_t)nt};
        size_t lws[3] = {wg, 1, 1};
        launch(kname, kp, 3, gws, lws);
        if (direct || fuse) continue;
        if (rq) {  // the reduction also quantizes the output for the Wo product
            cl_kernel kq = kernel("attn_reduce_q");
            args(kq, mem_of(out), part_o_.m, part_ml_.m, (cl_int)p.n_head, (cl_int)p.head_dim, (cl_int)n_chunks,
                 (cl_int)t0, qa_q_[1].m, qa_d_[1].m);
            size_t g2[2] = {(size_t)p.n_head * tune_.qa_wg, (size_t)nt}, l2[2] = {(size_t)tune_.qa_wg, 1};
            launch("attn_reduce_q", kq, 2, g2, l2);
        } else {
            args(kr, mem_of(out), part_o_.m, part_ml_.m, (cl_int)p.n_head, (cl_int)p.head_dim,
                 (cl_int)n_chunks, (cl_int)t0);
            size_t g2[3] = {(size_t)p.head_dim, (size_t)p.n_head, (size_t)nt};
            launch("attn_reduce", kr, 3, g2, nullptr);
        }
    }
    if (rq) set_qa_pending(out, 0, n, (int)qd);  // attn_dec or attn_reduce_q quantized it
}

void ClBackend::swiglu(Buffer &out, const Buffer &gate, const Buffer &up, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(out.n_floats >= n && gate.n_floats >= n && up.n_floats >= n, "swiglu sizes");
    cl_kernel k = kernel("swiglu");
    args(k, mem_of(out), mem_of(gate), mem_of(up), (cl_long)n);
    size_t gws = round_up(n, 64);
    launch("swiglu", k, 1, &gws, nullptr);
}

void ClBackend::add(Buffer &y, const Buffer &x, size_t n) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(y.n_floats >= n && x.n_floats >= n, "add sizes");
    cl_kernel k = kernel("add_inplace");
    args(k, mem_of(y), mem_of(x), (cl_long)n);
    size_t gws = round_up(n, 64);
    launch("add_inplace", k, 1, &gws, nullptr);
}

void ClBackend::copy(Buffer &dst, const Buffer &src, size_t n, size_t dst_offset, size_t src_offset) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (n == 0) return;
    need(dst.n_floats >= dst_offset + n && src.n_floats >= src_offset + n, "copy sizes");
    ++mods_;
    check(clEnqueueCopyBuffer(queue_, mem_of(src), mem_of(dst), src_offset * 4, dst_offset * 4, n * 4, 0,
                              nullptr, nullptr), "clEnqueueCopyBuffer");
}

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
    enqueue_argmax(x, n, mem_of(tok), 0);
}

void ClBackend::embed_from(Buffer &out, const Weight &table, const Buffer &tok) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const ClWeight &W = cw(table);
    need(W.chunks.size() == 1, "embed_from: an embedding table in one buffer");
    need(tok.n_floats >= 1 && out.n_floats >= (size_t)W.cols, "embed_from shapes");
    // The kernel clamps the id to the table's rows: a bad id (token_read_end reports it) never
    // reads out of bounds.
    launch_embed(W, W.chunks[0], mem_of(tok), -1, 1, out, 0);
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
