// SentencePiece tokenizers: Llama 2 tokenizer.model through libsentencepiece, and a GGUF `llama`
// vocabulary built from the same model the way llama.cpp's converter fills it, against goldens
// from PyPI `sentencepiece` (and transformers for decode with special tokens).
#include <sentencepiece_processor.h>

#include "core/error.h"
#include "test_tokenizer_util.h"

using edgellm::GgufVocab;
using edgellm::Tokenizer;
using edgellm::TokenizerSource;

namespace {
std::string llama2_dir() { return tokt::shared_tok() + "/llama2-spm"; }

// tokenizer.ggml.* as convert_hf_to_gguf.py writes them for a SentencePiece model.
GgufVocab gguf_from_spm(const std::string &path) {
    sentencepiece::SentencePieceProcessor sp;
    REQUIRE(sp.Load(path).ok());
    GgufVocab v;
    v.model = "llama";
    v.pre = "default";
    for (int i = 0; i < sp.GetPieceSize(); i++) {
        v.tokens.push_back(sp.IdToPiece(i));
        v.scores.push_back(sp.GetScore(i));
        int type = 1;
        if (sp.IsUnknown(i)) type = 2;
        else if (sp.IsControl(i)) type = 3;
        else if (sp.IsUnused(i)) type = 5;
        else if (sp.IsByte(i)) type = 6;
        v.token_types.push_back(type);
    }
    v.bos_id = sp.bos_id();
    v.eos_id = sp.eos_id();
    v.unk_id = sp.unk_id();
    v.add_bos = 1;
    v.add_eos = 0;
    return v;
}
}  // namespace

TEST_CASE("llama2 tokenizer.model matches sentencepiece") {
    TokenizerSource src;
    src.hf_dir = llama2_dir();
    auto t = Tokenizer::create(src);
    CHECK(t->n_vocab() == 32000);
    CHECK(t->bos_id == 1);
    CHECK(t->eos_id == 2);
    CHECK(t->bos_text == "<s>");
    CHECK(t->eos_text == "</s>");
    CHECK(t->is_special(1));
    CHECK(!t->is_special(100));
    CHECK(t->chat_template.find("[INST]") != std::string::npos);
    CHECK(t->encode("Hello world", true, false) == std::vector<int32_t>{1, 15043, 3186});
    tokt::check_golden(*t, "llama2-spm");
    // token_piece: "▁" -> " ", byte pieces are raw bytes; concatenation = input with a leading space
    // (text that itself contains "▁" cannot come back: SentencePiece stores spaces as "▁").
    for (const auto &s : tokt::load_corpus()) {
        if (s.find("\xE2\x96\x81") != std::string::npos) continue;
        auto ids = t->encode(s, false, false);
        std::string cat;
        for (int32_t id : ids) cat += t->token_piece(id);
        CHECK_MESSAGE((s.empty() ? cat.empty() : cat == " " + s), "\"" << s.substr(0, 60) << "\"");
    }
}

TEST_CASE("GGUF llama vocabulary gives the same ids as tokenizer.model") {
    TokenizerSource src;
    src.gguf = gguf_from_spm(llama2_dir() + "/tokenizer.model");
    auto t = Tokenizer::create(src);
    CHECK(t->n_vocab() == 32000);
    CHECK(t->bos_text == "<s>");
    tokt::check_golden(*t, "llama2-spm");
}

TEST_CASE("GGUF vocab errors are reported, not crashed on") {
    auto status_of = [](const GgufVocab &v) {
        try {
            TokenizerSource src;
            src.gguf = v;
            Tokenizer::create(src);
        } catch (const edgellm::Error &e) {
            return e.status();
        }
        return EDGELLM_OK;
    };
    GgufVocab v;
    v.model = "llama";
    CHECK(status_of(v) == EDGELLM_ERR_INVALID_MODEL);  // no tokens
    v.model = "bert";
    v.tokens = {"a"};
    CHECK(status_of(v) == EDGELLM_ERR_UNSUPPORTED_MODEL);
    v.model = "gpt2";
    v.pre = "no-such-pre";
    CHECK(status_of(v) == EDGELLM_ERR_UNSUPPORTED_MODEL);
    v.pre = "gpt-2";
    v.bos_id = 7;
    CHECK(status_of(v) == EDGELLM_ERR_INVALID_MODEL);
    v.bos_id = -1;
    v.merges = {"a b"};
    CHECK(status_of(v) == EDGELLM_ERR_INVALID_MODEL);  // merge of tokens not in the vocab
}
