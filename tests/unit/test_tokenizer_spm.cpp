// SentencePiece tokenizer.model files. A LlamaTokenizer directory (Llama 2) is converted the way
// transformers 5 converts it and checked against AutoTokenizer goldens (Llama 2's own config, variant
// configs, random strings); other tokenizer.model directories and GGUF `llama` vocabularies (built
// from the same model the way llama.cpp's converter fills them) follow PyPI `sentencepiece`.
#include <sentencepiece_processor.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

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

// A temporary directory holding Llama 2's tokenizer.model (symlinked) and the named
// tokenizer_config.json variant of tests/data/tokenizer/llama2_configs.json.
struct VariantDir {
    std::string dir;
    explicit VariantDir(const std::string &name) {
        simdjson::dom::parser p;
        simdjson::dom::element cfgs = p.load(tokt::test_data() + "/llama2_configs.json").value();
        std::string text(cfgs[name].get_string().value());
        dir = "/tmp/edgellm_test_llama2_" + name + "_" + std::to_string(::getpid());
        ::mkdir(dir.c_str(), 0755);
        std::string model = llama2_dir() + "/tokenizer.model";
        if (model[0] != '/') {
            char cwd[4096];
            REQUIRE(::getcwd(cwd, sizeof cwd) != nullptr);
            model = std::string(cwd) + "/" + model;
        }
        std::remove((dir + "/tokenizer.model").c_str());
        REQUIRE(::symlink(model.c_str(), (dir + "/tokenizer.model").c_str()) == 0);
        std::ofstream(dir + "/tokenizer_config.json", std::ios::binary) << text;
    }
    ~VariantDir() {
        std::remove((dir + "/tokenizer.model").c_str());
        std::remove((dir + "/tokenizer_config.json").c_str());
        ::rmdir(dir.c_str());
    }
    std::unique_ptr<Tokenizer> load() const {
        TokenizerSource src;
        src.hf_dir = dir;
        return Tokenizer::create(src);
    }
};
}  // namespace

TEST_CASE("llama2 tokenizer.model matches transformers AutoTokenizer") {
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
    // Where transformers' converted BPE and SentencePiece disagree (leading / repeated spaces).
    CHECK(t->encode("Hello world", true, false) == std::vector<int32_t>{1, 15043, 3186});
    CHECK(t->encode(" Hello", true, false) == std::vector<int32_t>{1, 15043});
    CHECK(t->encode("Hello  world", true, false) == std::vector<int32_t>{1, 15043, 259, 11526});
    CHECK(t->encode("  x", true, false) == std::vector<int32_t>{1, 259, 29916});
    CHECK(t->encode("x\n  y", true, false) == std::vector<int32_t>{1, 921, 13, 259, 29891});
    tokt::check_golden(*t, "llama2-spm");
    tokt::check_golden(*t, "llama2-spm-random");
    // token_piece: "▁" -> " ", byte pieces are raw bytes; concatenation = the input with "▁"
    // prepended unless it starts with a space (text containing "▁" itself cannot come back).
    for (const auto &s : tokt::load_corpus()) {
        if (s.find("\xE2\x96\x81") != std::string::npos) continue;
        auto ids = t->encode(s, false, false);
        std::string cat;
        for (int32_t id : ids) cat += t->token_piece(id);
        std::string want = s.empty() || s[0] == ' ' ? s : " " + s;
        CHECK_MESSAGE(cat == want, "\"" << s.substr(0, 60) << "\"");
    }
}

TEST_CASE("llama2 tokenizer.model with variant tokenizer_config.json matches transformers") {
    SUBCASE("legacy: true (Metaspace prepend_scheme always)") {
        auto t = VariantDir("legacy").load();
        CHECK(t->encode("<s>x", true, true) == std::vector<int32_t>{1, 1, 921});  // "▁x" after a special
        tokt::check_golden(*t, "llama2-spm-legacy");
    }
    SUBCASE("added_tokens_decoder, pad token, no add_bos_token") {
        auto t = VariantDir("extras").load();
        CHECK(t->n_vocab() == 32002);  // <|new|> = 32000, <pad> = 32001 appended
        CHECK(t->is_special(32000));
        CHECK(t->encode("Hello", true, true) == std::vector<int32_t>{15043});
        tokt::check_golden(*t, "llama2-spm-extras");
    }
    SUBCASE("no tokenizer_class: SentencePiece") {
        auto t = VariantDir("noclass").load();
        tokt::check_golden(*t, "llama2-sentencepiece");
    }
}

TEST_CASE("GGUF llama vocabulary follows sentencepiece") {
    TokenizerSource src;
    src.gguf = gguf_from_spm(llama2_dir() + "/tokenizer.model");
    auto t = Tokenizer::create(src);
    CHECK(t->n_vocab() == 32000);
    CHECK(t->bos_text == "<s>");
    CHECK(t->encode(" Hello", true, false) == std::vector<int32_t>{1, 29871, 15043});
    tokt::check_golden(*t, "llama2-sentencepiece");
}

TEST_CASE("corrupt tokenizer.model is an error, not a crash") {
    VariantDir d("legacy");
    std::string model = d.dir + "/tokenizer.model";
    std::remove(model.c_str());
    auto status_of = [&](const std::string &bytes) {
        std::ofstream(model, std::ios::binary | std::ios::trunc) << bytes;
        try {
            d.load();
        } catch (const edgellm::Error &e) {
            return e.status();
        }
        return EDGELLM_OK;
    };
    CHECK(status_of("") == EDGELLM_ERR_INVALID_MODEL);                          // no pieces
    CHECK(status_of(std::string("\x0a\x05\x0a\x03" "ab", 6)) == EDGELLM_ERR_INVALID_MODEL);  // truncated piece
    CHECK(status_of(std::string("\x0a\x80", 2)) == EDGELLM_ERR_INVALID_MODEL);  // truncated varint
    CHECK(status_of(std::string("\x0a\x02\x0a\x00", 4)) == EDGELLM_ERR_INVALID_MODEL);  // empty piece
    CHECK(status_of(std::string("\x0f", 1)) == EDGELLM_ERR_INVALID_MODEL);      // wire type 7
    CHECK(status_of(std::string("\x0a\x03\x0a\x01\xff", 5)) == EDGELLM_ERR_INVALID_MODEL);  // not UTF-8
    // A minimal valid model: pieces "a", "b", "ab" (merge derived), no byte pieces, no unk:
    // characters outside the vocab are dropped, as `tokenizers` does without an unk token.
    std::string ok = std::string("\x0a\x03\x0a\x01", 4) + "a" + std::string("\x0a\x03\x0a\x01", 4) + "b" +
                     std::string("\x0a\x04\x0a\x02", 4) + "ab";
    std::ofstream(model, std::ios::binary | std::ios::trunc) << ok;
    auto t = d.load();
    CHECK(t->encode("abcab", false, false) == std::vector<int32_t>{2, 2});
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
