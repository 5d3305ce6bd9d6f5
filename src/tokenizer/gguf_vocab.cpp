// Tokenizers from GGUF vocabularies (tokenizer.ggml.*): `gpt2` models become the byte-level BPE
// pipeline with the pre-tokenizer llama.cpp names in tokenizer.ggml.pre; `llama` models become a
// SentencePiece model (spm_tokenizer.cpp).
#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace edgellm {

std::string gguf_to_spm_proto(const GgufVocab &v);

namespace {
const char *kLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char *kQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char *kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

PreTokStep split(const char *re) {
    PreTokStep s{};
    s.kind = PreTokStep::Split;
    s.re = std::make_shared<Regex>(re);
    return s;
}
}  // namespace

std::vector<PreTokStep> gguf_pretok(const std::string &pre, bool *nfc) {
    *nfc = false;
    std::vector<PreTokStep> out;
    if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
        out.push_back(split(kLlama3));
    } else if (pre == "qwen2" || pre == "deepseek-r1-qwen") {
        out.push_back(split(kQwen2));
        *nfc = true;  // Qwen2's tokenizer.json has an NFC normalizer
    } else if (pre == "smollm") {
        out.push_back(split("\\p{N}"));  // the Digits(individual_digits) pre-tokenizer
        out.push_back(split(kGpt2));
    } else if (pre == "gpt-2" || pre == "gpt2") {
        out.push_back(split(kGpt2));
    } else if (pre == "default" || pre.empty()) {
        // llama.cpp's fallback for BPE vocabularies without a known pre-tokenizer.
        out.push_back(split("[\\p{P}\\$\\+<=>\\^~\\|]+"));
        out.push_back(split(kGpt2));
        out.push_back(split("\\p{N}+"));
        out.push_back(split("[0-9][0-9][0-9]"));
    } else {
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "GGUF tokenizer.ggml.pre '%s' is not supported", pre.c_str());
    }
    PreTokStep bl{};
    bl.kind = PreTokStep::ByteLevel;  // bytes -> GPT-2 alphabet, no regex of its own
    out.push_back(bl);
    return out;
}

std::unique_ptr<Tokenizer> load_gguf_vocab(const GgufVocab &v) {
    const int32_t n = static_cast<int32_t>(v.tokens.size());
    if (n == 0) fail(EDGELLM_ERR_INVALID_MODEL, "GGUF vocabulary has no tokens");
    auto check = [&](int32_t id, const char *what) {
        if (id < -1 || id >= n) fail(EDGELLM_ERR_INVALID_MODEL, "GGUF %s id %d outside the vocabulary", what, id);
    };
    check(v.bos_id, "bos");
    check(v.eos_id, "eos");
    check(v.unk_id, "unk");
    check(v.eot_id, "eot");
    if (!v.token_types.empty() && v.token_types.size() != v.tokens.size())
        fail(EDGELLM_ERR_INVALID_MODEL, "GGUF token_type has %zu entries for %d tokens", v.token_types.size(), n);
    if (!v.scores.empty() && v.scores.size() != v.tokens.size())
        fail(EDGELLM_ERR_INVALID_MODEL, "GGUF scores has %zu entries for %d tokens", v.scores.size(), n);

    std::unique_ptr<Tokenizer> t;
    if (v.model == "llama") {
        // llama.cpp adds the space prefix only to the first text fragment: HF's legacy=False.
        t = load_spm_proto(gguf_to_spm_proto(v), false, v.add_bos != 0, v.add_eos == 1);
        if (v.bos_id >= 0) { t->bos_id = v.bos_id; t->bos_text = v.tokens[v.bos_id]; }
        if (v.eos_id >= 0) { t->eos_id = v.eos_id; t->eos_text = v.tokens[v.eos_id]; }
    } else if (v.model == "gpt2") {
        BpeSpec s;
        bool nfc = false;
        s.pretok = gguf_pretok(v.pre, &nfc);
        if (nfc) s.normalizers.push_back({NormalizerStep::NFC, "", ""});
        s.ignore_merges = v.pre == "llama-bpe" || v.pre == "llama3" || v.pre == "llama-v3";
        s.vocab.resize(n);
        for (int32_t i = 0; i < n; i++) {
            int type = v.token_types.empty() ? 1 : v.token_types[i];
            if (type == 3 || type == 4) {
                AddedToken a;
                a.content = v.tokens[i];
                a.id = i;
                a.special = type == 3;
                if (!a.content.empty()) s.added.push_back(a);
            } else {
                s.vocab[i] = v.tokens[i];
            }
        }
        s.merges.reserve(v.merges.size());
        for (const auto &m : v.merges) {
            size_t sp = m.find(' ', 1);
            if (sp == std::string::npos) fail(EDGELLM_ERR_INVALID_MODEL, "GGUF merge '%s' has no space", m.c_str());
            s.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
        }
        s.unk_id = v.unk_id;
        s.has_decoder = true;
        DecoderStep d{};
        d.kind = DecoderStep::ByteLevel;
        s.decoders.push_back(d);
        if (v.add_bos == 1 && v.bos_id >= 0) s.prefix_ids.push_back(v.bos_id);
        if (v.add_eos == 1 && v.eos_id >= 0) s.suffix_ids.push_back(v.eos_id);
        auto bt = std::make_unique<BpeTokenizer>(std::move(s));
        BpeTokenizer *raw = bt.get();
        t = std::move(bt);
        t->bos_id = v.bos_id;
        t->eos_id = v.eos_id;
        if (v.bos_id >= 0) t->bos_text = v.tokens[v.bos_id];
        if (v.eos_id >= 0) t->eos_text = v.tokens[v.eos_id];
        fill_eog(*t, [raw](const std::string &x) { return raw->token_id(x); });
    } else {
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "GGUF tokenizer.ggml.model '%s' is not supported (gpt2, llama)",
             v.model.c_str());
    }
    if (v.eot_id >= 0 && std::find(t->eog_ids.begin(), t->eog_ids.end(), v.eot_id) == t->eog_ids.end())
        t->eog_ids.push_back(v.eot_id);
    return t;
}

}  // namespace edgellm
