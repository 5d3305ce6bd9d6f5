// load_model(): dispatch on the path (GGUF file or Hugging Face directory) plus the helpers both
// loaders share.
#include "model/loader.h"

#include <limits>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/loader_internal.h"

namespace edgellm {

DType target_dtype(int w, DType auto_fmt) {
    switch (w) {
    case EDGELLM_WEIGHTS_AUTO: return auto_fmt;
    case EDGELLM_WEIGHTS_F32: return DType::F32;
    case EDGELLM_WEIGHTS_F16: return DType::F16;
    case EDGELLM_WEIGHTS_Q8_0: return DType::Q8_0;
    case EDGELLM_WEIGHTS_Q4: return DType::Q4;
    default: fail(EDGELLM_ERR_INVALID_ARGUMENT, "unknown weights format %d", w);
    }
}

int weights_enum(DType t) {
    switch (t) {
    case DType::F32: return EDGELLM_WEIGHTS_F32;
    case DType::F16:
    case DType::BF16: return EDGELLM_WEIGHTS_F16;
    case DType::Q8_0: return EDGELLM_WEIGHTS_Q8_0;
    case DType::Q4: return EDGELLM_WEIGHTS_Q4;
    }
    return EDGELLM_WEIGHTS_AUTO;
}

float config_float(double d) {
    if (d > 3.4028234663852886e38) return std::numeric_limits<float>::infinity();
    if (d < -3.4028234663852886e38) return -std::numeric_limits<float>::infinity();
    return (float)d;
}

void validate_config(ModelConfig &c, const std::string &path) {
    const char *p = path.c_str();
    // Values are printed as doubles: a float field may hold inf or NaN, which no integer cast
    // can represent.
    auto bad = [p](const char *what, double v) {
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: invalid %s (%g)", p, what, v);
    };
    // Bounds far above any Llama-family model; they only stop a corrupted value from sizing
    // allocations before the tensor shapes are checked against the file.
    if (c.n_vocab <= 0 || c.n_vocab > (1 << 24)) bad("vocabulary size", c.n_vocab);
    if (c.n_embd <= 0 || c.n_embd > (1 << 20)) bad("hidden size", c.n_embd);
    if (c.n_layer <= 0 || c.n_layer > 4096) bad("layer count", c.n_layer);
    if (c.n_head <= 0 || c.n_head > c.n_embd) bad("attention head count", c.n_head);
    if (c.n_head_kv == 0) c.n_head_kv = c.n_head;
    if (c.n_head_kv < 0 || c.n_head_kv > c.n_head || c.n_head % c.n_head_kv != 0)
        bad("key/value head count", c.n_head_kv);
    if (c.head_dim == 0) {
        if (c.n_embd % c.n_head != 0) bad("hidden size for the head count", c.n_embd);
        c.head_dim = c.n_embd / c.n_head;
    }
    if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 4096) bad("head dimension", c.head_dim);
    // n_head * head_dim and n_head_kv * head_dim size the q / k / v rows: kept within the hidden
    // size limit so that no product of two shape fields overflows 32 bits.
    if ((int64_t)c.n_head * c.head_dim > (1 << 20))
        bad("query width n_head * head_dim (limit 1048576)", (double)c.n_head * c.head_dim);
    if (c.n_ff <= 0 || c.n_ff > (1 << 22)) bad("feed-forward size", c.n_ff);
    if (c.n_ctx_train < 0) bad("context length", c.n_ctx_train);
    if (!(c.rms_eps > 0.f && c.rms_eps < 1.f)) bad("rms_norm_eps", c.rms_eps);
    if (!(c.rope_theta > 0.f)) bad("rope theta", c.rope_theta);
    if (c.rope_scaling != RopeScaling::None && !(c.rope_factor > 0.f)) bad("rope scaling factor", c.rope_factor);
    if (c.rope_scaling == RopeScaling::Llama3 &&
        (!(c.rope_high_freq_factor > c.rope_low_freq_factor) || c.rope_low_freq_factor <= 0.f || c.rope_original_ctx <= 0))
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: invalid llama3 rope scaling parameters", p);
}

void check_shape(const std::string &path, const std::string &name, int64_t rows, int64_t cols,
                 int64_t want_rows, int64_t want_cols) {
    if (rows != want_rows || cols != want_cols)
        fail(EDGELLM_ERR_INVALID_MODEL, "%s: tensor '%s' has shape (%lld, %lld), expected (%lld, %lld)", path.c_str(),
             name.c_str(), (long long)rows, (long long)cols, (long long)want_rows, (long long)want_cols);
}

void LoadProgress::advance(uint64_t bytes) {
    done_ += bytes;
    if (opt_.progress && !opt_.progress(done_ >= total_ ? 1.f : (float)((double)done_ / (double)total_)))
        fail(EDGELLM_CANCELLED, "model loading cancelled by the progress callback");
}

LoadedModel load_model(const std::string &path, const LoadOptions &options) {
    if (path.empty()) fail(EDGELLM_ERR_FILE_NOT_FOUND, "empty model path");
    target_dtype(options.weights, DType::Q4);  // rejects an unknown value before any work
    try {
        if (is_directory(path)) return load_hf_dir(path, options);
        if (!is_regular_file(path)) {
            MappedFile probe(path);  // throws FILE_NOT_FOUND / IO with the reason
            fail(EDGELLM_ERR_IO, "%s: not a regular file", path.c_str());
        }
        return load_gguf(path, options);
    } catch (const std::bad_alloc &) {
        fail(EDGELLM_ERR_OUT_OF_MEMORY, "%s: out of host memory while loading", path.c_str());
    }
}

}  // namespace edgellm
