// Hugging Face directory loading: config.json of the Llama, Mistral, Qwen2/3, Gemma 2/3, Phi-3 and
// SmolLM3 families mapped to ModelConfig data, generation_config.json, chat_template.{jinja,json},
// safetensors in one file or sharded through model.safetensors.index.json, f32/f16/bf16 tensors
// converted to the run format one by one (fused Phi-3 projections split, Gemma norms + 1).
#include <algorithm>
#include <cmath>
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
    // Values of numeric top-level keys the file leaves out (a multimodal Gemma 3's text_config
    // holds only what differs from transformers' Gemma3TextConfig defaults); null: none.
    const std::vector<std::pair<const char *, double>> *defaults = nullptr;
};

// A top-level key that is absent: its default, if the file has defaults.
bool get_default(const JsonFile &j, const simdjson::dom::object &o, const char *key, double &out) {
    if (!j.defaults || &o != &j.root) return false;
    for (const auto &kv : *j.defaults)
        if (std::string(kv.first) == key) {
            out = kv.second;
            return true;
        }
    return false;
}

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
    if (o[key].get(e) != simdjson::SUCCESS) {
        double d;
        if (!get_default(j, o, key, d)) return false;
        out = (int64_t)d;
        return true;
    }
    if (e.is_null()) return false;
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
    if (o[key].get(e) != simdjson::SUCCESS) return get_default(j, o, key, out);
    if (e.is_null()) return false;
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

bool get_obj(const JsonFile &j, const simdjson::dom::object &o, const char *key, simdjson::dom::object &out) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    if (e.get(out) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be an object", j.path.c_str(), key);
    return true;
}

// A list of numbers (longrope factors) or of ints / strings (per-layer lists); missing → false.
bool get_nums(const JsonFile &j, const simdjson::dom::object &o, const char *key, std::vector<double> &out) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    simdjson::dom::array a;
    if (e.get(a) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a list of numbers", j.path.c_str(), key);
    out.clear();
    for (auto x : a) {
        double d;
        if (x.get(d) != simdjson::SUCCESS) {
            int64_t i;
            if (x.get(i) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a list of numbers", j.path.c_str(), key);
            d = (double)i;
        }
        out.push_back(d);
    }
    return true;
}

bool get_strs(const JsonFile &j, const simdjson::dom::object &o, const char *key, std::vector<std::string> &out) {
    simdjson::dom::element e;
    if (o[key].get(e) != simdjson::SUCCESS || e.is_null()) return false;
    simdjson::dom::array a;
    if (e.get(a) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a list of strings", j.path.c_str(), key);
    out.clear();
    for (auto x : a) {
        std::string_view s;
        if (x.get(s) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: '%s' must be a list of strings", j.path.c_str(), key);
        out.emplace_back(s);
    }
    return true;
}

int clamp_int(int64_t v) { return (int)std::max<int64_t>(-1, std::min<int64_t>(v, INT32_MAX)); }

// partial_rotary_factor → rotated dimensions (transformers: int(head_dim * factor)); a factor
// outside (0, 1] is rejected before the conversion to int.
int rotary_dims(const JsonFile &j, int head_dim, double factor) {
    if (!(factor > 0.0 && factor <= 1.0))
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: partial_rotary_factor %g outside (0, 1]", j.path.c_str(), factor);
    return (int)(head_dim * factor);
}

// The families this loader maps; everything they differ in ends up as ModelConfig data.
enum class Family { Llama, Mistral, Qwen2, Qwen3, Gemma2, Gemma3, Phi3, SmolLM3 };

struct FamilyName {
    const char *arch;        // config.json "architectures"[0]
    const char *model_type;  // config.json "model_type"
    Family family;
};
constexpr FamilyName kFamilies[] = {
    {"LlamaForCausalLM", "llama", Family::Llama},       {"MistralForCausalLM", "mistral", Family::Mistral},
    {"Qwen2ForCausalLM", "qwen2", Family::Qwen2},       {"Qwen3ForCausalLM", "qwen3", Family::Qwen3},
    {"Gemma2ForCausalLM", "gemma2", Family::Gemma2},    {"Gemma3ForCausalLM", "gemma3_text", Family::Gemma3},
    {"Phi3ForCausalLM", "phi3", Family::Phi3},          {"SmolLM3ForCausalLM", "smollm3", Family::SmolLM3},
};

bool is_gemma(Family f) { return f == Family::Gemma2 || f == Family::Gemma3; }

// transformers' Gemma3TextConfig defaults: Gemma3ForConditionalGeneration checkpoints (Gemma 3 4B
// and larger) write only the text_config fields that differ from them.
const std::vector<std::pair<const char *, double>> kGemma3TextDefaults = {
    {"vocab_size", 262208},           {"hidden_size", 2304},      {"intermediate_size", 9216},
    {"num_hidden_layers", 26},        {"num_attention_heads", 8}, {"num_key_value_heads", 4},
    {"head_dim", 256},                {"max_position_embeddings", 131072},
    {"rms_norm_eps", 1e-6},           {"rope_theta", 1000000.0},  {"query_pre_attn_scalar", 256},
    {"sliding_window", 4096},         {"rope_local_base_freq", 10000.0},
    {"sliding_window_pattern", 6},
};

// One RoPE parameter object: transformers 4's "rope_scaling" (theta then comes from the top level)
// or transformers 5's "rope_parameters" (theta inside). local: Gemma 3's sliding-layer table,
// which has only its own base.
void read_rope_object(const JsonFile &j, const simdjson::dom::object &o, ModelConfig &c, bool local) {
    const char *p = j.path.c_str();
    double d;
    int64_t v;
    if (get_num(j, o, "rope_theta", d)) (local ? c.rope_theta_local : c.rope_theta) = config_float(d);
    if (!local && get_num(j, o, "partial_rotary_factor", d)) c.rope_dim = rotary_dims(j, c.head_dim, d);
    std::string type;
    if (!get_str(j, o, "rope_type", type)) get_str(j, o, "type", type);
    if (type.empty() || type == "default") return;
    if (local) fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: rope scaling '%s' on sliding-window layers is not supported", p, type.c_str());
    if (type == "llama3" || type == "linear") {
        c.rope_scaling = type == "llama3" ? RopeScaling::Llama3 : RopeScaling::Linear;
        if (!get_num(j, o, "factor", d)) fail(EDGELLM_ERR_INVALID_MODEL, "%s: rope_scaling lacks 'factor'", p);
        c.rope_factor = config_float(d);
        if (c.rope_scaling == RopeScaling::Llama3) {
            if (get_num(j, o, "low_freq_factor", d)) c.rope_low_freq_factor = config_float(d);
            if (get_num(j, o, "high_freq_factor", d)) c.rope_high_freq_factor = config_float(d);
            if (get_int(j, o, "original_max_position_embeddings", v)) c.rope_original_ctx = clamp_int(v);
        }
    } else if (type == "longrope" || type == "su") {
        // As transformers' _compute_longrope_parameters: the original context from the object or the
        // top level (Phi-3), the factor from the object or max_position_embeddings / original, the
        // attention factor from the object or sqrt(1 + ln(factor) / ln(original)).
        c.rope_scaling = RopeScaling::LongRope;
        std::vector<double> s, l;
        if (!get_nums(j, o, "short_factor", s) || !get_nums(j, o, "long_factor", l))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: longrope scaling lacks short_factor / long_factor", p);
        for (double x : s) c.rope_short_factors.push_back(config_float(x));
        for (double x : l) c.rope_long_factors.push_back(config_float(x));
        c.rope_original_ctx = c.n_ctx_train;
        if (get_int(j, o, "original_max_position_embeddings", v) || get_int(j, j.root, "original_max_position_embeddings", v))
            c.rope_original_ctx = clamp_int(v);
        if (c.rope_original_ctx <= 1) fail(EDGELLM_ERR_INVALID_MODEL, "%s: longrope needs original_max_position_embeddings > 1", p);
        double factor = (double)c.n_ctx_train / (double)c.rope_original_ctx;
        if (get_num(j, o, "factor", d)) factor = d;
        if (get_num(j, o, "attention_factor", d)) c.rope_attn_factor = config_float(d);
        else if (factor > 1.0) c.rope_attn_factor = (float)std::sqrt(1.0 + std::log(factor) / std::log((double)c.rope_original_ctx));
        else c.rope_attn_factor = 1.f;
    } else {
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: rope_scaling type '%s' is not supported", p, type.c_str());
    }
}

// Per-layer windows and RoPE tables, as transformers derives them for each family.
void read_layers(const JsonFile &j, Family fam, ModelConfig &c) {
    const char *p = j.path.c_str();
    int64_t v;
    bool b;
    c.layers.assign((size_t)std::max(0, c.n_layer), LayerConfig());
    int64_t window = 0;
    if (get_int(j, j.root, "sliding_window", v)) {
        if (v < 0) fail(EDGELLM_ERR_INVALID_MODEL, "%s: negative sliding_window", p);
        window = std::min<int64_t>(v, INT32_MAX);
    }
    // Qwen2 / Qwen3 / SmolLM3 window only when use_sliding_window says so.
    if ((fam == Family::Qwen2 || fam == Family::Qwen3 || fam == Family::SmolLM3) &&
        !(get_bool(j, "use_sliding_window", b) && b))
        window = 0;
    if (fam == Family::SmolLM3) {
        // no_rope_layers[l] = 1: layer l uses RoPE; 0: NoPE. Without the list, every
        // no_rope_layer_interval-th layer is NoPE.
        std::vector<double> use;
        if (get_nums(j, j.root, "no_rope_layers", use)) {
            if ((int)use.size() != c.n_layer)
                fail(EDGELLM_ERR_INVALID_MODEL, "%s: 'no_rope_layers' has %zu entries for %d layers", p, use.size(), c.n_layer);
            for (int l = 0; l < c.n_layer; ++l)
                if (use[(size_t)l] == 0.0) c.layers[(size_t)l].rope = -1;
        } else {
            int64_t every = get_int(j, j.root, "no_rope_layer_interval", v) ? v : 4;
            for (int l = 0; every > 0 && l < c.n_layer; ++l)
                if ((l + 1) % every == 0) c.layers[(size_t)l].rope = -1;
        }
    }
    std::vector<std::string> types;
    if (get_strs(j, j.root, "layer_types", types)) {
        if ((int)types.size() != c.n_layer)
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: 'layer_types' has %zu entries for %d layers", p, types.size(), c.n_layer);
    } else {
        types.assign((size_t)std::max(0, c.n_layer), "full_attention");
        int64_t pattern = 0, max_window_layers = 0;
        switch (fam) {
        case Family::Gemma2: pattern = 2; break;
        case Family::Gemma3:
            pattern = get_int(j, j.root, "sliding_window_pattern", v) ? v : 6;
            break;
        case Family::Mistral:
        case Family::Phi3: pattern = 1; break;
        case Family::Qwen2:
        case Family::Qwen3:
            if (get_int(j, j.root, "max_window_layers", v)) max_window_layers = v;
            for (int l = 0; l < c.n_layer; ++l)
                if (window > 0 && l >= max_window_layers) types[(size_t)l] = "sliding_attention";
            break;
        case Family::SmolLM3:  // the NoPE layers slide
            for (int l = 0; l < c.n_layer; ++l)
                if (window > 0 && c.layers[(size_t)l].rope < 0) types[(size_t)l] = "sliding_attention";
            break;
        case Family::Llama: break;
        }
        // Every pattern-th layer is global (pattern 1: every layer slides).
        for (int l = 0; pattern > 0 && l < c.n_layer; ++l)
            if (pattern == 1 || (l + 1) % pattern != 0) types[(size_t)l] = "sliding_attention";
    }
    for (int l = 0; l < c.n_layer; ++l) {
        const std::string &t = types[(size_t)l];
        if (t == "sliding_attention") {
            c.layers[(size_t)l].window = (int)window;
            if (fam == Family::Gemma3) c.layers[(size_t)l].rope = 1;
        } else if (t != "full_attention") {
            fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: layer type '%s' is not supported", p, t.c_str());
        }
    }
}

ModelConfig read_config(const JsonFile &j, const LoadOptions &opt, Family &fam) {
    (void)opt;
    const char *p = j.path.c_str();
    std::string arch, model_type;
    simdjson::dom::array archs;
    if (j.root["architectures"].get(archs) == simdjson::SUCCESS && archs.size() > 0) {
        std::string_view s;
        if (archs.at(0).get(s) != simdjson::SUCCESS) fail(EDGELLM_ERR_INVALID_MODEL, "%s: 'architectures' must hold strings", p);
        arch = std::string(s);
    }
    get_str(j, j.root, "model_type", model_type);
    const FamilyName *known = nullptr;
    for (const FamilyName &f : kFamilies)
        if (arch == f.arch || (arch.empty() && model_type == f.model_type)) known = &f;
    if (!known) {
        std::string list;
        for (const FamilyName &f : kFamilies) list += std::string(list.empty() ? "" : ", ") + f.arch;
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: architecture '%s' (model_type '%s') is not supported; supported: %s", p,
             arch.c_str(), model_type.c_str(), list.c_str());
    }
    fam = known->family;
    ModelConfig c;
    c.architecture = known->model_type;
    c.name = !model_type.empty() ? model_type : arch;
    c.n_vocab = need_int(j, "vocab_size");
    c.n_embd = need_int(j, "hidden_size");
    c.n_layer = need_int(j, "num_hidden_layers");
    c.n_head = need_int(j, "num_attention_heads");
    c.n_ff = need_int(j, "intermediate_size");
    int64_t v;
    if (get_int(j, j.root, "num_key_value_heads", v)) c.n_head_kv = clamp_int(v);
    if (get_int(j, j.root, "head_dim", v)) c.head_dim = clamp_int(v);
    if (get_int(j, j.root, "max_position_embeddings", v)) c.n_ctx_train = clamp_int(v);
    double d;
    if (get_num(j, j.root, "rms_norm_eps", d)) c.rms_eps = config_float(d);
    if (get_num(j, j.root, "rope_theta", d)) c.rope_theta = config_float(d);
    bool b;
    // Gemma ties its output to the embedding unless told otherwise (transformers' default).
    c.tied_embeddings = is_gemma(fam);
    if (get_bool(j, "tie_word_embeddings", b)) c.tied_embeddings = b;
    if (get_bool(j, "mlp_bias", b) && b) fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: MLP biases are not supported", p);
    // Qwen2 always has q / k / v biases; attention_bias elsewhere also biases o_proj, which the
    // forward pass has no op for.
    c.attn_bias = fam == Family::Qwen2;
    if (fam != Family::Qwen2 && get_bool(j, "attention_bias", b) && b)
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: attention biases are not supported for %s", p, known->arch);
    c.qk_norm = fam == Family::Qwen3 || fam == Family::Gemma3;
    c.sandwich_norm = is_gemma(fam);
    std::string act;
    // Gemma reads hidden_activation (gelu_pytorch_tanh); the others hidden_act.
    if (!(is_gemma(fam) && get_str(j, j.root, "hidden_activation", act))) get_str(j, j.root, "hidden_act", act);
    if (act.empty()) act = is_gemma(fam) ? "gelu_pytorch_tanh" : "silu";
    if (act == "silu" || act == "swish") c.act = Activation::SiLU;
    else if (act == "gelu_pytorch_tanh" || act == "gelu_tanh" || act == "gelu_new" || act == "gelu_fast")
        c.act = Activation::GeluTanh;
    else fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: activation '%s' is not supported", p, act.c_str());
    validate_config(c, j.path);  // fills head_dim, which partial rotary and the scales need

    if (is_gemma(fam)) {
        c.embd_scale = std::sqrt((float)c.n_embd);
        double scalar = 256;  // transformers' Gemma2Config / Gemma3TextConfig default
        if (get_num(j, j.root, "query_pre_attn_scalar", d)) scalar = d;
        if (!(scalar > 0.0 && scalar < 1e30))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s: query_pre_attn_scalar %g is not a positive number", p, scalar);
        c.attn_scale = (float)(1.0 / std::sqrt(scalar));
        if (get_num(j, j.root, "attn_logit_softcapping", d)) c.attn_softcap = config_float(d);
        if (get_num(j, j.root, "final_logit_softcapping", d)) c.final_softcap = config_float(d);
    }
    if (fam == Family::Gemma3) c.rope_theta_local = 10000.f;  // transformers' rope_local_base_freq default
    if (get_num(j, j.root, "rope_local_base_freq", d)) c.rope_theta_local = config_float(d);
    if (get_num(j, j.root, "partial_rotary_factor", d)) c.rope_dim = rotary_dims(j, c.head_dim, d);

    simdjson::dom::object o;
    if (get_obj(j, j.root, "rope_parameters", o)) {  // transformers 5
        simdjson::dom::object full, sliding;
        const bool per_type = get_obj(j, o, "full_attention", full);
        if (per_type) {
            read_rope_object(j, full, c, false);
            if (fam == Family::Gemma3 && get_obj(j, o, "sliding_attention", sliding)) read_rope_object(j, sliding, c, true);
        } else {
            read_rope_object(j, o, c, false);
        }
    } else if (get_obj(j, j.root, "rope_scaling", o)) {  // transformers 4
        read_rope_object(j, o, c, false);
    }
    if (c.rope_scaling == RopeScaling::LongRope &&
        ((int)c.rope_short_factors.size() != c.rot_dim() / 2 || (int)c.rope_long_factors.size() != c.rot_dim() / 2))
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: longrope factors hold %zu / %zu values, expected %d", p,
             c.rope_short_factors.size(), c.rope_long_factors.size(), c.rot_dim() / 2);
    read_layers(j, fam, c);
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
    // Gemma 3 4B and larger: a vision-language checkpoint whose text model is a Gemma3ForCausalLM
    // described by text_config; the vision tower is not loaded.
    JsonFile text;
    const JsonFile *model_cfg = &cfg;
    {
        simdjson::dom::array archs;
        std::string_view a0;
        if (cfg.root["architectures"].get(archs) == simdjson::SUCCESS && archs.size() > 0 &&
            archs.at(0).get(a0) == simdjson::SUCCESS && a0 == "Gemma3ForConditionalGeneration") {
            if (!get_obj(cfg, cfg.root, "text_config", text.root))
                fail(EDGELLM_ERR_INVALID_MODEL, "%s: Gemma3ForConditionalGeneration without a text_config", cfg.path.c_str());
            text.path = cfg.path + " (text_config)";
            text.defaults = &kGemma3TextDefaults;
            std::string type;
            if (!get_str(text, text.root, "model_type", type) || type != "gemma3_text")
                fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: text model '%s' is not gemma3_text", text.path.c_str(), type.c_str());
            model_cfg = &text;
        }
    }
    Family fam = Family::Llama;
    m.config = read_config(*model_cfg, opt, fam);
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

    // A job converts rows [row0, row0 + rows) of a file tensor: a whole tensor, or one part of
    // Phi-3's fused qkv_proj / gate_up_proj. plus_one: Gemma's RMSNorm multiplies by (1 + w),
    // baked into the weight here.
    struct Job {
        const SafetensorsFile *f;
        const SafeTensorInfo *t;
        std::string name;
        int64_t row0, rows, cols;
        QTensor *mat;
        std::vector<float> *vec;
        bool plus_one;
        bool last_part;  // the file range is released after this job
    };
    std::vector<Job> jobs;
    // Checks that `name` has shape (rows, cols) (vectors: (cols)) and returns it; null when missing
    // and not required.
    auto find = [&](const std::string &name, bool required, int64_t rows, int64_t cols,
                    bool vec) -> std::pair<const SafetensorsFile *, const SafeTensorInfo *> {
        auto it = where.find(name);
        if (it == where.end()) {
            if (required) fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' is missing", dir.c_str(), name.c_str());
            return {nullptr, nullptr};
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
        return {it->second, t};
    };
    auto add = [&](const std::string &name, bool required, int64_t rows, int64_t cols, QTensor *mat,
                   std::vector<float> *vec, bool plus_one = false) -> bool {
        auto ft = find(name, required, rows, cols, vec != nullptr);
        if (!ft.first) return false;
        jobs.push_back({ft.first, ft.second, name, 0, vec ? 1 : rows, cols, mat, vec, plus_one, true});
        return true;
    };
    // A fused matrix whose row blocks are separate weights, in order.
    auto add_fused = [&](const std::string &name, int64_t cols, std::vector<std::pair<int64_t, QTensor *>> parts) {
        int64_t rows = 0;
        for (const auto &pt : parts) rows += pt.first;
        auto ft = find(name, true, rows, cols, false);
        int64_t row0 = 0;
        for (size_t i = 0; i < parts.size(); ++i) {
            jobs.push_back({ft.first, ft.second, name, row0, parts[i].first, cols, parts[i].second, nullptr, false,
                            i + 1 == parts.size()});
            row0 += parts[i].first;
        }
    };
    const bool gemma = is_gemma(fam);
    m.weights.layers.resize((size_t)c.n_layer);
    // Tensor names: model.* and lm_head.weight; a vision-language checkpoint's text model under
    // language_model.model.* and language_model.lm_head.weight (as transformers saves it) or
    // model.language_model.* and lm_head.weight.
    std::string pre = "model.", lm_head = "lm_head.weight";
    if (where.count("language_model.model.embed_tokens.weight")) {
        pre = "language_model.model.";
        lm_head = "language_model.lm_head.weight";
    } else if (where.count("model.language_model.embed_tokens.weight")) {
        pre = "model.language_model.";
    }
    add(pre + "embed_tokens.weight", true, c.n_vocab, c.n_embd, &m.weights.tok_embd, nullptr);
    add(pre + "norm.weight", true, 1, c.n_embd, nullptr, &m.weights.out_norm, gemma);
    // tie_word_embeddings: the output projection is the embedding, whatever lm_head the file has
    // (transformers ties them at load). Untied but lm_head missing: tied as well.
    if (c.tied_embeddings || !add(lm_head, false, c.n_vocab, c.n_embd, &m.weights.output, nullptr))
        c.tied_embeddings = true;
    for (int l = 0; l < c.n_layer; ++l) {
        LayerWeights &L = m.weights.layers[(size_t)l];
        const std::string b = pre + "layers." + std::to_string(l) + ".";
        add(b + "input_layernorm.weight", true, 1, c.n_embd, nullptr, &L.attn_norm, gemma);
        if (gemma) {  // four norms per layer: before and after attention and the MLP
            add(b + "post_attention_layernorm.weight", true, 1, c.n_embd, nullptr, &L.post_attn_norm, true);
            add(b + "pre_feedforward_layernorm.weight", true, 1, c.n_embd, nullptr, &L.ffn_norm, true);
            add(b + "post_feedforward_layernorm.weight", true, 1, c.n_embd, nullptr, &L.post_ffn_norm, true);
        } else {
            add(b + "post_attention_layernorm.weight", true, 1, c.n_embd, nullptr, &L.ffn_norm);
        }
        if (fam == Family::Phi3) {
            add_fused(b + "self_attn.qkv_proj.weight", c.n_embd, {{c.q_dim(), &L.wq}, {c.kv_dim(), &L.wk}, {c.kv_dim(), &L.wv}});
            add_fused(b + "mlp.gate_up_proj.weight", c.n_embd, {{c.n_ff, &L.w_gate}, {c.n_ff, &L.w_up}});
        } else {
            add(b + "self_attn.q_proj.weight", true, c.q_dim(), c.n_embd, &L.wq, nullptr);
            add(b + "self_attn.k_proj.weight", true, c.kv_dim(), c.n_embd, &L.wk, nullptr);
            add(b + "self_attn.v_proj.weight", true, c.kv_dim(), c.n_embd, &L.wv, nullptr);
            add(b + "mlp.gate_proj.weight", true, c.n_ff, c.n_embd, &L.w_gate, nullptr);
            add(b + "mlp.up_proj.weight", true, c.n_ff, c.n_embd, &L.w_up, nullptr);
        }
        add(b + "self_attn.o_proj.weight", true, c.n_embd, c.q_dim(), &L.wo, nullptr);
        add(b + "mlp.down_proj.weight", true, c.n_embd, c.n_ff, &L.w_down, nullptr);
        if (c.attn_bias) {
            add(b + "self_attn.q_proj.bias", true, 1, c.q_dim(), nullptr, &L.bq);
            add(b + "self_attn.k_proj.bias", true, 1, c.kv_dim(), nullptr, &L.bk);
            add(b + "self_attn.v_proj.bias", true, 1, c.kv_dim(), nullptr, &L.bv);
        }
        if (c.qk_norm) {
            add(b + "self_attn.q_norm.weight", true, 1, c.head_dim, nullptr, &L.q_norm, gemma);
            add(b + "self_attn.k_norm.weight", true, 1, c.head_dim, nullptr, &L.k_norm, gemma);
        }
    }
    uint64_t total = 0;
    for (const Job &j : jobs)
        if (j.last_part) total += j.t->nbytes;
    LoadProgress progress(opt, total);
    const DType target = target_dtype(opt.weights, DType::Q4);
    for (const Job &j : jobs) {
        const SrcType type = j.t->type;
        const uint8_t *base = j.f->file().data() + j.t->offset;
        SourceTensor s{j.f->path() + ": " + j.name, type, j.rows, j.cols, nullptr};
        s.data = base + (size_t)j.row0 * s.row_bytes();
        if (j.vec) {
            *j.vec = convert_vector(s);
            if (j.plus_one)
                for (float &x : *j.vec) x += 1.f;
        } else {
            *j.mat = convert_matrix(s, target);
        }
        if (j.last_part) {
            j.f->file().release(j.t->offset, j.t->nbytes);
            progress.advance(j.t->nbytes);
        }
    }
    m.weights_format = weights_enum(m.weights.layers[0].w_gate.type);
    opt.log.log(EDGELLM_LOG_INFO, "loaded %s: %d layers, %zu safetensors file(s), %s", dir.c_str(), c.n_layer, files.size(),
                dtype_name(m.weights.layers[0].w_gate.type));
    return m;
}

}  // namespace edgellm
