// Tokenizer::create: picks the implementation from the source (tokenizer.json, tokenizer.model,
// GGUF vocabulary) and applies tokenizer_config.json.
#include "tokenizer/tokenizer.h"

#include <sys/stat.h>

#include <cstring>

#include "core/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace edgellm {

namespace {
bool is_file(const std::string &p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
bool is_dir(const std::string &p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool ends_with(const std::string &s, const char *suf) {
    size_t n = std::strlen(suf);
    return s.size() >= n && s.compare(s.size() - n, n, suf) == 0;
}
}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::create(const TokenizerSource &source) {
    if (source.gguf) return load_gguf_vocab(*source.gguf);
    std::string dir = source.hf_dir, json, model;
    if (dir.empty()) fail(EDGELLM_ERR_INVALID_ARGUMENT, "tokenizer source names neither a directory nor a GGUF vocab");
    if (is_file(dir)) {
        (ends_with(dir, ".model") ? model : json) = dir;
        size_t slash = dir.find_last_of('/');
        dir = slash == std::string::npos ? "." : dir.substr(0, slash);
    } else if (is_dir(dir)) {
        if (is_file(dir + "/tokenizer.json")) json = dir + "/tokenizer.json";
        else if (is_file(dir + "/tokenizer.model")) model = dir + "/tokenizer.model";
        else fail(EDGELLM_ERR_FILE_NOT_FOUND, "%s has neither tokenizer.json nor tokenizer.model", dir.c_str());
    } else {
        fail(EDGELLM_ERR_FILE_NOT_FOUND, "tokenizer path %s does not exist", dir.c_str());
    }
    HfConfig cfg = read_hf_config(dir + "/tokenizer_config.json");
    if (!json.empty()) return make_hf_bpe(parse_tokenizer_json(json), cfg);
    // transformers builds LlamaTokenizer from tokenizer.model as a `tokenizers` BPE, which differs
    // from SentencePiece on spaces; other tokenizer.model directories go through SentencePiece.
    if (is_hf_llama_class(cfg)) return load_hf_llama_spm(model, cfg);
    return load_spm_file(model, cfg);
}

}  // namespace edgellm
