// tokenizer.model of a Hugging Face LlamaTokenizer directory, built the way transformers 5 builds it:
// the SentencePiece pieces become a `tokenizers` BPE (vocab in id order, merges derived from the
// vocab, byte_fallback, fuse_unk, no unk token) behind a Metaspace pre-tokenizer, with the
// Replace/ByteFallback/Fuse/Strip decoder, and runs on BpeTokenizer. The ModelProto is read by
// the small protobuf reader below (only the pieces are needed).
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace edgellm {

namespace {

struct SpmPiece {
    std::string piece;
    int type = 1;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6
};

// Protobuf wire-format reader over a byte range; every read is bounds-checked.
class PbReader {
public:
    PbReader(const char *p, size_t n) : p_(reinterpret_cast<const uint8_t *>(p)), end_(p_ + n) {}
    bool done() const { return p_ >= end_; }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) bad("truncated varint");
            uint8_t b = *p_++;
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        bad("varint longer than 10 bytes");
    }
    std::string_view bytes() {
        uint64_t n = varint();
        if (n > static_cast<uint64_t>(end_ - p_)) bad("length-delimited field past the end");
        std::string_view v(reinterpret_cast<const char *>(p_), static_cast<size_t>(n));
        p_ += n;
        return v;
    }
    void skip(int wire) {
        switch (wire) {
            case 0: varint(); break;
            case 1: advance(8); break;
            case 2: bytes(); break;
            case 5: advance(4); break;
            default: bad("unsupported wire type");
        }
    }

private:
    void advance(size_t n) {
        if (n > static_cast<size_t>(end_ - p_)) bad("fixed-size field past the end");
        p_ += n;
    }
    [[noreturn]] static void bad(const char *what) {
        fail(EDGELLM_ERR_INVALID_MODEL, "tokenizer.model is not a valid SentencePiece model (%s)", what);
    }
    const uint8_t *p_, *end_;
};

// ModelProto.pieces (field 1): SentencePiece { piece = 1; score = 2; type = 3 }.
std::vector<SpmPiece> read_pieces(const std::string &proto) {
    std::vector<SpmPiece> out;
    PbReader r(proto.data(), proto.size());
    while (!r.done()) {
        uint64_t tag = r.varint();
        if ((tag >> 3) != 1 || (tag & 7) != 2) {
            r.skip(static_cast<int>(tag & 7));
            continue;
        }
        std::string_view msg = r.bytes();
        PbReader m(msg.data(), msg.size());
        SpmPiece p;
        while (!m.done()) {
            uint64_t t = m.varint();
            if (t == ((1u << 3) | 2)) p.piece = std::string(m.bytes());
            else if (t == ((3u << 3) | 0)) p.type = static_cast<int>(m.varint());
            else m.skip(static_cast<int>(t & 7));
        }
        out.push_back(std::move(p));
    }
    if (out.empty()) fail(EDGELLM_ERR_INVALID_MODEL, "tokenizer.model has no pieces");
    if (out.size() > (1u << 24)) fail(EDGELLM_ERR_INVALID_MODEL, "tokenizer.model has too many pieces");
    return out;
}

// transformers' merge derivation for a vocab without merges: every split of a piece into two
// vocab pieces is a merge; merges are ranked by the merged piece's id, then by the length of the
// left part (both in code points, as Python slices strings).
std::vector<std::pair<std::string, std::string>> derive_merges(const std::vector<std::string> &vocab) {
    std::unordered_map<std::string_view, int32_t> id_of;
    id_of.reserve(vocab.size() * 2);
    for (size_t i = 0; i < vocab.size(); i++) id_of[vocab[i]] = static_cast<int32_t>(i);  // last id wins
    struct M { int32_t rank; size_t split; std::string_view l, r; };
    std::vector<M> ms;
    std::vector<uint8_t> seen(vocab.size(), 0);
    for (size_t i = 0; i < vocab.size(); i++) {
        std::string_view w = vocab[i];
        auto it = id_of.find(w);
        if (w.empty() || it == id_of.end() || seen[it->second]) continue;  // a repeated piece counts once
        seen[it->second] = 1;
        size_t k = 0;
        unicode::next_cp(w, k);  // at least one code point on the left
        while (k < w.size()) {
            std::string_view l = w.substr(0, k), r = w.substr(k);
            if (id_of.count(l) && id_of.count(r)) ms.push_back({it->second, k, l, r});
            unicode::next_cp(w, k);
        }
    }
    std::stable_sort(ms.begin(), ms.end(), [](const M &a, const M &b) {
        return a.rank != b.rank ? a.rank < b.rank : a.split < b.split;
    });
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(ms.size());
    for (const auto &m : ms) out.emplace_back(std::string(m.l), std::string(m.r));
    return out;
}

std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(EDGELLM_ERR_FILE_NOT_FOUND, "cannot open %s", path.c_str());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

bool is_hf_llama_class(const HfConfig &cfg) {
    return cfg.tokenizer_class == "LlamaTokenizer" || cfg.tokenizer_class == "LlamaTokenizerFast";
}

std::unique_ptr<Tokenizer> load_hf_llama_spm(const std::string &path, const HfConfig &cfg) {
    std::string proto = read_file(path);
    std::vector<SpmPiece> pieces = read_pieces(proto);
    for (const auto &p : pieces) {
        if (p.piece.empty() || !unicode::valid_utf8(p.piece))
            fail(EDGELLM_ERR_INVALID_MODEL, "%s has an empty or non-UTF-8 piece", path.c_str());
    }

    BpeSpec s;
    s.vocab.reserve(pieces.size());
    for (const auto &p : pieces) s.vocab.push_back(p.piece);
    s.merges = derive_merges(s.vocab);
    s.byte_fallback = true;  // transformers sets both whatever the model says;
    s.fuse_unk = true;       // no unk token is given to the BPE model: unknown characters are dropped

    // LlamaTokenizer defaults: legacy=False, add_prefix_space=True.
    bool add_prefix_space = cfg.add_prefix_space.value_or(true);
    bool legacy = cfg.legacy.value_or(false);
    PreTokStep ms{};
    ms.kind = PreTokStep::Metaspace;
    ms.replacement = "\xE2\x96\x81";
    ms.prepend_scheme = !add_prefix_space ? 2 : legacy ? 0 : 1;  // never / always / first
    ms.split = false;
    s.pretok.push_back(ms);
    s.has_decoder = true;
    s.decoders.push_back({DecoderStep::Replace, "\xE2\x96\x81", " ", 0, 0, 0});
    s.decoders.push_back({DecoderStep::ByteFallback, "", "", 0, 0, 0});
    s.decoders.push_back({DecoderStep::Fuse, "", "", 0, 0, 0});
    if (add_prefix_space) s.decoders.push_back({DecoderStep::Strip, " ", "", 1, 0, 0});

    // Added tokens, in the order transformers registers them: CONTROL pieces (special) and
    // USER_DEFINED pieces (not special), then added_tokens_decoder (its flags win), then the named
    // special tokens. A token already in the vocab keeps its id; others get the next free ids.
    std::unordered_map<std::string, int32_t> vocab_id;
    for (size_t i = 0; i < s.vocab.size(); i++) vocab_id.emplace(s.vocab[i], static_cast<int32_t>(i));
    std::vector<AddedToken> added;
    std::unordered_map<std::string, size_t> added_at;
    int32_t next_id = static_cast<int32_t>(s.vocab.size());
    auto add = [&](AddedToken t, bool override_flags) {
        if (t.content.empty()) return;
        auto it = added_at.find(t.content);
        if (it != added_at.end()) {
            if (override_flags) {
                t.id = added[it->second].id;
                added[it->second] = t;
            }
            return;
        }
        auto v = vocab_id.find(t.content);
        t.id = v != vocab_id.end() ? v->second : next_id++;
        added_at.emplace(t.content, added.size());
        added.push_back(t);
    };
    for (const auto &p : pieces) {
        if (p.type != 3 && p.type != 4) continue;
        AddedToken t;
        t.content = p.piece;
        t.special = p.type == 3;
        add(t, false);
    }
    for (const auto &t : cfg.added_tokens_decoder) add(t, true);
    // Named tokens: LlamaTokenizer's defaults when absent, none when set to null.
    auto named_or = [](bool is_null, const std::optional<std::string> &v, const char *def) {
        return is_null ? std::nullopt : std::optional<std::string>(v.value_or(def));
    };
    const std::optional<std::string> bos = named_or(cfg.bos_null, cfg.bos_token, "<s>");
    const std::optional<std::string> eos = named_or(cfg.eos_null, cfg.eos_token, "</s>");
    const std::optional<std::string> unk = named_or(cfg.unk_null, cfg.unk_token, "<unk>");
    std::vector<std::string> named;
    for (const auto *n : {&bos, &eos, &unk, &cfg.pad_token})
        if (*n) named.push_back(**n);
    for (const auto &n : named) {
        AddedToken t;
        t.content = n;
        t.special = true;
        add(t, false);
    }
    for (auto &t : added)  // named tokens are special whatever their entry says
        if (std::find(named.begin(), named.end(), t.content) != named.end()) t.special = true;
    s.added = std::move(added);

    auto id_of = [&](const std::optional<std::string> &n) -> int32_t {
        if (!n) return -1;
        auto it = added_at.find(*n);
        return it == added_at.end() ? -1 : s.added[it->second].id;
    };
    int32_t bos_id = id_of(bos), eos_id = id_of(eos);
    // transformers 5: no BOS/EOS unless tokenizer_config.json asks for them.
    if (cfg.add_bos.value_or(false) && bos_id >= 0) s.prefix_ids.push_back(bos_id);
    if (cfg.add_eos.value_or(false) && eos_id >= 0) s.suffix_ids.push_back(eos_id);

    auto t = std::make_unique<BpeTokenizer>(std::move(s));
    t->bos_id = bos_id;
    t->eos_id = eos_id;
    if (bos_id >= 0) t->bos_text = *bos;
    if (eos_id >= 0) t->eos_text = *eos;
    t->chat_template = cfg.chat_template;
    BpeTokenizer *bt = t.get();
    fill_eog(*t, [bt](const std::string &x) { return bt->token_id(x); });
    return t;
}

}  // namespace edgellm
