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
