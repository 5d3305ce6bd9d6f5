// Tokenizer interface: byte-level BPE and SentencePiece-style BPE from tokenizer.json, tokenizer.model
// (converted to BPE as transformers does for LlamaTokenizer, else libsentencepiece), and vocabularies
// stored in GGUF metadata. Encodings match Hugging Face id for id (GGUF `llama`: SentencePiece).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgellm {

// Vocabulary as stored in GGUF metadata (tokenizer.ggml.*).
struct GgufVocab {
    std::string model;                 // "gpt2", "llama", ...
    std::string pre;                   // tokenizer.ggml.pre: "llama-bpe", "smollm", "qwen2", ...
    std::vector<std::string> tokens;
    std::vector<float> scores;         // may be empty
    std::vector<int32_t> token_types;  // may be empty (1 normal, 2 unknown, 3 control, 4 user, 6 byte)
    std::vector<std::string> merges;   // "a b" pairs (gpt2 models)
    int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1;
    int add_bos = -1, add_eos = -1, add_space_prefix = -1;  // -1: not present
};

// Where a tokenizer comes from: a Hugging Face directory (tokenizer.json or tokenizer.model, with
// tokenizer_config.json), or a GGUF vocabulary.
struct TokenizerSource {
    std::string hf_dir;                // empty when gguf is set
    std::optional<GgufVocab> gguf;
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Throws Error(INVALID_MODEL / UNSUPPORTED_MODEL / FILE_NOT_FOUND) with a clear message.
    static std::unique_ptr<Tokenizer> create(const TokenizerSource &source);

    // Encodes UTF-8 text. add_special: BOS/EOS per the tokenizer's config (post-processor,
    // add_bos_token/add_eos_token). parse_special: special/added tokens written in the text become
    // their ids. Throws Error(EDGELLM_ERR_INVALID_UTF8) on invalid input. Thread-safe.
    virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                        bool parse_special) const = 0;
    // As Hugging Face decode(ids, skip_special_tokens). Ids outside the vocab throw
    // Error(EDGELLM_ERR_INVALID_TOKEN).
    virtual std::string decode(const int32_t *ids, size_t n, bool skip_special) const = 0;
    // The bytes this token contributes to a stream (no leading-space stripping).
    virtual std::string token_piece(int32_t id) const = 0;

    virtual int32_t n_vocab() const = 0;
    virtual bool is_special(int32_t id) const = 0;   // control / special added token

    int32_t bos_id = -1;
    int32_t eos_id = -1;
    std::vector<int32_t> eog_ids;      // tokens that end generation (eos, <|eot_id|>, <|im_end|>..)
    std::string bos_text;              // "<s>", "<|begin_of_text|>", "" if none (for templates)
    std::string eos_text;
    std::string chat_template;         // from tokenizer_config.json, "" if none
};

}  // namespace edgellm
