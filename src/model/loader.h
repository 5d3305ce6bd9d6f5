// Model loading: a GGUF file or a Hugging Face directory becomes a ModelConfig, host weights in
// run formats and what the tokenizer needs. Files are memory-mapped; tensors are converted one by
// one so peak memory stays near the final model size.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/log.h"
#include "model/config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace edgellm {

struct LoadOptions {
    // Target format of the large matrices: edgellm_weights (AUTO keeps a quantized file's format
    // and quantizes f16/bf16/f32 files to Q4).
    int weights = EDGELLM_WEIGHTS_AUTO;
    uint32_t context_length = 0;   // 0: keep the model's
    // Progress in [0,1]; return false to cancel (load throws Error(EDGELLM_CANCELLED)).
    std::function<bool(float)> progress;
    Logger log;
};

struct LoadedModel {
    ModelConfig config;
    ModelWeights weights;
    TokenizerSource tokenizer;
    std::string chat_template;        // model's own Jinja template, "" if none
    std::vector<int32_t> eos_ids;     // from generation_config.json / GGUF (eos, eot); may be empty
    int32_t bos_id = -1;
    int32_t eos_id = -1;
    std::string source_format;        // "gguf" or "safetensors"
    int weights_format = EDGELLM_WEIGHTS_AUTO; // edgellm_weights of the large matrices after load
};

// Throws Error with FILE_NOT_FOUND / IO / INVALID_MODEL / UNSUPPORTED_MODEL / CANCELLED /
// OUT_OF_MEMORY and a message naming the file and the problem.
LoadedModel load_model(const std::string &path, const LoadOptions &options);

}  // namespace edgellm
