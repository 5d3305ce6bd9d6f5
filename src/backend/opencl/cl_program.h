// Kernel programs of the OpenCL backend: source lookup (embedded, or kernels/ on disk with
// EDGELLM_KERNELS_FROM_DISK), the per-device tuning table, and building with a binary cache in
// memory and on disk keyed by a hash of source, options, device name and driver version.
#pragma once

#include <string>

#include "backend/opencl/cl_common.h"
#include "core/log.h"

namespace edgellm {
namespace ocl {

// Block sizes and switches per device family. The host turns them into #defines, so kernel files
// hold no tuning constants.
struct Tuning {
    const char *row = "default";  // which table row matched
    int gemv_wg = 64;             // work-items per GEMV work-group
    int gemv_lpr = 64;            // work-items per row team (divides gemv_wg; the reduction span)
    int gemv_rows = 4;            // output rows per team
    int gemv_unroll = 1;          // 32-groups per item per step, all loads issued before the math (Q4/Q8)
    int gemv_max_n = 4;           // up to this many tokens a product runs as GEMV, above via GEMM
    int attn_wg = 64;             // work-items per attention work-group
    int attn_chunk = 64;          // context positions per decode-attention work-group
    int attn_max_chunk = 1024;    // upper bound of positions per work-group (local memory)
    int norm_wg = 128;            // work-items per RMSNorm row
    bool subgroups = false;       // sub_group_reduce_add for reductions
    size_t gemm_tmp_bytes = 256u << 20;  // cap of the dequantized weight tile for prefill
    // Group-major decode path (gemv.cl "gm"): Q4/Q8 matrices re-laid [group][row] at upload, one
    // work-item per (row, K-slice). Off: the row-major team kernels above.
    bool gm = false;
    bool gm_q8 = true;            // Q8_0 matrices too (else only Q4 takes the gm path)
    int gm_wg = 128;              // work-items per gm work-group (row lanes x K-slices)
    int gm_rows = 2;              // rows per item (R lanes apart: coalesced), sharing the x work
    int gm_unroll = 4;            // consecutive 32-groups per item per step, loads first
    int gm_items = 65536;         // K-slices are added (powers of two) until row lanes x slices >= this
    int gm_max_split = 16;        // at most this many K-slices per row
    // Quantized activations (qa.cl): gm Q4 products read x quantized to int8 per 32-group
    // (one quant_act launch per product input, the RMSNorm folded in) and use int8 dot products.
    bool qa = false;
    int qa_wg = 64;               // work-items per quant_act work-group (one 32-group each)
    int dot = -1;                 // dot-product implementation (qa.cl DOT_IMPL); -1: by device
    bool qa_pro = true;           // fused products quantize x in a prologue (no quant_act launch)
    int qa_pro_bytes = 24576;     // ... when its __local copy (1.5 bytes per input) fits this
    // Decode attention through attn_dec (GQA group shares K/V loads), ATTN_DWG items per group.
    bool attn_dec = false;
    int attn_dwg = 128;     // 64 or 128 (attn_dec's __local plan)
    int attn_dec_chunks = 0; // attn_dec: at most this many chunks (longer ones past that); 0: no cap
    int attn_vb = 8;        // attn_dec with attn_fuse: chunk partials loaded per step per item
    int attn_qb = 8;        // attn_dec: query heads per work-group (1, 2, 4 or 8; ATTN_QB)
    int attn_sb = 4;        // attn_dec: K / V pieces per item whose loads go out together (ATTN_SB)
    int tail_sb = 2;        // ... in layer_tail_q4's attention stage (TAIL_SB)
    // attn_dec combines its chunks itself (the last work-group to take a ticket), no attn_reduce
    // launch. On for NVIDIA, where the partials are read with L2 loads (16.6 us vs 12.3 + 6.9 us
    // for attn_dec + attn_reduce_q per layer on the H100); elsewhere they cross work-groups through
    // atomics, whose chains of reads cost more than the launch they save (measured on the H100).
    bool attn_fuse = false;
    bool attn_rope = true;  // one-token decode: RoPE + KV store inside attn_dec, no rope_store_kv
    int flush_every = 0;    // clFlush after this many launches (0: only where the host waits)
    // One-token decode: a layer's products after attention and the next layer's q / k / v as one
    // launch (qa.cl layer_tail_q4; needs qa, gm_rows 1) of tail_wpc work-groups per compute unit.
    bool fuse_tail = false;
    int tail_wpc = 2;
    // ... with attention (RoPE, KV store, attention, the chunk combine; qa.cl tail_attn) as a stage:
    // 1 the layer's own, first (one launch per layer); 2 the next layer's, last, its K / V staged
    // while the products stream (the next layer's launch then skips its attention); 0 none.
    int tail_attn = 0;
    // The layer tail's work-groups that run out of blocks prefetch the next layer's cached K / V
    // into L2 for its attention launch (PTX, NVIDIA only: 1 prefetch.global.L2, 2 with evict_last
    // priority); 0 off.
    int tail_kvpf = 0;
    // K-slices of the tail's stages 0 (Wo), 2 (W_down) and 3 (next q / k / v); 0: gm_shape's.
    int tail_s0 = 0, tail_s2 = 0, tail_s3 = 0;
    // K-slices of norm_matmul's product (the logits: a tall matrix); 0: gm_shape's.
    int logits_split = 0;
    // NVIDIA (dot 3): the 32-group quantizer combines its four items through warp shuffles, not
    // __local and barriers (QA_SHFL).
    bool qa_shfl = false;
    // Greedy selection (sample.cl argmax): at most argmax_groups work-groups of argmax_wg items
    // (a power of two), the last to finish combining the others' results.
    int argmax_wg = 128;
    int argmax_groups = 128;
};

// attn_dec limit (kernels/attention.cl ATTN_DCHUNK): positions per chunk (also at most ATTN_KV /
// head_dim: the __local K / V staging).
constexpr int kAttnDecChunk = 128;

// Chooses the tuning row for a device by name, vendor and driver version (first match wins).
Tuning tuning_for(const std::string &name, const std::string &vendor, const std::string &driver,
                  bool has_subgroups);

// Source text of kernels/<file>, embedded at build time or read from disk (dev switch).
// Throws EDGELLM_ERR_KERNEL_BUILD when missing.
std::string kernel_source(const char *file);

// Cache directory: $EDGELLM_CACHE_DIR, else $XDG_CACHE_HOME/edgellm, else ~/.cache/edgellm;
// "" when none can be determined (then only the memory cache is used).
std::string cache_dir();

// 128-bit FNV-1a based hash as 32 hex digits (not cryptographic; a cache key).
std::string hash_hex(const std::string &data);

// Builds `source` with `options` for one device, through the memory and disk caches. Any cache
// problem falls back to compiling from source. Throws EDGELLM_ERR_KERNEL_BUILD with the log.
cl_program build_program(cl_context ctx, cl_device_id dev, const std::string &source,
                         const std::string &options, const std::string &device_key,
                         const Logger &log, bool *from_cache = nullptr);

}  // namespace ocl
}  // namespace edgellm
