// Pieces shared by the GGUF and Hugging Face loaders (src/model/loader*.cpp): format choice,
// config validation, progress/cancellation, weight shape checks.
#pragma once

#include <cstdint>
#include <string>

#include "model/convert.h"
#include "model/loader.h"

namespace edgellm {

LoadedModel load_gguf(const std::string &path, const LoadOptions &options);

class GgufFile;
// The tokenizer.ggml.* metadata of a GGUF file (also of a vocabulary-only one); entry counts checked.
GgufVocab gguf_read_vocab(const GgufFile &g);
LoadedModel load_hf_dir(const std::string &dir, const LoadOptions &options);

// Run format for a matrix whose source type is `src` under LoadOptions.weights (AUTO: `auto_fmt`).
// Throws INVALID_ARGUMENT for an unknown option value.
DType target_dtype(int weights_option, DType auto_fmt);

// Checks the hyper-parameters for consistency (positive sizes, heads dividing, even head_dim,
// sane bounds), filling defaults (n_head_kv, head_dim). Throws INVALID_MODEL naming `path`.
void validate_config(ModelConfig &c, const std::string &path);

// double to float for a config value, with values beyond float's range as infinities (the plain
// conversion of such a value is undefined); validate_config then rejects them by name.
float config_float(double d);

// Throws INVALID_MODEL unless a tensor has the expected shape (rows, cols); cols-only for vectors.
void check_shape(const std::string &path, const std::string &name, int64_t rows, int64_t cols,
                 int64_t want_rows, int64_t want_cols);

// Progress over a known number of source bytes; throws Error(CANCELLED) when the callback says so.
class LoadProgress {
public:
    LoadProgress(const LoadOptions &o, uint64_t total) : opt_(o), total_(total ? total : 1) {}
    void advance(uint64_t bytes);

private:
    const LoadOptions &opt_;
    uint64_t total_;
    uint64_t done_ = 0;
};

// edgellm_weights value of a run format.
int weights_enum(DType t);

}  // namespace edgellm
