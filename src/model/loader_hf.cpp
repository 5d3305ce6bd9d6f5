// Hugging Face directory loading: config.json (LlamaForCausalLM / Mistral without sliding window),
// generation_config.json, chat_template.{jinja,json}, safetensors in one file or sharded through
// model.safetensors.index.json, f32/f16/bf16 tensors converted to the run format one by one.
#include <algorithm>
#include <memory>
#include <simdjson.h>
#include <unordered_map>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/loader_internal.h"
#include "model/safetensors.h"

namespace edgellm {

namespace {

// A parsed JSON file; the parser must outlive the root element.
struct JsonFile {
    std::string path;
    simdjson::dom::parser parser;
    simdjson::dom::object root;
};

// Loads and parses `path`; returns false when the file does not exist.
bool read_json(const std::string &path, JsonFile &j) {
    if (!is_regular_file(path)) return false;
    MappedFile f(path);
    simdjson::padded_string text(reinterpret_cast<const char *>(f.data()), f.size());
    j.path = path;
    if (j.parser.parse(text).get(j.root) != simdjson::SUCCESS)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: not a valid JSON object", path.c_str());
    return true;
}

// Integer field: absent or null → false; wrong type or out of range → INVALID_MODEL.
bool get_int(const JsonFile &j, const simdjson::dom::object &o, const char *key, int64_t &out) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    if (e.get(out) != simdjson::SUCCESS) {
        double d;  // some configs write integers as 2048.0
        // The range test comes first: converting a double outside int64's range is undefined.
        if (e.get(d) != simdjson::SUCCESS || !(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be an integer", j.path.c_str(), key);
        out = (int64_t)d;
    }
    return true;
}

int need_int(const JsonFile &j, const char *key, int64_t lo = 1, int64_t hi = INT32_MAX) {
    int64_t v;
    if (!get_int(j, j.root, key, v)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' is missing", j.path.c_str(), key);
    if (v < lo || v > hi) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' = %lld is out of range", j.path.c_str(), key, (long long)v);
    return (int)v;
}

bool get_num(const JsonFile &j, const simdjson::dom::object &o, const char *key, double &out) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    if (e.get(out) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a number", j.path.c_str(), key);
    return true;
}

bool get_bool(const JsonFile &j, const char *key, bool &out) {
    simdjson::dom::element e;
    if (j.root[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    if (e.get(out) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be true or false", j.path.c_str(), key);
    return true;
}

bool get_str(const JsonFile &j, const simdjson::dom::object &o, const char *key, std::string &out) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    std::string_view s;
    if (e.get(s) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a string", j.path.c_str(), key);
    out = std::string(s);
    return true;
}

// Token ids given as an int or a list of ints (eos_token_id). Missing/null → empty.
std::vector<int32_t> get_ids(const JsonFile &j, const char *key) {
    std::vector<int32_t> ids;
    simdjson::dom::element e;
    if (j.root[key].get(e) != simdjson::SUCCESS || e.is_null()) return ids;
    auto add = [&](simdjson::dom::element x) {
        int64_t v;
        if (x.get(v) != simdjson::SUCCESS || v < 0 || v > INT32_MAX)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a token id or a list of them", j.path.c_str(), key);
        if (std::find(ids.begin(), ids.end(), (int32_t)v) == ids.end()) ids.push_back((int32_t)v);
    };
    simdjson::dom::array a;
    if (e.get(a) == simdjson::SUCCESS) {
        for (auto x : a) add(x);
    } else {
        add(e);
    }
    return ids;
}

ModelConfig read_config(const JsonFile &j, const LoadOptions &opt) {
    const char *p = j.path.c_str();
    std::string arch, model_type;
    simdjson::dom::array archs;
    if (j.root["architectures"].get(archs) == simdjson::SUCCESS && archs.size() > 0) {
        std::string_view s;
        if (archs.at(0).get(s) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: 'architectures' must hold strings", p);
        arch = std::string(s);
    }
    get_str(j, j.root, "model_type", model_type);
    const bool llama = arch == "LlamaForCausalLM" || (arch.empty() && model_type == "llama");
    const bool mistral = arch == "MistralForCausalLM" || (arch.empty() && model_type == "mistral");
    if (!llama && !mistral)
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: architecture '%s' (model_type '%s') is not supported; need LlamaForCausalLM",
             p, arch.c_str(), model_type.c_str());
    ModelConfig c;
    c.architecture = "llama";
    c.name = !model_type.empty() ? model_type : arch;
    c.n_vocab = need_int(j, "vocab_size");
    c.n_embd = need_int(j, "hidden_size");
    c.n_layer = need_int(j, "num_hidden_layers");
    c.n_head = need_int(j, "num_attention_heads");
    c.n_ff = need_int(j, "intermediate_size");
    int64_t v;
    if (get_int(j, j.root, "num_key_value_heads", v)) c.n_head_kv = (int)std::max<int64_t>(-1, std::min<int64_t>(v, INT32_MAX));
    if (get_int(j, j.root, "head_dim", v)) c.head_dim = (int)std::max<int64_t>(-1, std::min<int64_t>(v, INT32_MAX));
    if (get_int(j, j.root, "max_position_embeddings", v)) c.n_ctx_train = (int)std::max<int64_t>(-1, std::min<int64_t>(v, INT32_MAX));
    double d;
    if (get_num(j, j.root, "rms_norm_eps", d)) c.rms_eps = config_float(d);
    if (get_num(j, j.root, "rope_theta", d)) c.rope_theta = config_float(d);
    bool b;
    if (get_bool(j, "tie_word_embeddings", b)) c.tied_embeddings = b;
    if ((get_bool(j, "attention_bias", b) && b) || (get_bool(j, "mlp_bias", b) && b))
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: attention/MLP biases are not supported", p);
    std::string act;
    if (get_str(j, j.root, "hidden_act", act) && act != "silu")
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: hidden_act '%s' is not supported (only silu)", p, act.c_str());
    if (get_int(j, j.root, "sliding_window", v)) {
        int64_t ctx = opt.context_length ? (int64_t)opt.context_length : c.n_ctx_train;
        if (v < ctx)
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: sliding-window attention (window %lld < context %lld) is not supported",
                 p, (long long)v, (long long)ctx);
    }
    simdjson::dom::element rs;
    if (j.root["rope_scaling"].get(rs) == simdjson::SUCCESS && !rs.is_null()) {
        simdjson::dom::object o;
        if (rs.get(o) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: 'rope_scaling' must be an object", p);
        std::string type;
        if (!get_str(j, o, "rope_type", type)) get_str(j, o, "type", type);
        if (type == "llama3" || type == "linear") {
            c.rope_scaling = type == "llama3" ? RopeScaling::Llama3 : RopeScaling::Linear;
            if (!get_num(j, o, "factor", d)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: rope_scaling lacks 'factor'", p);
            c.rope_factor = config_float(d);
            if (c.rope_scaling == RopeScaling::Llama3) {
                if (get_num(j, o, "low_freq_factor", d)) c.rope_low_freq_factor = config_float(d);
                if (get_num(j, o, "high_freq_factor", d)) c.rope_high_freq_factor = config_float(d);
                if (get_int(j, o, "original_max_position_embeddings", v))
                    c.rope_original_ctx = (int)std::max<int64_t>(-1, std::min<int64_t>(v, INT32_MAX));
            }
        } else if (type != "default") {
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: rope_scaling type '%s' is not supported", p, type.c_str());
        }
    }
    validate_config(c, j.path);
    return c;
}

std::string read_text(const std::string &path) {
    MappedFile f(path);
    return std::string(reinterpret_cast<const char *>(f.data()), f.size());
}

}  // namespace

LoadedModel load_hf_dir(const std::string &dir_in, const LoadOptions &opt) {
    std::string dir = dir_in;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    LoadedModel m;
    m.source_format = "safetensors";
    JsonFile cfg;
    if (!read_json(dir + "/config.json", cfg))
        fail(EDGELLM_ERR_FILE_NOT_FOUND, "%s: no config.json in the directory", dir.c_str());
    m.config = read_config(cfg, opt);
    ModelConfig &c = m.config;

    std::vector<int32_t> bos = get_ids(cfg, "bos_token_id"), eos = get_ids(cfg, "eos_token_id");
    {
        JsonFile gen;
        if (read_json(dir + "/generation_config.json", gen)) {
            std::vector<int32_t> b2 = get_ids(gen, "bos_token_id"), e2 = get_ids(gen, "eos_token_id");
            if (!b2.empty()) bos = b2;
            if (!e2.empty()) eos = e2;
        }
    }
    m.bos_id = bos.empty() ? -1 : bos[0];
    m.eos_id = eos.empty() ? -1 : eos[0];
    for (int32_t id : eos)
        if (id < c.n_vocab) m.eos_ids.push_back(id);
    m.tokenizer.hf_dir = dir;
    if (is_regular_file(dir + "/chat_template.jinja")) {
        m.chat_template = read_text(dir + "/chat_template.jinja");
    } else {
        JsonFile ct;
        if (read_json(dir + "/chat_template.json", ct) && !get_str(ct, ct.root, "chat_template", m.chat_template))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: no 'chat_template' string", ct.path.c_str());
    }

    // Shards: tensor name → file.
    std::vector<std::unique_ptr<SafetensorsFile>> files;
    std::unordered_map<std::string, const SafetensorsFile *> where;
    JsonFile index;
    if (read_json(dir + "/model.safetensors.index.json", index)) {
        simdjson::dom::object wm;
        if (index.root["weight_map"].get(wm) != simdjson::SUCCESS)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: no 'weight_map' object", index.path.c_str());
        std::unordered_map<std::string, const SafetensorsFile *> by_file;
        for (auto kv : wm) {
            std::string_view fname;
            if (kv.value.get(fname) != simdjson::SUCCESS || fname.empty() || fname.find('/') != std::string_view::npos ||
                fname.find("..") != std::string_view::npos)
                fail(EDGELLM_ERR_INVALID_MODEL, "%s: weight_map entry '%s' is not a plain file name", index.path.c_str(),
                     std::string(kv.key).c_str());
            std::string fn(fname);
            auto it = by_file.find(fn);
            if (it == by_file.end()) {
                files.push_back(std::make_unique<SafetensorsFile>(dir + "/" + fn));
                it = by_file.emplace(fn, files.back().get()).first;
            }
            std::string name(kv.key);
            if (!it->second->find(name))
                fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' is listed in the index but missing from the file",
                     it->second->path().c_str(), name.c_str());
            where[name] = it->second;
        }
    } else {
        const std::string single = dir + "/model.safetensors";
        if (!is_regular_file(single))
            fail(EDGELLM_ERR_FILE_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", dir.c_str());
        files.push_back(std::make_unique<SafetensorsFile>(single));
        for (const auto &kv : files.back()->tensors()) where[kv.first] = files.back().get();
    }

    struct Job {
        const SafetensorsFile *f;
        const SafeTensorInfo *t;
        std::string name;
        int64_t rows, cols;
        QTensor *mat;
        std::vector<float> *vec;
    };
    std::vector<Job> jobs;
    auto add = [&](const std::string &name, bool required, int64_t rows, int64_t cols, QTensor *mat,
                   std::vector<float> *vec) -> bool {
        auto it = where.find(name);
        if (it == where.end()) {
            if (required) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' is missing", dir.c_str(), name.c_str());
            return false;
        }
        const SafeTensorInfo *t = it->second->find(name);
        if (!t->supported)
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: tensor '%s' has unsupported dtype %s", it->second->path().c_str(),
                 name.c_str(), t->dtype.c_str());
        const bool ok = vec ? t->shape.size() == 1 && t->shape[0] == cols
                            : t->shape.size() == 2 && t->shape[0] == rows && t->shape[1] == cols;
        if (!ok) {
            std::string got;
            for (int64_t s : t->shape) got += (got.empty() ? "" : ", ") + std::to_string(s);
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has shape (%s), expected (%lld, %lld)", it->second->path().c_str(),
                 name.c_str(), got.c_str(), (long long)(vec ? 1 : rows), (long long)cols);
        }
        jobs.push_back({it->second, t, name, rows, cols, mat, vec});
        return true;
    };
    m.weights.layers.resize((size_t)c.n_layer);
    add("model.embed_tokens.weight", true, c.n_vocab, c.n_embd, &m.weights.tok_embd, nullptr);
    add("model.norm.weight", true, 1, c.n_embd, nullptr, &m.weights.out_norm);
    // tie_word_embeddings: the output projection is the embedding, whatever lm_head the file has
    // (transformers ties them at load). Untied but lm_head missing: tied as well.
    if (c.tied_embeddings || !add("lm_head.weight", false, c.n_vocab, c.n_embd, &m.weights.output, nullptr))
        c.tied_embeddings = true;
    for (int l = 0; l < c.n_layer; ++l) {
        LayerWeights &L = m.weights.layers[(size_t)l];
        const std::string b = "model.layers." + std::to_string(l) + ".";
        add(b + "input_layernorm.weight", true, 1, c.n_embd, nullptr, &L.attn_norm);
        add(b + "post_attention_layernorm.weight", true, 1, c.n_embd, nullptr, &L.ffn_norm);
        add(b + "self_attn.q_proj.weight", true, c.q_dim(), c.n_embd, &L.wq, nullptr);
        add(b + "self_attn.k_proj.weight", true, c.kv_dim(), c.n_embd, &L.wk, nullptr);
        add(b + "self_attn.v_proj.weight", true, c.kv_dim(), c.n_embd, &L.wv, nullptr);
        add(b + "self_attn.o_proj.weight", true, c.n_embd, c.q_dim(), &L.wo, nullptr);
        add(b + "mlp.gate_proj.weight", true, c.n_ff, c.n_embd, &L.w_gate, nullptr);
        add(b + "mlp.up_proj.weight", true, c.n_ff, c.n_embd, &L.w_up, nullptr);
        add(b + "mlp.down_proj.weight", true, c.n_embd, c.n_ff, &L.w_down, nullptr);
    }
    uint64_t total = 0;
    for (const Job &j : jobs) total += j.t->nbytes;
    LoadProgress progress(opt, total);
    const DType target = target_dtype(opt.weights, DType::Q4);
    for (const Job &j : jobs) {
        const int64_t rows = j.vec ? 1 : j.rows;
        SourceTensor s{j.f->path() + ": " + j.name, j.t->type, rows, j.cols, j.f->file().data() + j.t->offset};
        if (j.vec) *j.vec = convert_vector(s);
        else *j.mat = convert_matrix(s, target);
        j.f->file().release(j.t->offset, j.t->nbytes);
        progress.advance(j.t->nbytes);
    }
    m.weights_format = weights_enum(m.weights.layers[0].w_gate.type);
    opt.log.log(EDGELLM_LOG_INFO, "loaded %s: %d layers, %zu safetensors file(s), %s", dir.c_str(), c.n_layer, files.size(),
                dtype_name(m.weights.layers[0].w_gate.type));
    return m;
}

}  // namespace edgellm
