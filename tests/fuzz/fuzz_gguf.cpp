// libFuzzer target: arbitrary bytes as a GGUF file, opened through edgellm_model_open on the CPU
// backend; a model that opens is tokenized with, templated and generated from (fuzz::exercise).
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string path = fuzz::write("model.gguf", data, size);
    edgellm_model_params p = fuzz::cpu_params();
    edgellm_model *m = nullptr;
    edgellm_status st = edgellm_model_open(path.c_str(), &p, &m);
    fuzz::check_status(st, "model_open(gguf)");
    if (st == EDGELLM_OK) {
        fuzz::exercise(m);
        edgellm_model_close(m);
    } else if (m) {
        std::abort();  // *out must be NULL on failure
    }
    return 0;
}
