// A GGUF `llama` vocabulary as llama.cpp's convert_hf_to_gguf.py writes it for a Llama model whose
// tokenizer is a SentencePiece-style tokenizer.json (no tokenizer.model): <unk> typed CONTROL and
// named by tokenizer.ggml.unknown_token_id. It opens, and tokenizes as llama.cpp's SentencePiece
// BPE does (merges by the merged piece's score; characters outside the vocabulary become <unk>).
#include "core/error.h"
#include "test_tokenizer_util.h"

using namespace edgellm;

TEST_CASE("GGUF llama vocabulary whose <unk> is typed CONTROL opens and tokenizes") {
    GgufVocab v;
    v.model = "llama";
    const std::string sp = "\xe2\x96\x81";  // ▁
    v.tokens = {"<unk>", "<s>", "</s>", sp, "a", "b", sp + "a", "ab", sp + "ab"};
    v.scores = {0, 0, 0, -1, -2, -3, -4, -5, -6};
    v.token_types = {3, 3, 3, 1, 1, 1, 1, 1, 1};  // <unk> CONTROL, as the converter types it
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    v.add_bos = 1;
    TokenizerSource src;
    src.gguf = v;
    std::unique_ptr<Tokenizer> t;
    try {
        t = Tokenizer::create(src);
    } catch (const Error &e) {
        FAIL(std::string(e.what()));
    }
    // "▁ab▁a": ▁a (-4) merges before ab (-5), then ▁a + b = ▁ab.
    CHECK(t->encode("ab a", false, false) == std::vector<int32_t>{8, 6});
    CHECK(t->encode("ab a", true, false) == std::vector<int32_t>{1, 8, 6});
    const std::vector<int32_t> unk = t->encode("a\xce\xb6", false, false);  // aζ
    REQUIRE(unk.size() == 2);
    CHECK(unk[0] == 6);
    CHECK(unk[1] == 0);
}
