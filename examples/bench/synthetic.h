// Synthetic Llama models for edgellm-bench: a named shape with random weights in a chosen run
// format, generated in memory (no file) with a cheap PRNG on all cores.
#pragma once

#include <string>

#include <memory>

#include "engine/model.h"
#include "model/loader.h"

namespace edgellm {
namespace bench {

// llama3-8b | llama3.2-1b | smollm2-135m. Returns false for an unknown name.
bool shape_config(const std::string &name, ModelConfig &c);

// Random weights of config c in format t (Q4 without mins, Q8_0, F16 or F32), scaled so
// activations stay finite through the layers.
LoadedModel synthetic_model(const ModelConfig &c, DType t, unsigned seed);

// Moves the weights onto `backend` (host copies freed one by one) and returns a Model without a
// tokenizer, ready for engine/forward.h.
std::unique_ptr<Model> model_from_synthetic(LoadedModel &&lm, std::unique_ptr<Backend> backend);

}  // namespace bench
}  // namespace edgellm
