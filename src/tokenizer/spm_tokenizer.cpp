// SentencePiece tokenizers (tokenizer.model, GGUF `llama` vocabularies) through libsentencepiece.
// Special-token parsing and the HF LlamaTokenizer `legacy` flag are handled here: with legacy off,
// text that follows a special token gets no dummy "▁" prefix (a second processor whose
// normalizer_spec.add_dummy_prefix is overridden by appending a protobuf field).
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace edgellm {

namespace {

void put_varint(std::string &o, uint64_t v) {
    while (v >= 0x80) {
        o += static_cast<char>((v & 0x7F) | 0x80);
        v >>= 7;
    }
    o += static_cast<char>(v);
}
void put_tag(std::string &o, int field, int wire) { put_varint(o, (static_cast<uint64_t>(field) << 3) | wire); }
void put_bytes(std::string &o, int field, const std::string &b) {
    put_tag(o, field, 2);
    put_varint(o, b.size());
    o += b;
}

class SpmTokenizer : public Tokenizer {
public:
    SpmTokenizer(const std::string &proto, bool legacy, bool add_bos, bool add_eos)
        : legacy_(legacy), add_bos_(add_bos), add_eos_(add_eos) {
        auto st = sp_.LoadFromSerializedProto(proto);
        if (!st.ok()) fail(EDGELLM_ERR_INVALID_MODEL, "SentencePiece model rejected: %s", st.ToString().c_str());
        std::string norm;  // NormalizerSpec { add_dummy_prefix: false }, merged into the original
        put_tag(norm, 3, 0);
        put_varint(norm, 0);
        std::string override_proto = proto;
        put_bytes(override_proto, 3, norm);
        st = sp_noprefix_.LoadFromSerializedProto(override_proto);
        if (!st.ok()) fail(EDGELLM_ERR_INVALID_MODEL, "SentencePiece model rejected: %s", st.ToString().c_str());

        int n = sp_.GetPieceSize();
        pieces_.resize(n);
        special_.assign(n, 0);
        byte_.assign(n, -1);
        for (int i = 0; i < n; i++) {
            pieces_[i] = sp_.IdToPiece(i);
            if (sp_.IsControl(i) || sp_.IsUnknown(i)) {
                special_[i] = 1;
                if (!pieces_[i].empty()) specials_.push_back(i);
            }
            if (sp_.IsByte(i)) {
                unsigned v;
                if (std::sscanf(pieces_[i].c_str(), "<0x%2X>", &v) == 1) byte_[i] = static_cast<int>(v);
            }
        }
        std::sort(specials_.begin(), specials_.end(),
                  [&](int a, int b) { return pieces_[a].size() > pieces_[b].size(); });
        bos_id = sp_.bos_id();
        eos_id = sp_.eos_id();
        if (bos_id >= 0) bos_text = pieces_[bos_id];
        if (eos_id >= 0) eos_text = pieces_[eos_id];
        fill_eog(*this, [this](const std::string &s) {
            int id = sp_.PieceToId(s);
            return id >= 0 && pieces_[id] == s ? id : -1;
        });
        // The override processor differs only when the model adds a dummy prefix.
        std::vector<std::string> a, b;
        (void)sp_.Encode("a", &a);
        (void)sp_noprefix_.Encode("a", &b);
        dummy_prefix_ = a != b;
    }

    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
        unicode::check_utf8(text);
        std::vector<int32_t> out;
        if (add_special && add_bos_ && bos_id >= 0) out.push_back(bos_id);
        size_t last = 0;
        auto emit_text = [&](size_t b, size_t e) {
            if (e <= b) return;
            std::vector<int> ids;
            const auto &sp = (legacy_ || b == 0) ? sp_ : sp_noprefix_;
            auto st = sp.Encode(std::string_view(text.data() + b, e - b), &ids);
            if (!st.ok()) fail(EDGELLM_ERR_INTERNAL, "SentencePiece encode failed: %s", st.ToString().c_str());
            out.insert(out.end(), ids.begin(), ids.end());
        };
        if (parse_special) {
            for (size_t i = 0; i < text.size(); i++) {
                for (int id : specials_) {
                    const std::string &p = pieces_[id];
                    if (p.size() <= text.size() - i && std::memcmp(text.data() + i, p.data(), p.size()) == 0) {
                        emit_text(last, i);
                        out.push_back(id);
                        last = i + p.size();
                        i = last - 1;
                        break;
                    }
                }
            }
        }
        emit_text(last, text.size());
        if (add_special && add_eos_ && eos_id >= 0) out.push_back(eos_id);
        return out;
    }

    // HF semantics: pieces concatenated ("▁" -> " ", byte pieces fused), only the first token's
    // leading space removed (when the model adds a dummy prefix); specials as their text.
    std::string decode(const int32_t *ids, size_t n, bool skip_special) const override {
        std::string out, bytes;
        size_t n_bytes = 0;
        bool first = true;
        auto flush = [&]() {
            if (!n_bytes) return;
            if (unicode::valid_utf8(bytes)) {
                out += bytes;
            } else {
                for (size_t k = 0; k < n_bytes; k++) out += "\xEF\xBF\xBD";
            }
            bytes.clear();
            n_bytes = 0;
        };
        for (size_t i = 0; i < n; i++) {
            int32_t id = ids[i];
            check_id(id);
            if (skip_special && special_[id]) continue;
            if (byte_[id] >= 0) {
                bytes += static_cast<char>(byte_[id]);
                n_bytes++;
                first = false;
                continue;
            }
            flush();
            std::string p = piece_text(id);
            if (first && !special_[id] && !p.empty() && p[0] == ' ' && dummy_prefix()) p.erase(0, 1);
            first = false;
            out += p;
        }
        flush();
        return out;
    }

    std::string token_piece(int32_t id) const override {
        check_id(id);
        if (byte_[id] >= 0) return std::string(1, static_cast<char>(byte_[id]));
        return piece_text(id);
    }

    int32_t n_vocab() const override { return static_cast<int32_t>(pieces_.size()); }
    bool is_special(int32_t id) const override { return id >= 0 && id < n_vocab() && special_[id]; }

private:
    void check_id(int32_t id) const {
        if (id < 0 || id >= n_vocab()) fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d outside [0, %d)", id, n_vocab());
    }
    bool dummy_prefix() const { return dummy_prefix_; }
    std::string piece_text(int32_t id) const {
        const std::string &p = pieces_[id];
        if (special_[id]) return p;
        std::string o;
        for (size_t k = 0; k < p.size();) {
            if (p.compare(k, 3, "\xE2\x96\x81") == 0) {
                o += ' ';
                k += 3;
            } else {
                o += p[k++];
            }
        }
        return o;
    }

    sentencepiece::SentencePieceProcessor sp_, sp_noprefix_;
    bool legacy_, add_bos_, add_eos_, dummy_prefix_ = true;
    std::vector<std::string> pieces_;
    std::vector<uint8_t> special_;
    std::vector<int> byte_;
    std::vector<int> specials_;  // control/unknown pieces matched when parse_special, longest first
};

}  // namespace

std::unique_ptr<Tokenizer> load_spm_proto(const std::string &proto, bool legacy, bool add_bos, bool add_eos) {
    return std::make_unique<SpmTokenizer>(proto, legacy, add_bos, add_eos);
}

std::unique_ptr<Tokenizer> load_spm_file(const std::string &path, const HfConfig &cfg) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(EDGELLM_ERR_FILE_NOT_FOUND, "cannot open %s", path.c_str());
    std::stringstream ss;
    ss << f.rdbuf();
    // HF LlamaTokenizer defaults: add_bos_token=True, add_eos_token=False, legacy=True.
    auto t = load_spm_proto(ss.str(), cfg.legacy.value_or(true), cfg.add_bos.value_or(true), cfg.add_eos.value_or(false));
    t->chat_template = cfg.chat_template;
    return t;
}

// GGUF `llama` vocabularies: a ModelProto serialized by hand (pieces with scores and types, BPE,
// identity normalizer), so libsentencepiece applies its own merge rule.
std::string gguf_to_spm_proto(const GgufVocab &v) {
    std::string o;
    int n_bytes = 0;
    // SentencePiece needs exactly one piece typed UNKNOWN: the one llama.cpp uses, named by
    // tokenizer.ggml.unknown_token_id (default 0). llama.cpp's converter types <unk> of a
    // tokenizer.json-based vocabulary CONTROL, and Phi-3's GGUF types its placeholder tokens
    // UNKNOWN as well; those others become CONTROL, which text never produces either.
    const int32_t unk = v.unk_id >= 0 ? v.unk_id : 0;
    for (size_t i = 0; i < v.tokens.size(); i++) {
        std::string piece;
        put_bytes(piece, 1, v.tokens[i]);
        float score = i < v.scores.size() ? v.scores[i] : 0.0f;
        uint32_t bits;
        std::memcpy(&bits, &score, 4);
        put_tag(piece, 2, 5);
        for (int k = 0; k < 4; k++) piece += static_cast<char>((bits >> (8 * k)) & 0xFF);
        int type = i < v.token_types.size() ? v.token_types[i] : 1;
        if (type < 1 || type > 6) type = 1;
        if ((int64_t)i == unk) type = 2;
        else if (type == 2) type = 3;
        if (type == 6) n_bytes++;
        put_tag(piece, 3, 0);
        put_varint(piece, static_cast<uint64_t>(type));
        put_bytes(o, 1, piece);
    }
    std::string trainer;
    put_tag(trainer, 3, 0);
    put_varint(trainer, 2);  // BPE
    put_tag(trainer, 4, 0);
    put_varint(trainer, v.tokens.size());
    put_tag(trainer, 35, 0);
    put_varint(trainer, n_bytes == 256 ? 1 : 0);
    auto put_id = [&](int field, int32_t id) {
        put_tag(trainer, field, 0);
        put_varint(trainer, static_cast<uint64_t>(static_cast<int64_t>(id)));  // negative: 10-byte varint
    };
    put_id(40, v.unk_id >= 0 ? v.unk_id : 0);
    put_id(41, v.bos_id);
    put_id(42, v.eos_id);
    put_id(43, v.pad_id);
    put_bytes(o, 2, trainer);
    std::string norm;
    put_bytes(norm, 1, "identity");
    put_tag(norm, 3, 0);
    put_varint(norm, v.add_space_prefix == 0 ? 0 : 1);
    put_tag(norm, 4, 0);
    put_varint(norm, 0);
    put_tag(norm, 5, 0);
    put_varint(norm, 1);
    put_bytes(o, 3, norm);
    return o;
}

}  // namespace edgellm
