// GGUF model loading: metadata of llama.cpp's llama, qwen2, qwen3, gemma2, gemma3, phi3 and smollm3
// architectures → ModelConfig, tokenizer.ggml.* → GgufVocab, llama.cpp tensor names → ModelWeights.
// attn_q / attn_k rows of llama / smollm3 are un-permuted back to Hugging Face order because
// llama.cpp's converter interleaves them for its RoPE and our engine uses rotate-half.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/gguf.h"
#include "model/loader_internal.h"

namespace edgellm {

namespace {

int to_int(const GgufFile &g, const std::string &key, int64_t v) {
    if (v < 0 || v > INT32_MAX)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata '%s' = %lld is out of range", g.path().c_str(), key.c_str(), (long long)v);
    return (int)v;
}

int need_int(const GgufFile &g, const std::string &key) {
    int64_t v;
    if (!g.get_int(key, v)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata '%s' is missing", g.path().c_str(), key.c_str());
    return to_int(g, key, v);
}

int32_t opt_id(const GgufFile &g, const std::string &key) {
    int64_t v;
    if (!g.get_int(key, v)) return -1;
    return v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
}

int opt_flag(const GgufFile &g, const std::string &key) {
    bool b;
    return g.get_bool(key, b) ? (b ? 1 : 0) : -1;
}

// llama.cpp's architecture names this loader maps (src/llama-arch.cpp); everything they differ in
// ends up as ModelConfig data.
enum class Family { Llama, Qwen2, Qwen3, Gemma2, Gemma3, Phi3, SmolLM3 };

struct FamilyName {
    const char *name;
    Family family;
};
constexpr FamilyName kFamilies[] = {{"llama", Family::Llama},   {"qwen2", Family::Qwen2},   {"qwen3", Family::Qwen3},
                                    {"gemma2", Family::Gemma2}, {"gemma3", Family::Gemma3}, {"phi3", Family::Phi3},
                                    {"smollm3", Family::SmolLM3}};

bool is_gemma(Family f) { return f == Family::Gemma2 || f == Family::Gemma3; }

ModelConfig read_config(const GgufFile &g, const LoadOptions &opt, Family &fam) {
    const std::string &p = g.path();
    std::string arch;
    if (!g.get_string("general.architecture", arch))
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata 'general.architecture' is missing", p.c_str());
    const FamilyName *known = nullptr;
    for (const FamilyName &f : kFamilies)
        if (arch == f.name) known = &f;
    if (!known)
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL,
             "%s: architecture '%s' is not supported (llama, qwen2, qwen3, gemma2, gemma3, phi3, smollm3)", p.c_str(),
             arch.c_str());
    fam = known->family;
    const std::string a = arch + ".";
    ModelConfig c;
    c.architecture = arch;
    g.get_string("general.name", c.name);
    c.n_layer = need_int(g, a + "block_count");
    c.n_embd = need_int(g, a + "embedding_length");
    c.n_ff = need_int(g, a + "feed_forward_length");
    c.n_head = need_int(g, a + "attention.head_count");
    int64_t v;
    if (g.get_int(a + "attention.head_count_kv", v)) c.n_head_kv = to_int(g, "head_count_kv", v);
    if (g.get_int(a + "context_length", v)) c.n_ctx_train = to_int(g, "context_length", v);
    if (g.get_int(a + "attention.key_length", v)) c.head_dim = to_int(g, "key_length", v);
    if (g.get_int(a + "attention.value_length", v) && c.head_dim && v != c.head_dim)
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: key and value head sizes differ", p.c_str());
    if (g.get_int(a + "vocab_size", v)) c.n_vocab = to_int(g, "vocab_size", v);
    else if (const GgufTensorInfo *t = g.find_tensor("token_embd.weight")) c.n_vocab = (int)std::min<int64_t>(t->rows(), INT32_MAX);
    double f;
    if (g.get_float(a + "attention.layer_norm_rms_epsilon", f)) c.rms_eps = config_float(f);
    if (g.get_float(a + "rope.freq_base", f)) c.rope_theta = config_float(f);
    std::string scaling;
    if (g.get_string(a + "rope.scaling.type", scaling) && scaling != "none") {
        if (scaling == "linear") {
            c.rope_scaling = RopeScaling::Linear;
            if (g.get_float(a + "rope.scaling.factor", f)) c.rope_factor = config_float(f);
        } else if (scaling == "longrope") {
            c.rope_scaling = RopeScaling::LongRope;  // the rest comes with the factor tensors (load_gguf)
        } else {
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: rope scaling '%s' is not supported", p.c_str(), scaling.c_str());
        }
    } else if (!g.find(a + "rope.scaling.type") && g.get_float(a + "rope.scale_linear", f) && f != 1.0) {
        c.rope_scaling = RopeScaling::Linear;  // older files
        c.rope_factor = config_float(f);
    }
    validate_config(c, p);
    if (g.get_int(a + "rope.dimension_count", v) && v != c.head_dim) {
        if (v <= 0 || v > c.head_dim || v % 2 != 0)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: rope.dimension_count %lld for head_dim %d", p.c_str(), (long long)v, c.head_dim);
        c.rope_dim = (int)v;  // partial rotary (Phi-4-mini)
    }

    // What llama.cpp's graph for each architecture fixes in code rather than metadata
    // (src/llama-model.cpp), with the metadata that overrides it where there is any.
    c.qk_norm = fam == Family::Qwen3 || fam == Family::Gemma3;
    c.sandwich_norm = is_gemma(fam);
    if (is_gemma(fam)) {
        c.act = Activation::GeluTanh;
        c.embd_scale = std::sqrt((float)c.n_embd);
        // Gemma 2 27B / Gemma 3 27B scale by n_embd / n_head (their query_pre_attn_scalar), the
        // other sizes by head_dim; llama.cpp tells them apart by the layer count.
        const bool big = (fam == Family::Gemma2 && c.n_layer == 46) || (fam == Family::Gemma3 && c.n_layer == 62);
        c.attn_scale = 1.f / std::sqrt(big ? (float)c.n_embd / (float)c.n_head : (float)c.head_dim);
        if (g.get_float(a + "attention.scale", f) && f > 0.0) c.attn_scale = config_float(f);
        if (g.get_float(a + "attn_logit_softcapping", f)) c.attn_softcap = config_float(f);
        if (g.get_float(a + "final_logit_softcapping", f)) c.final_softcap = config_float(f);
    }
    if (fam == Family::Gemma3) c.rope_theta_local = 10000.f;
    if (g.get_float(a + "rope.freq_base_swa", f)) c.rope_theta_local = config_float(f);

    c.layers.assign((size_t)c.n_layer, LayerConfig());
    int64_t window = 0;
    if (g.get_int(a + "attention.sliding_window", v)) window = std::min<int64_t>(std::max<int64_t>(v, 0), INT32_MAX);
    // Which layers slide, fixed by the family as in llama.cpp (Gemma 2: every other layer from the
    // first, Gemma 3: five of six); Phi-3 slides on every layer, as transformers' Phi3Model does
    // (llama.cpp leaves Phi-3's window off).
    for (int l = 0; l < c.n_layer && window > 0; ++l) {
        bool slides = false;
        if (fam == Family::Gemma2) slides = l % 2 == 0;
        else if (fam == Family::Gemma3) slides = l % 6 < 5;
        else if (fam == Family::Phi3) slides = true;
        if (slides) {
            c.layers[(size_t)l].window = (int)window;
            if (fam == Family::Gemma3) c.layers[(size_t)l].rope = 1;
        }
    }
    if (fam == Family::SmolLM3)  // every fourth layer without RoPE (llama.cpp: n_no_rope_layer_step = 4)
        for (int l = 3; l < c.n_layer; l += 4) c.layers[(size_t)l].rope = -1;
    (void)opt;
    return c;
}


}  // namespace

GgufVocab gguf_read_vocab(const GgufFile &g) {
    GgufVocab voc;
    g.get_string("tokenizer.ggml.model", voc.model);
    g.get_string("tokenizer.ggml.pre", voc.pre);
    g.get_string_array("tokenizer.ggml.tokens", voc.tokens);
    g.get_float_array("tokenizer.ggml.scores", voc.scores);
    g.get_int_array("tokenizer.ggml.token_type", voc.token_types);
    g.get_string_array("tokenizer.ggml.merges", voc.merges);
    voc.bos_id = opt_id(g, "tokenizer.ggml.bos_token_id");
    voc.eos_id = opt_id(g, "tokenizer.ggml.eos_token_id");
    voc.unk_id = opt_id(g, "tokenizer.ggml.unknown_token_id");
    voc.pad_id = opt_id(g, "tokenizer.ggml.padding_token_id");
    voc.eot_id = opt_id(g, "tokenizer.ggml.eot_token_id");
    voc.add_bos = opt_flag(g, "tokenizer.ggml.add_bos_token");
    voc.add_eos = opt_flag(g, "tokenizer.ggml.add_eos_token");
    voc.add_space_prefix = opt_flag(g, "tokenizer.ggml.add_space_prefix");
    const char *p = g.path().c_str();
    if (!voc.scores.empty() && voc.scores.size() != voc.tokens.size())
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: tokenizer.ggml.scores has %zu entries for %zu tokens", p, voc.scores.size(), voc.tokens.size());
    if (!voc.token_types.empty() && voc.token_types.size() != voc.tokens.size())
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: tokenizer.ggml.token_type has %zu entries for %zu tokens", p,
             voc.token_types.size(), voc.tokens.size());
    return voc;
}

LoadedModel load_gguf(const std::string &path, const LoadOptions &opt) {
    GgufFile g(path);
    LoadedModel m;
    m.source_format = "gguf";
    Family fam = Family::Llama;
    m.config = read_config(g, opt, fam);
    ModelConfig &c = m.config;

    if (g.find("tokenizer.ggml.tokens")) {
        m.tokenizer.gguf = gguf_read_vocab(g);
        const GgufVocab &voc = *m.tokenizer.gguf;
        if (!voc.tokens.empty() && (int64_t)voc.tokens.size() != c.n_vocab && !g.find(c.architecture + ".vocab_size"))
            c.n_vocab = (int)voc.tokens.size();
        m.bos_id = voc.bos_id;
        m.eos_id = voc.eos_id;
        for (int32_t id : {voc.eos_id, voc.eot_id, opt_id(g, "tokenizer.ggml.eom_token_id")})
            if (id >= 0 && id < c.n_vocab && std::find(m.eos_ids.begin(), m.eos_ids.end(), id) == m.eos_ids.end())
                m.eos_ids.push_back(id);
    }
    g.get_string("tokenizer.chat_template", m.chat_template);

    // Every tensor we need, checked up front (existence, type, shape) before any conversion.
    auto need = [&](const std::string &name, bool required) -> const GgufTensorInfo * {
        const GgufTensorInfo *t = g.find_tensor(name);
        if (!t) {
            if (required) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' is missing", path.c_str(), name.c_str());
            return nullptr;
        }
        if (!t->supported)
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: tensor '%s' has unsupported GGML type %u", path.c_str(), name.c_str(), t->ggml_type);
        return t;
    };
    // A job converts rows [row0, row0 + rows) of a file tensor: the whole tensor, or one part of
    // Phi-3's fused attn_qkv / ffn_up.
    struct Job {
        const GgufTensorInfo *t;
        int64_t rows, cols;   // expected shape (rows = 1 for vectors)
        QTensor *mat;
        std::vector<float> *vec;
        int64_t unpermute_heads;
        int64_t row0 = 0;
        int64_t src_rows = 0;  // rows of the file tensor (0: rows)
        bool last_part = true;
    };
    std::vector<Job> jobs;
    // llama.cpp's converter interleaves the RoPE pairs of attn_q / attn_k for the architectures
    // its graph ropes in "normal" mode (LlamaModel and its subclasses); the others keep HF order.
    const bool permuted = fam == Family::Llama || fam == Family::SmolLM3;
    auto fused = [&](const std::string &name, int64_t cols, std::vector<std::pair<int64_t, QTensor *>> parts) {
        const GgufTensorInfo *t = need(name, true);
        int64_t rows = 0;
        for (const auto &pt : parts) rows += pt.first;
        int64_t row0 = 0;
        for (size_t i = 0; i < parts.size(); ++i) {
            jobs.push_back({t, parts[i].first, cols, parts[i].second, nullptr, 0, row0, rows, i + 1 == parts.size()});
            row0 += parts[i].first;
        }
    };
    // Optional per-layer tensors: present in layer 0 means the architecture has them.
    const bool bias = g.find_tensor("blk.0.attn_q.bias") != nullptr;
    if (g.find_tensor("blk.0.attn_output.bias") || g.find_tensor("blk.0.ffn_down.bias"))
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: output-projection or MLP biases are not supported", path.c_str());
    c.attn_bias = bias;
    m.weights.layers.resize((size_t)c.n_layer);
    jobs.push_back({need("token_embd.weight", true), c.n_vocab, c.n_embd, &m.weights.tok_embd, nullptr, 0});
    jobs.push_back({need("output_norm.weight", true), 1, c.n_embd, nullptr, &m.weights.out_norm, 0});
    if (const GgufTensorInfo *t = need("output.weight", false))
        jobs.push_back({t, c.n_vocab, c.n_embd, &m.weights.output, nullptr, 0});
    else
        c.tied_embeddings = true;
    for (int l = 0; l < c.n_layer; ++l) {
        LayerWeights &L = m.weights.layers[(size_t)l];
        const std::string b = "blk." + std::to_string(l) + ".";
        jobs.push_back({need(b + "attn_norm.weight", true), 1, c.n_embd, nullptr, &L.attn_norm, 0});
        jobs.push_back({need(b + "ffn_norm.weight", true), 1, c.n_embd, nullptr, &L.ffn_norm, 0});
        if (fam == Family::Phi3 && g.find_tensor(b + "attn_qkv.weight")) {
            fused(b + "attn_qkv.weight", c.n_embd, {{c.q_dim(), &L.wq}, {c.kv_dim(), &L.wk}, {c.kv_dim(), &L.wv}});
        } else {
            jobs.push_back({need(b + "attn_q.weight", true), c.q_dim(), c.n_embd, &L.wq, nullptr, permuted ? c.n_head : 0});
            jobs.push_back({need(b + "attn_k.weight", true), c.kv_dim(), c.n_embd, &L.wk, nullptr, permuted ? c.n_head_kv : 0});
            jobs.push_back({need(b + "attn_v.weight", true), c.kv_dim(), c.n_embd, &L.wv, nullptr, 0});
        }
        jobs.push_back({need(b + "attn_output.weight", true), c.n_embd, c.q_dim(), &L.wo, nullptr, 0});
        if (fam == Family::Phi3 && !g.find_tensor(b + "ffn_gate.weight")) {
            fused(b + "ffn_up.weight", c.n_embd, {{c.n_ff, &L.w_gate}, {c.n_ff, &L.w_up}});  // gate rows first
        } else {
            jobs.push_back({need(b + "ffn_gate.weight", true), c.n_ff, c.n_embd, &L.w_gate, nullptr, 0});
            jobs.push_back({need(b + "ffn_up.weight", true), c.n_ff, c.n_embd, &L.w_up, nullptr, 0});
        }
        jobs.push_back({need(b + "ffn_down.weight", true), c.n_embd, c.n_ff, &L.w_down, nullptr, 0});
        if (c.attn_bias) {
            jobs.push_back({need(b + "attn_q.bias", true), 1, c.q_dim(), nullptr, &L.bq, 0});
            jobs.push_back({need(b + "attn_k.bias", true), 1, c.kv_dim(), nullptr, &L.bk, 0});
            jobs.push_back({need(b + "attn_v.bias", true), 1, c.kv_dim(), nullptr, &L.bv, 0});
        }
        if (c.qk_norm) {
            jobs.push_back({need(b + "attn_q_norm.weight", true), 1, c.head_dim, nullptr, &L.q_norm, 0});
            jobs.push_back({need(b + "attn_k_norm.weight", true), 1, c.head_dim, nullptr, &L.k_norm, 0});
        }
        if (c.sandwich_norm) {  // Gemma: the converter has added Gemma's + 1 to every norm already
            jobs.push_back({need(b + "post_attention_norm.weight", true), 1, c.n_embd, nullptr, &L.post_attn_norm, 0});
            jobs.push_back({need(b + "post_ffw_norm.weight", true), 1, c.n_embd, nullptr, &L.post_ffn_norm, 0});
        }
    }
    uint64_t total = 0;
    for (const Job &j : jobs) {
        const GgufTensorInfo &t = *j.t;
        if (t.ne.size() > 2) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has %zu dimensions", path.c_str(), t.name.c_str(), t.ne.size());
        check_shape(path, t.name, t.rows(), t.cols(), j.src_rows ? j.src_rows : j.rows, j.cols);
        if (j.last_part) total += t.nbytes;
    }
    // longrope (Phi-3): the short and long per-dimension divisors. llama.cpp's Phi-3 converter
    // writes them without a rope.scaling.type; their presence is what selects longrope.
    if (c.rope_scaling == RopeScaling::LongRope || g.find_tensor("rope_factors_short.weight") ||
        g.find_tensor("rope_factors_long.weight")) {
        const std::string a = c.architecture + ".";
        int64_t v;
        double f;
        c.rope_scaling = RopeScaling::LongRope;
        c.rope_original_ctx = c.n_ctx_train;
        if (g.get_int(a + "rope.scaling.original_context_length", v) && v > 0 && v <= INT32_MAX) c.rope_original_ctx = (int)v;
        if (g.get_float(a + "rope.scaling.attn_factor", f)) c.rope_attn_factor = config_float(f);
        for (auto fv : {std::make_pair("rope_factors_short.weight", &c.rope_short_factors),
                        std::make_pair("rope_factors_long.weight", &c.rope_long_factors)}) {
            const GgufTensorInfo *rf = need(fv.first, true);
            check_shape(path, rf->name, rf->rows(), rf->cols(), 1, c.rot_dim() / 2);
            SourceTensor s{path + ": " + rf->name, rf->type, 1, rf->cols(), g.file().data() + rf->offset};
            *fv.second = convert_vector(s);
            for (float x : *fv.second)
                if (!(x > 0.f)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: %s holds a non-positive factor", path.c_str(), fv.first);
        }
    }
    // llama3 scaling as llama.cpp stores it: per-dimension frequency divisors.
    if (const GgufTensorInfo *rf = need("rope_freqs.weight", false)) {
        check_shape(path, rf->name, rf->rows(), rf->cols(), 1, c.rot_dim() / 2);
        SourceTensor s{path + ": " + rf->name, rf->type, 1, rf->cols(), g.file().data() + rf->offset};
        c.rope_freq_factors = convert_vector(s);
        for (float f : c.rope_freq_factors)
            if (!(f > 0.f)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: rope_freqs.weight holds a non-positive factor", path.c_str());
    }

    LoadProgress progress(opt, total);
    for (const Job &j : jobs) {
        const GgufTensorInfo &t = *j.t;
        SourceTensor s{path + ": " + t.name, t.type, j.vec ? t.rows() : j.rows, t.cols(), nullptr};
        s.data = g.file().data() + t.offset + (size_t)j.row0 * s.row_bytes();
        if (j.vec) {
            *j.vec = convert_vector(s);
        } else {
            std::vector<int64_t> map;
            if (j.unpermute_heads) map = gguf_unpermute_rows(t.rows(), j.unpermute_heads);
            *j.mat = convert_matrix(s, target_dtype(opt.weights, natural_dtype(t.type)), map);
        }
        if (j.last_part) {
            g.file().release(t.offset, t.nbytes);
            progress.advance(t.nbytes);
        }
    }
    m.weights_format = weights_enum(m.weights.layers[0].w_gate.type);
    opt.log.log(EDGELLM_LOG_INFO, "loaded %s: GGUF v%u, %d layers, %s", path.c_str(), g.version(), c.n_layer,
                dtype_name(m.weights.layers[0].w_gate.type));
    return m;
}

}  // namespace edgellm
