// libFuzzer target: a Hugging Face model directory whose config.json, tokenizer.json,
// tokenizer_config.json and model.safetensors come from the input, separated by kSep (in the
// dictionary). Missing parts are left out of the directory. A model that opens is exercised.
#include "fuzz_util.h"

#include <string_view>
#include <vector>

static const std::string_view kSep = "\n#EDGELLM-FILE#\n";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view in(reinterpret_cast<const char *>(data), size);
    std::vector<std::string_view> parts;
    for (;;) {
        size_t at = in.find(kSep);
        if (at == std::string_view::npos || parts.size() == 3) { parts.push_back(in); break; }
        parts.push_back(in.substr(0, at));
        in.remove_prefix(at + kSep.size());
    }
    static const char *names[4] = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"};
    const std::string &dir = fuzz::scratch();
    for (int k = 0; k < 4; k++) {
        std::string path = dir + "/" + names[k];
        if ((size_t)k < parts.size()) fuzz::write(names[k], parts[k].data(), parts[k].size());
        else std::remove(path.c_str());
    }
    edgellm_model_params p = fuzz::cpu_params();
    edgellm_model *m = nullptr;
    edgellm_status st = edgellm_model_open(dir.c_str(), &p, &m);
    fuzz::check_status(st, "model_open(hf dir)");
    if (st == EDGELLM_OK) {
        fuzz::exercise(m);
        edgellm_model_close(m);
    }
    return 0;
}
