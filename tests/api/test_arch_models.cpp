// The architecture families through the public C API: every tiny model of tests/data/arch (Qwen2,
// Qwen3, Gemma 2, Gemma 3 text-only and vision-language, Phi-3, Mistral with a window, SmolLM3;
// Hugging Face directories saved by transformers and GGUF files written by llama.cpp's converter)
// is opened with F32 weights on
// the CPU reference, the fast CPU backend and OpenCL (skipped only without a platform). Each
// golden prompt is evaluated in a fresh session, the logits compared with transformers' float32
// logits (tests/tools/make_arch_models.py), 16 greedy tokens generated one eval at a time through
// the KV cache and compared id for id, and the logits after the last of them compared again.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <doctest/doctest.h>

#include "edgellm/edgellm.h"

namespace {

struct Prompt {
    std::vector<int32_t> tokens;
    std::vector<float> logits;      // after the prompt
    std::vector<int32_t> greedy;
    std::vector<float> logits_end;  // after the last greedy token
};

std::string arch_dir() {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE_MESSAGE(d != nullptr, "EDGELLM_TEST_DATA is not set (ctest sets it to tests/data)");
    return std::string(d) + "/arch/";
}

// goldens.txt: "model NAME", then per prompt "tokens N ...", "logits N ...", "greedy N ...",
// "logits_end N ..."; "alias NAME OTHER": NAME's goldens are OTHER's (a GGUF that transformers
// reads as its Hugging Face directory); lines starting with '#' are comments.
std::map<std::string, std::vector<Prompt>> read_goldens() {
    std::map<std::string, std::vector<Prompt>> g;
    std::ifstream f(arch_dir() + "goldens.txt");
    REQUIRE_MESSAGE(f.good(), "cannot read " << arch_dir() << "goldens.txt");
    std::string line, model;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream in(line);
        std::string tag;
        size_t n = 0;
        in >> tag;
        if (tag == "model") {
            in >> model;
            continue;
        }
        if (tag == "alias") {
            std::string name, other;
            in >> name >> other;
            REQUIRE_MESSAGE(g.count(other) == 1, "alias of an unknown model: " << other);
            g[name] = g[other];
            continue;
        }
        in >> n;
        REQUIRE(!model.empty());
        std::vector<Prompt> &v = g[model];
        if (tag == "tokens") v.emplace_back();
        REQUIRE(!v.empty());
        Prompt &p = v.back();
        for (size_t i = 0; i < n; ++i) {
            if (tag == "logits" || tag == "logits_end") {
                float x = 0;
                in >> x;
                (tag == "logits" ? p.logits : p.logits_end).push_back(x);
            } else {
                int32_t t = 0;
                in >> t;
                (tag == "tokens" ? p.tokens : p.greedy).push_back(t);
            }
        }
        REQUIRE_MESSAGE(!in.fail(), "bad line in goldens.txt: " << tag);
    }
    return g;
}

struct Diff {
    double max_diff = 0;  // absolute, over every compared logit
    double scale = 0;     // max |golden logit|
    int greedy_mismatch = 0;
};

void compare(const std::vector<float> &got, const std::vector<float> &want, Diff &d) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        d.max_diff = std::max(d.max_diff, (double)std::fabs(got[i] - want[i]));
        d.scale = std::max(d.scale, (double)std::fabs(want[i]));
    }
}

// tol: the backend's logit tolerance relative to the logit scale; a greedy pick that differs from
// the golden token counts as a mismatch unless the two logits are within it (a near-tie that the
// backend's rounding may flip).
Diff run(const std::string &name, const std::vector<Prompt> &prompts, int32_t backend, double tol = 0) {
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = backend;
    mp.weights = EDGELLM_WEIGHTS_F32;
    mp.n_threads = 2;
    edgellm_model *model = nullptr;
    const std::string path = name.find('/') == std::string::npos ? arch_dir() + name : name;
    REQUIRE_MESSAGE(edgellm_model_open(path.c_str(), &mp, &model) == EDGELLM_OK, path << ": " << edgellm_last_error());
    const int32_t n_vocab = edgellm_model_n_vocab(model);
    Diff d;
    for (const Prompt &p : prompts) {
        REQUIRE(n_vocab == (int32_t)p.logits.size());
        edgellm_session_params sp;
        edgellm_session_params_init(&sp);
        sp.n_ctx = 64;  // Phi-3's longrope keeps its short factors (original context 64), as transformers does here
        edgellm_session *sess = nullptr;
        REQUIRE(edgellm_session_create(model, &sp, &sess) == EDGELLM_OK);
        std::vector<float> logits((size_t)n_vocab);
        REQUIRE_MESSAGE(edgellm_session_eval(sess, p.tokens.data(), p.tokens.size(), logits.data()) == EDGELLM_OK,
                        edgellm_last_error());
        compare(logits, p.logits, d);
        double scale = 1.0;
        for (float v : p.logits) scale = std::max(scale, (double)std::fabs(v));
        bool mismatch = false;
        for (size_t k = 0; k < p.greedy.size(); ++k) {
            // The golden token is fed back whatever we picked, so one near-tie does not derail
            // the rest of the comparison.
            const int32_t best = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
            if (best != p.greedy[k] && logits[(size_t)best] - logits[(size_t)p.greedy[k]] > tol * scale) mismatch = true;
            REQUIRE(edgellm_session_eval(sess, &p.greedy[k], 1, logits.data()) == EDGELLM_OK);
        }
        compare(logits, p.logits_end, d);
        if (mismatch) ++d.greedy_mismatch;
        edgellm_session_free(sess);
    }
    edgellm_model_close(model);
    return d;
}

bool have_opencl() {
    size_t n = 0;
    return edgellm_device_count(&n) == EDGELLM_OK && n > 0;
}

}  // namespace

// Tolerance, as a fraction of the logit scale (max |golden logit|): the CPU reference 1e-4
// (float32 like the goldens, which keep 5 significant digits; observed below 4e-5); the fast CPU
// backend and OpenCL 5e-3 (fp16 KV cache, reduced-precision activations; observed below 1e-3, on
// OpenCL under PoCL). A wrong window, scale, norm or RoPE table moves the logits by far more than
// either. Greedy tokens must all be equal.
TEST_CASE("architecture families: logits and greedy tokens match transformers on every backend") {
    const auto goldens = read_goldens();
    // Every family from a Hugging Face directory, and every family llama.cpp converts from GGUF.
    const char *expected[] = {"hf_qwen2",       "hf_qwen3",        "hf_gemma2",        "hf_gemma3",
                              "hf_gemma3_vl",   "hf_phi3",         "hf_mistral",       "hf_smollm3",
                              "qwen2_f16.gguf", "qwen3_f16.gguf",  "gemma2_f16.gguf",  "gemma3_bf16.gguf",
                              "phi3_f16.gguf",  "smollm3_f16.gguf"};
    for (const char *e : expected) CHECK_MESSAGE(goldens.count(e) == 1, "no goldens for " << e);
    struct Backend {
        int32_t id;
        const char *name;
        double tol;
    };
    std::vector<Backend> backends = {{EDGELLM_BACKEND_CPU_REFERENCE, "cpu-reference", 1e-4}, {EDGELLM_BACKEND_CPU, "cpu", 5e-3}};
    if (have_opencl()) backends.push_back({EDGELLM_BACKEND_OPENCL, "opencl", 5e-3});
    else MESSAGE("no OpenCL platform: the OpenCL runs skipped");
    for (const auto &b : backends) {
        for (const auto &kv : goldens) {
            const std::string &name = kv.first;
            INFO("model ", name, ", backend ", std::string(b.name));
            const Diff d = run(name, kv.second, b.id, b.tol);
            MESSAGE(name << " on " << std::string(b.name) << ": max |dlogit| " << d.max_diff << ", scale " << d.scale
                         << ", greedy mismatches " << d.greedy_mismatch);
            CHECK(d.max_diff <= b.tol * std::max(1.0, d.scale));
            CHECK(d.greedy_mismatch == 0);
        }
    }
}

// Most checkpoints on the Hub carry config.json in transformers 4's form (rope_theta and
// rope_scaling at the top level, rope_local_base_freq, sliding_window_pattern, no layer_types;
// Gemma 3 4B's text_config only what differs from Gemma3TextConfig's defaults).
// Each directory's config_v4.json is its model in that form (the script checks that transformers
// reads it as the same model): opened from a copy of the directory with config_v4.json as
// config.json, it gives the same goldens.
TEST_CASE("architecture families: configs in transformers 4's form open as the same models") {
    namespace fs = std::filesystem;
    const auto goldens = read_goldens();
    int checked = 0;
    for (const auto &kv : goldens) {
        const fs::path src = arch_dir() + kv.first;
        if (!fs::exists(src / "config_v4.json")) continue;
        INFO("model ", kv.first);
        const fs::path tmp = fs::temp_directory_path() / ("edgellm_v4_" + kv.first + "_" + std::to_string(::getpid()));
        fs::remove_all(tmp);
        fs::create_directories(tmp);
        for (const auto &e : fs::directory_iterator(src)) {
            const std::string f = e.path().filename().string();
            if (f == "config.json" || f == "config_v4.json") continue;
            fs::create_symlink(fs::absolute(e.path()), tmp / f);
        }
        fs::copy_file(src / "config_v4.json", tmp / "config.json");
        const Diff d = run(tmp.string(), kv.second, EDGELLM_BACKEND_CPU_REFERENCE);
        fs::remove_all(tmp);
        MESSAGE(kv.first << " (config_v4.json): max |dlogit| " << d.max_diff << ", scale " << d.scale);
        CHECK(d.max_diff <= 1e-4 * std::max(1.0, d.scale));
        CHECK(d.greedy_mismatch == 0);
        ++checked;
    }
    CHECK(checked == 8);
}

namespace {

// A copy of tests/data/arch/<name> (files linked) whose config.json has `from` replaced by `to`;
// removed with the object.
struct EditedCopy {
    std::filesystem::path dir;
    EditedCopy(const std::string &name, const std::string &from, const std::string &to) {
        namespace fs = std::filesystem;
        const fs::path src = arch_dir() + name;
        dir = fs::temp_directory_path() / ("edgellm_edit_" + name + "_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        for (const auto &e : fs::directory_iterator(src))
            if (e.path().filename() != "config.json") fs::create_symlink(fs::absolute(e.path()), dir / e.path().filename());
        std::ifstream in(src / "config.json");
        std::stringstream ss;
        ss << in.rdbuf();
        std::string cfg = ss.str();
        const size_t at = cfg.find(from);
        REQUIRE_MESSAGE(at != std::string::npos, name << "/config.json has no " << from);
        cfg.replace(at, from.size(), to);
        std::ofstream(dir / "config.json") << cfg;
    }
    ~EditedCopy() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    EditedCopy(const EditedCopy &) = delete;
    EditedCopy &operator=(const EditedCopy &) = delete;
};

// Opens an edited copy on the CPU reference; returns the status (the model, if any, is closed).
edgellm_status open_edited(const std::string &name, const std::string &from, const std::string &to) {
    const EditedCopy copy(name, from, to);
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = EDGELLM_BACKEND_CPU_REFERENCE;
    mp.weights = EDGELLM_WEIGHTS_F32;
    edgellm_model *model = nullptr;
    const edgellm_status st = edgellm_model_open(copy.dir.string().c_str(), &mp, &model);
    edgellm_model_close(model);
    return st;
}

}  // namespace

// Architecture fields of config.json that would otherwise size tables wrongly or turn into NaN
// logits are refused with INVALID_MODEL; the unedited copies open (the edits are what fails).
TEST_CASE("architecture families: inconsistent config fields are INVALID_MODEL") {
    struct Case {
        const char *model, *from, *to;
    };
    const Case cases[] = {
        {"hf_gemma2", "\"query_pre_attn_scalar\": 20", "\"query_pre_attn_scalar\": 0"},
        {"hf_gemma2", "\"layer_types\": [", "\"layer_types\": [\"full_attention\", "},
        {"hf_gemma3", "\"rope_theta\": 10000.0", "\"rope_theta\": -5"},
        {"hf_phi3", "\"partial_rotary_factor\": 0.5", "\"partial_rotary_factor\": -1"},
        {"hf_phi3", "\"short_factor\": [\n      1.0", "\"short_factor\": [\n      0.0"},
        {"hf_phi3", "\"short_factor\": [\n      1.0,", "\"short_factor\": ["},
        {"hf_smollm3", "\"no_rope_layers\": [", "\"no_rope_layers\": [1, "},
        {"hf_gemma2", "\"sliding_window\": 5", "\"sliding_window\": -5"},
    };
    for (const Case &c : cases) {
        CAPTURE(c.to);
        INFO("model ", std::string(c.model));
        CHECK(open_edited(c.model, c.from, c.from) == EDGELLM_OK);
        CHECK(open_edited(c.model, c.from, c.to) == EDGELLM_ERR_INVALID_MODEL);
    }
}

// Each architecture field the goldens depend on is read: with it changed in config.json, the
// logits move far outside the tolerance (so the comparison above cannot pass by accident).
TEST_CASE("architecture families: each family's own fields change the logits") {
    struct Case {
        const char *model, *from, *to;
    };
    const Case cases[] = {
        {"hf_mistral", "\"sliding_window\": 6", "\"sliding_window\": null"},
        {"hf_gemma2", "\"attn_logit_softcapping\": 3.0", "\"attn_logit_softcapping\": null"},
        {"hf_gemma2", "\"query_pre_attn_scalar\": 20", "\"query_pre_attn_scalar\": 16"},
        {"hf_gemma3", "\"rope_theta\": 10000.0", "\"rope_theta\": 1000000.0"},
        {"hf_phi3", "\"short_factor\": [\n      1.0", "\"short_factor\": [\n      3.0"},
        {"hf_phi3", "\"sliding_window\": 7", "\"sliding_window\": null"},
        {"hf_smollm3", "\"no_rope_layers\": [\n    1,\n    0", "\"no_rope_layers\": [\n    1,\n    1"},
    };
    const auto goldens = read_goldens();
    for (const Case &c : cases) {
        CAPTURE(c.to);
        INFO("model ", std::string(c.model));
        const EditedCopy copy(c.model, c.from, c.to);
        const Diff d = run(copy.dir.string(), goldens.at(c.model), EDGELLM_BACKEND_CPU_REFERENCE);
        MESSAGE(std::string(c.model) << " with " << std::string(c.to) << ": max |dlogit| " << d.max_diff << ", scale " << d.scale);
        CHECK(d.max_diff > 1e-2 * std::max(1.0, d.scale));
    }
}
