// Hugging Face directory / safetensors robustness: missing files, wrong or unsupported config.json,
// corrupted or truncated safetensors headers and data, broken shard indexes. Each gives the right
// status and a message naming the file.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "model/loader.h"
#include "model/safetensors.h"
#include "test_loader_util.h"

using namespace edgellm;
using namespace loader_test;

namespace {

// A copy of tests/data/tiny/<src> in a temp dir that tests can damage.
struct HfCopy {
    TempDir dir;
    explicit HfCopy(const std::string &src, const std::vector<std::string> &files) {
        for (const std::string &f : files) write_file(dir / f, read_file(tiny(src) + "/" + f));
    }
    std::string path() const { return dir.path; }
    std::string config() const {
        std::vector<uint8_t> b = read_file(dir / "config.json");
        return std::string(b.begin(), b.end());
    }
    // Replaces the first `from` in config.json by `to`.
    void edit_config(const std::string &from, const std::string &to) {
        std::string c = config();
        size_t i = c.find(from);
        REQUIRE_MESSAGE(i != std::string::npos, from);
        c.replace(i, from.size(), to);
        write_file(dir / "config.json", c);
    }
};

const std::vector<std::string> kF32Files = {"config.json", "generation_config.json", "model.safetensors"};

LoadedModel load_dir(const std::string &p) { return load_model(p, LoadOptions()); }

}  // namespace

TEST_CASE("HF: missing directory, config.json or weights") {
    expect_error([] { load_dir("/nonexistent/dir/"); }, EDGELLM_ERR_FILE_NOT_FOUND, "/nonexistent/dir/");
    TempDir empty;
    expect_error([&] { load_dir(empty.path); }, EDGELLM_ERR_FILE_NOT_FOUND, "config.json");
    HfCopy c("hf_f32", {"config.json"});
    expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_FILE_NOT_FOUND, "model.safetensors");
}

TEST_CASE("HF: config.json problems") {
    struct Case { const char *from, *to; edgellm_status st; const char *needle; };
    const Case cases[] = {
        {"{", "{]", EDGELLM_ERR_INVALID_MODEL, "config.json: not a valid JSON"},
        {"LlamaForCausalLM", "GPT2LMHeadModel", EDGELLM_ERR_UNSUPPORTED_MODEL, "GPT2LMHeadModel"},
        {"\"vocab_size\"", "\"vocab_sizeX\"", EDGELLM_ERR_INVALID_MODEL, "'vocab_size' is missing"},
        {"\"vocab_size\": 384", "\"vocab_size\": \"384\"", EDGELLM_ERR_INVALID_MODEL, "'vocab_size' must be an integer"},
        {"\"hidden_size\": 64", "\"hidden_size\": -64", EDGELLM_ERR_INVALID_MODEL, "hidden_size"},
        {"\"num_attention_heads\": 4", "\"num_attention_heads\": 3", EDGELLM_ERR_INVALID_MODEL, "config.json"},
        {"\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", EDGELLM_ERR_INVALID_MODEL, "key/value head count"},
        {"\"hidden_size\": 64", "\"hidden_size\": 128", EDGELLM_ERR_INVALID_MODEL, "expected"},
        {"\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}",
         EDGELLM_ERR_UNSUPPORTED_MODEL, "yarn"},
        {"\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\"}", EDGELLM_ERR_INVALID_MODEL, "factor"},
        {"\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", EDGELLM_ERR_UNSUPPORTED_MODEL, "gelu"},
        {"\"attention_bias\": false", "\"attention_bias\": true", EDGELLM_ERR_UNSUPPORTED_MODEL, "biases"},
        {"\"eos_token_id\": 0", "\"eos_token_id\": \"x\"", EDGELLM_ERR_INVALID_MODEL, "eos_token_id"},
        {"\"model_type\": \"llama\"", "\"model_type\": \"mistral\", \"sliding_window\": -1",
         EDGELLM_ERR_INVALID_MODEL, "sliding_window"},
    };
    for (const Case &k : cases) {
        const std::string edit = k.to;
        CAPTURE(edit);
        HfCopy c("hf_f32", kF32Files);
        c.edit_config(k.from, k.to);
        expect_error([&] { load_dir(c.path()); }, k.st, k.needle);
    }
}

TEST_CASE("HF: accepted config variants") {
    {
        HfCopy c("hf_f32", kF32Files);  // Mistral without a sliding window, then with one on every layer
        c.edit_config("\"LlamaForCausalLM\"", "\"MistralForCausalLM\"], \"sliding_window\": null, \"x\": [1");
        LoadedModel m = load_dir(c.path());
        REQUIRE(m.config.layers.size() == 2);
        CHECK(m.config.layers[0].window == 0);
        c.edit_config("\"sliding_window\": null", "\"sliding_window\": 128");
        m = load_dir(c.path());
        CHECK(m.config.layers[0].window == 128);
        CHECK(m.config.layers[1].window == 128);
    }
    {
        HfCopy c("hf_f32", kF32Files);
        c.edit_config("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}");
        LoadedModel m = load_dir(c.path() + "/");
        CHECK(m.config.rope_scaling == RopeScaling::Linear);
        CHECK(m.config.rope_factor == 2.0f);
        std::vector<float> f = rope_inv_freq(m.config);
        CHECK(f[1] == doctest::Approx(std::pow(10000.0, -2.0 / 16) / 2.0));
    }
    {
        HfCopy c("hf_f32", kF32Files);  // tie_word_embeddings: lm_head in the file is ignored
        c.edit_config("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
        LoadedModel m = load_dir(c.path());
        CHECK(m.config.tied_embeddings);
        CHECK(m.weights.output.empty());
    }
    {
        HfCopy c("hf_f32", {"config.json", "model.safetensors"});  // no generation_config.json
        write_file(c.dir / "chat_template.json", std::string("{\"chat_template\": \"{{ messages }}\"}"));
        c.edit_config("\"eos_token_id\": 0", "\"eos_token_id\": [5, 7, 5]");
        LoadedModel m = load_dir(c.path());
        CHECK(m.eos_ids == std::vector<int32_t>{5, 7});
        CHECK(m.eos_id == 5);
        CHECK(m.chat_template == "{{ messages }}");
    }
}

TEST_CASE("safetensors: truncated at many offsets") {
    HfCopy c("hf_f32", kF32Files);
    std::vector<uint8_t> st = read_file(c.dir / "model.safetensors");
    const std::string p = c.dir / "model.safetensors";
    std::vector<size_t> cuts = {0, 1, 7, 8, 9, 100, 500};
    for (size_t i = 1000; i < st.size(); i += 4099) cuts.push_back(i);
    cuts.push_back(st.size() - 1);
    for (size_t n : cuts) {
        CAPTURE(n);
        write_file(p, st.data(), n);
        expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_INVALID_MODEL, p);
    }
}

TEST_CASE("safetensors: corrupted headers") {
    HfCopy c("hf_f32", kF32Files);
    const std::vector<uint8_t> orig = read_file(c.dir / "model.safetensors");
    const std::string p = c.dir / "model.safetensors";
    auto run = [&](std::vector<uint8_t> f, edgellm_status st, const char *needle) {
        write_file(p, f);
        std::string msg = expect_error([&] { load_dir(c.path()); }, st, needle);
        CHECK(msg.find(p) != std::string::npos);
    };
    auto replace = [&](const std::string &from, const std::string &to) {
        REQUIRE(from.size() == to.size());
        std::vector<uint8_t> f = orig;
        size_t i = (size_t)(std::search(f.begin(), f.end(), from.begin(), from.end()) - f.begin());
        REQUIRE(i < f.size());
        std::memcpy(f.data() + i, to.data(), to.size());
        return f;
    };
    std::vector<uint8_t> f = orig;
    uint64_t huge = ~0ull;
    std::memcpy(f.data(), &huge, 8);
    run(f, EDGELLM_ERR_INVALID_MODEL, "header length");
    f = orig;
    f[8] = '[';
    run(f, EDGELLM_ERR_INVALID_MODEL, "not a JSON object");
    run(replace("\"dtype\":\"F32\"", "\"dtype\":\"I32\""), EDGELLM_ERR_UNSUPPORTED_MODEL, "I32");
    run(replace("\"dtype\":\"F32\"", "\"dtype\":\"F16\""), EDGELLM_ERR_INVALID_MODEL, "shape needs");
    run(replace("\"dtype\":\"F32\"", "\"dtype\":\"Q99\""), EDGELLM_ERR_INVALID_MODEL, "unknown dtype");
    run(replace("\"data_offsets\":[0,", "\"data_offsets\":[9,"), EDGELLM_ERR_INVALID_MODEL, "bytes but its shape");
    run(replace("\"shape\":[", "\"shapX\":["), EDGELLM_ERR_INVALID_MODEL, "lacks dtype");
    write_file(p, replace("model.norm.weight", "model.norm.weighX"));
    expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_INVALID_MODEL, "'model.norm.weight' is missing");
    write_file(p, replace("lm_head.weight", "lm_head.weighX"));  // untied but no lm_head: tied
    CHECK(load_dir(c.path()).config.tied_embeddings);
}

TEST_CASE("HF: sharded index problems") {
    const std::vector<std::string> files = {"config.json", "model.safetensors.index.json", "model-00001-of-00003.safetensors",
                                            "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"};
    {
        HfCopy c("hf_bf16_sharded", files);
        std::remove((c.dir / "model-00002-of-00003.safetensors").c_str());
        expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_FILE_NOT_FOUND, "model-00002-of-00003.safetensors");
    }
    {
        HfCopy c("hf_bf16_sharded", files);
        std::vector<uint8_t> idx = read_file(c.dir / "model.safetensors.index.json");
        std::string s(idx.begin(), idx.end());
        size_t i = s.find("model-00001-of-00003.safetensors");
        s.replace(i, 3, "../");
        write_file(c.dir / "model.safetensors.index.json", s);
        expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_INVALID_MODEL, "plain file name");
    }
    {
        HfCopy c("hf_bf16_sharded", files);
        write_file(c.dir / "model.safetensors.index.json", std::string("{\"weight_map\": 5}"));
        expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_INVALID_MODEL, "weight_map");
    }
    {
        HfCopy c("hf_bf16_sharded", files);  // a shard that lacks a tensor the index names
        write_file(c.dir / "model-00003-of-00003.safetensors", read_file(c.dir / "model-00002-of-00003.safetensors"));
        expect_error([&] { load_dir(c.path()); }, EDGELLM_ERR_INVALID_MODEL, "missing from the file");
    }
}
