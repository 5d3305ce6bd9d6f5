// BPE tokenizer with the Hugging Face `tokenizers` pipeline: added-token extraction, normalizers,
// pre-tokenizers, the BPE model (merge ranks, byte fallback) and decoders. Built from a
// tokenizer.json (hf_json.cpp) or from a GGUF gpt2 vocabulary (gguf_vocab.cpp).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace edgellm {

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

struct NormalizerStep {
    enum Kind { NFC, Prepend, Replace, Lowercase } kind;
    std::string a, b;  // Prepend: a; Replace: a -> b
};

struct PreTokStep {
    enum Kind { Split, ByteLevel, Metaspace } kind;
    std::shared_ptr<Regex> re;       // Split, ByteLevel with use_regex
    bool removed = false;            // Split behavior "Removed" (else "Isolated")
    bool add_prefix_space = false;   // ByteLevel
    std::string replacement;         // Metaspace
    int prepend_scheme = 0;          // Metaspace: 0 always, 1 first, 2 never
    bool split = false;              // Metaspace
};

struct DecoderStep {
    enum Kind { ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip } kind;
    std::string a, b;                // Replace a -> b; Metaspace replacement in a; Strip content a
    int start = 0, stop = 0;         // Strip
    int prepend_scheme = 0;          // Metaspace
};

struct BpeSpec {
    std::vector<std::string> vocab;  // id -> token string (model vocabulary; gaps are "")
    std::vector<std::pair<std::string, std::string>> merges;  // in rank order
    int32_t unk_id = -1;
    bool byte_fallback = false, fuse_unk = false, ignore_merges = false;
    std::string continuing_subword_prefix, end_of_word_suffix;  // only "" supported
    std::vector<AddedToken> added;
    std::vector<NormalizerStep> normalizers;
    std::vector<PreTokStep> pretok;
    bool has_decoder = false;
    std::vector<DecoderStep> decoders;
    std::vector<int32_t> prefix_ids, suffix_ids;  // post-processor (add_special)
};

class BpeTokenizer : public Tokenizer {
public:
    explicit BpeTokenizer(BpeSpec spec);

    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
    std::string decode(const int32_t *ids, size_t n, bool skip_special) const override;
    std::string token_piece(int32_t id) const override;
    int32_t n_vocab() const override { return static_cast<int32_t>(id_to_token_.size()); }
    bool is_special(int32_t id) const override;

    // Token id of an exact token string (vocab or added), -1 if absent.
    int32_t token_id(const std::string &s) const;

private:
    struct Segment { size_t begin, end; int32_t added_id; };
    void split_added(std::string_view text, bool parse_special, std::vector<Segment> &out) const;
    void encode_segment(std::string_view text, bool first, std::vector<int32_t> &out) const;
    void encode_word(std::string_view word, std::vector<int32_t> &out) const;
    void bpe(std::vector<int32_t> &syms) const;
    std::vector<std::string> run_decoders(std::vector<std::string> toks, bool streaming) const;

    BpeSpec spec_;
    bool byte_level_ = false;        // ByteLevel pre-tokenizer: words are bytes mapped to GPT-2 chars
    std::vector<std::string> id_to_token_;
    std::vector<uint8_t> special_;   // per id
    std::unordered_map<std::string, int32_t> token_to_id_;  // model vocab
    std::unordered_map<std::string, int32_t> added_to_id_;
    // (a,b) -> (rank, merged id): open addressing, power-of-two capacity, empty slot key = ~0.
    struct MergeSlot { uint64_t key; int32_t rank, id; };
    std::vector<MergeSlot> merge_tab_;
    int merge_shift_ = 64;
    const MergeSlot *find_merge(int32_t a, int32_t b) const;
    std::unordered_map<uint32_t, int32_t> char_id_;  // single-code-point tokens
    int32_t byte_id_[256];           // byte-level: id of each byte's char; byte_fallback: <0xXX>
    std::vector<std::vector<int32_t>> added_by_first_;  // first byte -> added tokens, longest first

    mutable std::mutex cache_mu_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace edgellm
