// One decoder layer per loop iteration, in the order of Hugging Face LlamaDecoderLayer:
// x += Wo·Attn(RoPE(Wq·n1(x)), RoPE(Wk·n1(x)), Wv·n1(x));  x += Wd·(silu(Wg·n2(x)) * Wu·n2(x)).
// The residual adds are fused into the output projections (matmul with accumulate). Everything
// from attention on, with the next layer's q / k / v products, is one backend op
// (attention_layer_tail), which a GPU backend runs as a single launch during decode.
#include "engine/forward.h"

#include <cmath>

#include "core/error.h"

namespace edgellm {

Scratch::Scratch(Backend &be, const ModelConfig &c, int nb) : n_batch(nb) {
    const size_t n = (size_t)nb;
    x = be.alloc(n * c.n_embd);
    xn = be.alloc(n * c.n_embd);
    q = be.alloc(n * c.q_dim());
    k = be.alloc(n * c.kv_dim());
    v = be.alloc(n * c.kv_dim());
    att = be.alloc(n * c.q_dim());
    gate = be.alloc(n * c.n_ff);
    up = be.alloc(n * c.n_ff);
    last = be.alloc(c.n_embd);
    logits = be.alloc(c.n_vocab);
    tok = be.alloc(1);
}

namespace {

// The layers over tokens[0..n) (tokens null: the one token held in s.tok); with_logits: then the
// last token's logits into s.logits.
void run_layers(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens, int n,
                int pos0, bool with_logits) {
    const ModelConfig &c = model.config;
    Backend &be = *model.backend;
    const DeviceWeights &w = model.weights;
    if (n <= 0 || n > s.n_batch) fail(EDGELLM_ERR_INTERNAL, "forward: bad token count %d", n);
    if (pos0 < 0 || pos0 + n > cache.n_ctx) fail(EDGELLM_ERR_INTERNAL, "forward: past the context");

    RopeParams rp;
    rp.head_dim = c.head_dim;
    rp.n_head = c.n_head;
    rp.n_head_kv = c.n_head_kv;
    rp.inv_freq = &model.inv_freq;
    AttentionParams ap;
    ap.n_head = c.n_head;
    ap.n_head_kv = c.n_head_kv;
    ap.head_dim = c.head_dim;
    ap.scale = 1.0f / std::sqrt((float)c.head_dim);

    auto layer = [&](int l) {
        const DeviceLayer &D = w.layers[(size_t)l];
        LayerRefs L;
        L.wq = D.wq.get();
        L.wk = D.wk.get();
        L.wv = D.wv.get();
        L.wo = D.wo.get();
        L.w_gate = D.w_gate.get();
        L.w_up = D.w_up.get();
        L.w_down = D.w_down.get();
        L.attn_norm = D.attn_norm.get();
        L.ffn_norm = D.ffn_norm.get();
        return L;
    };
    if (tokens) be.embed(*s.x, *w.tok_embd, tokens, n);  // (n, n_embd)
    else if (n == 1) be.embed_from(*s.x, *w.tok_embd, *s.tok);
    else fail(EDGELLM_ERR_INTERNAL, "forward: a device-held token is one token");
    // xn = norm(x); q (n, q_dim), k and v (n, kv_dim): one fused op (one launch on the GPU).
    LayerRefs cur = c.n_layer > 0 ? layer(0) : LayerRefs();
    if (c.n_layer > 0)
        be.norm_matmul_qkv(*s.q, *s.k, *s.v, *cur.wq, *cur.wk, *cur.wv, *s.x, *cur.attn_norm, c.rms_eps, *s.xn, n);
    for (int l = 0; l < c.n_layer; ++l) {
        // RoPE, the KV store and attention (att: (n, q_dim)); x += Wo att; x += Wd silu(Wg n2(x)) *
        // (Wu n2(x)); then the next layer's q, k, v (its norm folded in). att / gate / up / xn are
        // scratch. One launch on the GPU during decode.
        const bool more = l + 1 < c.n_layer;
        const LayerRefs next = more ? layer(l + 1) : LayerRefs();
        be.attention_layer_tail(*s.x, *s.att, *s.q, *s.k, *s.v, cache, l, pos0, rp, ap, cur, more ? &next : nullptr,
                                *s.gate, *s.up, *s.xn, n, c.rms_eps);
        cur = next;
    }
    if (!with_logits) return;
    // Only the last token's logits are needed (one launch per product on the GPU: the norm folded
    // into the logits' input).
    be.norm_matmul(*s.logits, w.lm_head(), *s.x, (size_t)(n - 1) * c.n_embd, *w.out_norm, c.rms_eps, *s.last);
}

}  // namespace

void forward(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens, int n,
             int pos0, float *logits) {
    run_layers(model, cache, s, tokens, n, pos0, logits != nullptr);
    if (logits) model.backend->read(*s.logits, logits, (size_t)model.config.n_vocab);
}

int32_t forward_argmax(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens,
                       int n, int pos0) {
    run_layers(model, cache, s, tokens, n, pos0, true);
    return model.backend->argmax(*s.logits, (size_t)model.config.n_vocab);
}

void forward_greedy_keep(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens, int n,
                         int pos0) {
    run_layers(model, cache, s, tokens, n, pos0, true);
    model.backend->argmax_to(*s.tok, *s.logits, (size_t)model.config.n_vocab);
}

}  // namespace edgellm
