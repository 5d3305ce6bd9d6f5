// The forward pass of every supported architecture, in the order of Hugging Face's decoder
// layers (LlamaDecoderLayer, Qwen3DecoderLayer, Gemma2DecoderLayer, ...):
//   x += [post_norm](Wo · Attn(RoPE(qk_norm(Wq·n1(x) + bq)), RoPE(qk_norm(Wk·n1(x) + bk)), Wv·n1(x) + bv))
//   x += [post_norm](Wd · (act(Wg·n2(x)) * Wu·n2(x)))
// What differs between families is data in ModelConfig; the residual adds are fused into the
// output products (matmul with accumulate) unless a post-norm sits between them.
#include "engine/forward.h"

#include "core/error.h"

namespace edgellm {

Scratch::Scratch(Backend &be, const ModelConfig &c, int nb, int n_ctx) : n_batch(nb) {
    const size_t n = (size_t)nb;
    x = be.alloc(n * c.n_embd);
    xn = be.alloc(n * c.n_embd);
    q = be.alloc(n * c.q_dim());
    k = be.alloc(n * c.kv_dim());
    v = be.alloc(n * c.kv_dim());
    att = be.alloc(n * c.q_dim());
    o = be.alloc(c.sandwich_norm ? n * c.n_embd : 1);
    gate = be.alloc(n * c.n_ff);
    up = be.alloc(n * c.n_ff);
    last = be.alloc(c.n_embd);
    logits = be.alloc(c.n_vocab);
    tok = be.alloc(1);
    (void)n_ctx;
    for (int i = 0; i < 2; ++i) {
        rope[i] = rope_table(c, i, 0);
        rope_long[i] = rope_table(c, i, INT32_MAX);
    }
}

namespace {

// x (n, n_embd) += the attention block of layer l over positions pos0..pos0+n-1.
void attention_block(const Model &m, KvCache &cache, Scratch &s, int l, int n, int pos0) {
    const ModelConfig &c = m.config;
    const LayerConfig &lc = c.layers[(size_t)l];
    const DeviceLayer &w = m.weights.layers[(size_t)l];
    Backend &be = *m.backend;

    be.rms_norm(*s.xn, *s.x, *w.attn_norm, n, c.n_embd, c.rms_eps);
    be.matmul_shared(*s.xn, n, {{w.wq.get(), s.q.get()}, {w.wk.get(), s.k.get()}, {w.wv.get(), s.v.get()}});
    if (c.attn_bias) {
        be.add_bias(*s.q, *w.bq, n, (int)c.q_dim());
        be.add_bias(*s.k, *w.bk, n, (int)c.kv_dim());
        be.add_bias(*s.v, *w.bv, n, (int)c.kv_dim());
    }
    if (c.qk_norm) {  // per head: rows of head_dim
        be.rms_norm(*s.q, *s.q, *w.q_norm, n * c.n_head, c.head_dim, c.rms_eps);
        be.rms_norm(*s.k, *s.k, *w.k_norm, n * c.n_head_kv, c.head_dim, c.rms_eps);
    }
    if (lc.rope >= 0) {
        const bool long_pass = c.rope_scaling == RopeScaling::LongRope && pos0 + n > c.rope_original_ctx;
        const RopeTable &rt = long_pass ? s.rope_long[lc.rope] : s.rope[lc.rope];
        be.rope(*s.q, n, c.n_head, pos0, rt);
        be.rope(*s.k, n, c.n_head_kv, pos0, rt);
    }
    be.kv_store(cache, l, *s.k, *s.v, pos0, n);

    AttentionParams ap;
    ap.n_head = c.n_head;
    ap.n_head_kv = c.n_head_kv;
    ap.head_dim = c.head_dim;
    ap.scale = c.attention_scale();
    ap.softcap = c.attn_softcap;
    ap.window = lc.window;
    be.attention(*s.att, *s.q, cache, l, pos0, n, ap);  // (n, q_dim)

    if (c.sandwich_norm) {
        be.matmul(*s.o, *w.wo, *s.att, n, false);
        be.rms_norm(*s.o, *s.o, *w.post_attn_norm, n, c.n_embd, c.rms_eps);
        be.add(*s.x, *s.o, (size_t)n * c.n_embd);
    } else {
        be.matmul(*s.x, *w.wo, *s.att, n, true);
    }
}

// x (n, n_embd) += the gated FFN of layer l.
void ffn_block(const Model &m, Scratch &s, int l, int n) {
    const ModelConfig &c = m.config;
    const DeviceLayer &w = m.weights.layers[(size_t)l];
    Backend &be = *m.backend;

    be.rms_norm(*s.xn, *s.x, *w.ffn_norm, n, c.n_embd, c.rms_eps);
    be.matmul_shared(*s.xn, n, {{w.w_gate.get(), s.gate.get()}, {w.w_up.get(), s.up.get()}});
    be.glu(*s.gate, *s.gate, *s.up, (size_t)n * c.n_ff, c.act);  // (n, n_ff)
    if (c.sandwich_norm) {
        be.matmul(*s.o, *w.w_down, *s.gate, n, false);
        be.rms_norm(*s.o, *s.o, *w.post_ffn_norm, n, c.n_embd, c.rms_eps);
        be.add(*s.x, *s.o, (size_t)n * c.n_embd);
    } else {
        be.matmul(*s.x, *w.w_down, *s.gate, n, true);
    }
}

// The layers over tokens[0..n) (tokens null: the one token held in s.tok); with_logits: then the
// last token's logits into s.logits.
void run_layers(const Model &m, KvCache &cache, Scratch &s, const int32_t *tokens, int n, int pos0,
                bool with_logits) {
    const ModelConfig &c = m.config;
    Backend &be = *m.backend;
    const DeviceWeights &w = m.weights;
    if (n <= 0 || n > s.n_batch) fail(EDGELLM_ERR_INTERNAL, "forward: bad token count %d", n);
    if (pos0 < 0 || pos0 + n > cache.n_ctx) fail(EDGELLM_ERR_INTERNAL, "forward: past the context");

    if (tokens) be.embed(*s.x, *w.tok_embd, tokens, n, c.embd_scale);  // (n, n_embd)
    else if (n == 1) be.embed_from(*s.x, *w.tok_embd, *s.tok, c.embd_scale);
    else fail(EDGELLM_ERR_INTERNAL, "forward: a device-held token is one token");

    for (int l = 0; l < c.n_layer; ++l) {
        attention_block(m, cache, s, l, n, pos0);
        ffn_block(m, s, l, n);
    }
    if (!with_logits) return;
    // Only the last token's logits are needed.
    be.rms_norm(*s.last, *s.x, *w.out_norm, 1, c.n_embd, c.rms_eps, (size_t)(n - 1) * c.n_embd);
    be.matmul(*s.logits, w.lm_head(), *s.last, 1, false);
    if (c.final_softcap > 0.f) be.softcap(*s.logits, (size_t)c.n_vocab, c.final_softcap);
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
