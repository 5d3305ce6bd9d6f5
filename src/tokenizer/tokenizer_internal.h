// Internal entry points behind Tokenizer::create: the Hugging Face tokenizer.json loader, the
// SentencePiece tokenizer.model wrapper, GGUF vocabularies, and tokenizer_config.json settings.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace edgellm {

// The largest vocabulary a tokenizer file may describe: every token id (vocab, added tokens,
// post-processor ids) lies in [0, kMaxVocab). Larger ids are rejected as EDGELLM_ERR_INVALID_MODEL
// before any table is sized from them. Documented in docs/limits.md.
constexpr int64_t kMaxVocab = int64_t{1} << 24;

// The parts of tokenizer_config.json the tokenizer uses.
struct HfConfig {
    std::optional<bool> add_bos, add_eos, legacy, add_prefix_space;
    std::optional<std::string> bos_token, eos_token, unk_token, pad_token;  // nullopt: absent or null
    bool bos_null = false, eos_null = false, unk_null = false;  // the key is present with value null
    std::string tokenizer_class;                    // "" when absent
    std::vector<AddedToken> added_tokens_decoder;   // ids as written, in id order
    std::string chat_template;
};

HfConfig read_hf_config(const std::string &path);  // missing file: empty config
BpeSpec parse_tokenizer_json(const std::string &path);
std::unique_ptr<Tokenizer> make_hf_bpe(BpeSpec spec, const HfConfig &cfg);
std::unique_ptr<Tokenizer> load_spm_file(const std::string &path, const HfConfig &cfg);
// tokenizer.model converted the way transformers 5 builds LlamaTokenizer from it (spm_convert.cpp).
bool is_hf_llama_class(const HfConfig &cfg);
std::unique_ptr<Tokenizer> load_hf_llama_spm(const std::string &path, const HfConfig &cfg);
// SentencePiece model from serialized ModelProto bytes; `legacy` as in HF LlamaTokenizer.
std::unique_ptr<Tokenizer> load_spm_proto(const std::string &proto, bool legacy, bool add_bos, bool add_eos);
std::unique_ptr<Tokenizer> load_gguf_vocab(const GgufVocab &v);

// Pre-tokenizer steps llama.cpp uses for a tokenizer.ggml.pre name (gpt2 models).
std::vector<PreTokStep> gguf_pretok(const std::string &pre, bool *nfc);

// Fills eog_ids from eos and the end-of-turn tokens the vocab has.
void fill_eog(Tokenizer &t, const std::function<int32_t(const std::string &)> &lookup);

}  // namespace edgellm
