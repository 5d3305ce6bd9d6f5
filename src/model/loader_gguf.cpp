// GGUF model loading: llama.* metadata → ModelConfig, tokenizer.ggml.* → GgufVocab, llama.cpp
// tensor names → ModelWeights. attn_q / attn_k rows are un-permuted back to Hugging Face order
// because llama.cpp's converter interleaves them for its RoPE and our engine uses rotate-half.
#include <algorithm>

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

ModelConfig read_config(const GgufFile &g, const LoadOptions &opt) {
    const std::string &p = g.path();
    std::string arch;
    if (!g.get_string("general.architecture", arch))
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: metadata 'general.architecture' is missing", p.c_str());
    if (arch != "llama")
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: architecture '%s' is not supported (only 'llama')", p.c_str(), arch.c_str());
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
    if (g.get_float(a + "attention.layer_norm_rms_epsilon", f)) c.rms_eps = (float)f;
    if (g.get_float(a + "rope.freq_base", f)) c.rope_theta = (float)f;
    std::string scaling;
    if (g.get_string(a + "rope.scaling.type", scaling) && scaling != "none") {
        if (scaling != "linear")
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: rope scaling '%s' is not supported", p.c_str(), scaling.c_str());
        c.rope_scaling = RopeScaling::Linear;
        if (g.get_float(a + "rope.scaling.factor", f)) c.rope_factor = (float)f;
    } else if (!g.find(a + "rope.scaling.type") && g.get_float(a + "rope.scale_linear", f) && f != 1.0) {
        c.rope_scaling = RopeScaling::Linear;  // older files
        c.rope_factor = (float)f;
    }
    validate_config(c, p);
    if (g.get_int(a + "rope.dimension_count", v) && v != c.head_dim)
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: partial rotary embeddings (%lld of %d dims) are not supported",
             p.c_str(), (long long)v, c.head_dim);
    (void)opt;
    return c;
}

GgufVocab read_vocab(const GgufFile &g) {
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

}  // namespace

LoadedModel load_gguf(const std::string &path, const LoadOptions &opt) {
    GgufFile g(path);
    LoadedModel m;
    m.source_format = "gguf";
    m.config = read_config(g, opt);
    ModelConfig &c = m.config;

    if (g.find("tokenizer.ggml.tokens")) {
        m.tokenizer.gguf = read_vocab(g);
        const GgufVocab &voc = *m.tokenizer.gguf;
        if (!voc.tokens.empty() && (int64_t)voc.tokens.size() != c.n_vocab && !g.find("llama.vocab_size"))
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
    struct Job {
        const GgufTensorInfo *t;
        int64_t rows, cols;   // expected shape (rows = 1 for vectors)
        QTensor *mat;
        std::vector<float> *vec;
        int64_t unpermute_heads;
    };
    std::vector<Job> jobs;
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
        jobs.push_back({need(b + "attn_q.weight", true), c.q_dim(), c.n_embd, &L.wq, nullptr, c.n_head});
        jobs.push_back({need(b + "attn_k.weight", true), c.kv_dim(), c.n_embd, &L.wk, nullptr, c.n_head_kv});
        jobs.push_back({need(b + "attn_v.weight", true), c.kv_dim(), c.n_embd, &L.wv, nullptr, 0});
        jobs.push_back({need(b + "attn_output.weight", true), c.n_embd, c.q_dim(), &L.wo, nullptr, 0});
        jobs.push_back({need(b + "ffn_gate.weight", true), c.n_ff, c.n_embd, &L.w_gate, nullptr, 0});
        jobs.push_back({need(b + "ffn_up.weight", true), c.n_ff, c.n_embd, &L.w_up, nullptr, 0});
        jobs.push_back({need(b + "ffn_down.weight", true), c.n_embd, c.n_ff, &L.w_down, nullptr, 0});
    }
    uint64_t total = 0;
    for (const Job &j : jobs) {
        const GgufTensorInfo &t = *j.t;
        if (t.ne.size() > 2) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has %zu dimensions", path.c_str(), t.name.c_str(), t.ne.size());
        check_shape(path, t.name, j.vec ? t.rows() : t.rows(), t.cols(), j.rows, j.cols);
        total += t.nbytes;
    }
    // llama3 scaling as llama.cpp stores it: per-dimension frequency divisors.
    if (const GgufTensorInfo *rf = need("rope_freqs.weight", false)) {
        check_shape(path, rf->name, rf->rows(), rf->cols(), 1, c.head_dim / 2);
        SourceTensor s{path + ": " + rf->name, rf->type, 1, rf->cols(), g.file().data() + rf->offset};
        c.rope_freq_factors = convert_vector(s);
        for (float f : c.rope_freq_factors)
            if (!(f > 0.f)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: rope_freqs.weight holds a non-positive factor", path.c_str());
    }

    LoadProgress progress(opt, total);
    for (const Job &j : jobs) {
        const GgufTensorInfo &t = *j.t;
        SourceTensor s{path + ": " + t.name, t.type, t.rows(), t.cols(), g.file().data() + t.offset};
        if (j.vec) {
            *j.vec = convert_vector(s);
        } else {
            std::vector<int64_t> map;
            if (j.unpermute_heads) map = gguf_unpermute_rows(t.rows(), j.unpermute_heads);
            *j.mat = convert_matrix(s, target_dtype(opt.weights, natural_dtype(t.type)), map);
        }
        g.file().release(t.offset, t.nbytes);
        progress.advance(t.nbytes);
    }
    m.weights_format = weights_enum(m.weights.layers[0].w_gate.type);
    opt.log.log(EDGELLM_LOG_INFO, "loaded %s: GGUF v%u, %d layers, %s", path.c_str(), g.version(), c.n_layer,
                dtype_name(m.weights.layers[0].w_gate.type));
    return m;
}

}  // namespace edgellm
