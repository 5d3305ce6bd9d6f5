// BPE tokenizer following the `tokenizers` crate step for step: added tokens are cut out first
// (leftmost-longest, lstrip/rstrip), each remaining segment is normalized, pre-tokenized into
// words, and each word is merged by rank (lowest rank first, leftmost on ties) with a heap.
#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace edgellm {

namespace {
constexpr size_t kCacheMaxWord = 256;
constexpr size_t kCacheMaxEntries = 65536;  // bounds memory (~a few MB); cleared when full

uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

void replace_all(std::string &s, const std::string &from, const std::string &to) {
    if (from.empty()) return;
    std::string out;
    size_t pos = 0;
    for (;;) {
        size_t f = s.find(from, pos);
        if (f == std::string::npos) break;
        out.append(s, pos, f - pos);
        out += to;
        pos = f + from.size();
    }
    if (pos == 0) return;
    out.append(s, pos, std::string::npos);
    s.swap(out);
}

// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(const std::string &s) {
    if (unicode::valid_utf8(s)) return s;
    std::string out;
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { out += static_cast<char>(c); i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        size_t k = 1;
        if (len) {
            for (; k < len && i + k < n; k++) {
                unsigned b = p[i + k];
                if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
            }
        }
        if (len && k == len) {
            out.append(s, i, len);
        } else {
            out += "\xEF\xBF\xBD";
        }
        i += k;
    }
    return out;
}

bool is_word_char(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return !unicode::is_whitespace(cp);
}

// Code point that ends just before byte offset `end`.
uint32_t prev_cp(std::string_view s, size_t end) {
    size_t b = end - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) b--;
    return unicode::next_cp(s, b);
}
}  // namespace

BpeTokenizer::BpeTokenizer(BpeSpec spec) : spec_(std::move(spec)) {
    if (!spec_.continuing_subword_prefix.empty() || !spec_.end_of_word_suffix.empty())
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "BPE continuing_subword_prefix/end_of_word_suffix are not supported");
    for (const auto &p : spec_.pretok)
        if (p.kind == PreTokStep::ByteLevel) byte_level_ = true;

    id_to_token_ = spec_.vocab;
    token_to_id_.reserve(spec_.vocab.size() * 2);
    for (size_t i = 0; i < spec_.vocab.size(); i++) {
        if (spec_.vocab[i].empty()) continue;
        token_to_id_.emplace(spec_.vocab[i], static_cast<int32_t>(i));
        size_t k = 0;
        uint32_t cp = unicode::next_cp(spec_.vocab[i], k);
        if (k == spec_.vocab[i].size()) char_id_.emplace(cp, static_cast<int32_t>(i));
    }
    for (const auto &a : spec_.added) {
        if (a.id < 0) fail(EDGELLM_ERR_INVALID_MODEL, "added token '%s' has a negative id", a.content.c_str());
        if (a.content.empty()) fail(EDGELLM_ERR_INVALID_MODEL, "added token %d is empty", a.id);
        if (static_cast<size_t>(a.id) >= id_to_token_.size()) id_to_token_.resize(a.id + 1);
        id_to_token_[a.id] = a.content;
        added_to_id_[a.content] = a.id;
    }
    for (const auto *ids : {&spec_.prefix_ids, &spec_.suffix_ids})
        for (int32_t id : *ids)
            if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size())
                fail(EDGELLM_ERR_INVALID_MODEL, "post-processor token id %d outside the vocabulary [0, %zu)", id,
                     id_to_token_.size());
    special_.assign(id_to_token_.size(), 0);
    for (const auto &a : spec_.added)
        if (a.special) special_[a.id] = 1;

    size_t cap = 16;
    while (cap < spec_.merges.size() * 2) cap <<= 1;
    merge_tab_.assign(cap, MergeSlot{~0ull, 0, 0});
    merge_shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1) merge_shift_--;
    for (size_t r = 0; r < spec_.merges.size(); r++) {
        const auto &m = spec_.merges[r];
        auto ia = token_to_id_.find(m.first), ib = token_to_id_.find(m.second);
        auto im = token_to_id_.find(m.first + m.second);
        if (ia == token_to_id_.end() || ib == token_to_id_.end() || im == token_to_id_.end())
            fail(EDGELLM_ERR_INVALID_MODEL, "BPE merge %zu ('%s' '%s') uses a token missing from the vocab", r,
                 m.first.c_str(), m.second.c_str());
        uint64_t key = pair_key(ia->second, ib->second);
        size_t mask = merge_tab_.size() - 1, h = (key * 0x9E3779B97F4A7C15ull) >> merge_shift_;
        while (merge_tab_[h].key != ~0ull && merge_tab_[h].key != key) h = (h + 1) & mask;
        if (merge_tab_[h].key == key) continue;  // a repeated merge keeps its first (lowest) rank
        merge_tab_[h] = MergeSlot{key, static_cast<int32_t>(r), im->second};
    }
    for (int b = 0; b < 256; b++) {
        std::string key;
        if (byte_level_) {
            unicode::append_utf8(key, unicode::byte_to_cp(static_cast<uint8_t>(b)));
        } else {
            key = strprintf("<0x%02X>", b);
        }
        auto it = token_to_id_.find(key);
        byte_id_[b] = it == token_to_id_.end() ? -1 : it->second;
    }
    added_by_first_.assign(256, {});
    std::vector<int32_t> order(spec_.added.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = static_cast<int32_t>(i);
    std::stable_sort(order.begin(), order.end(), [&](int32_t x, int32_t y) {
        return spec_.added[x].content.size() > spec_.added[y].content.size();
    });
    for (int32_t i : order) added_by_first_[static_cast<unsigned char>(spec_.added[i].content[0])].push_back(i);
}

const BpeTokenizer::MergeSlot *BpeTokenizer::find_merge(int32_t a, int32_t b) const {
    uint64_t key = pair_key(a, b);
    size_t mask = merge_tab_.size() - 1, h = (key * 0x9E3779B97F4A7C15ull) >> merge_shift_;
    for (;;) {
        const MergeSlot &s = merge_tab_[h];
        if (s.key == key) return &s;
        if (s.key == ~0ull) return nullptr;
        h = (h + 1) & mask;
    }
}

int32_t BpeTokenizer::token_id(const std::string &s) const {
    auto a = added_to_id_.find(s);
    if (a != added_to_id_.end()) return a->second;
    auto it = token_to_id_.find(s);
    return it == token_to_id_.end() ? -1 : it->second;
}

bool BpeTokenizer::is_special(int32_t id) const {
    return id >= 0 && id < n_vocab() && special_[id];
}

void BpeTokenizer::split_added(std::string_view text, bool parse_special, std::vector<Segment> &out) const {
    size_t last = 0, i = 0;
    while (i < text.size()) {
        const auto &cands = added_by_first_[static_cast<unsigned char>(text[i])];
        const AddedToken *hit = nullptr;
        for (int32_t ci : cands) {
            const AddedToken &a = spec_.added[ci];
            if (a.special && !parse_special) continue;
            if (a.content.size() > text.size() - i || std::memcmp(text.data() + i, a.content.data(), a.content.size()))
                continue;
            if (a.single_word) {
                size_t e = i + a.content.size();
                if (i > 0 && is_word_char(prev_cp(text, i))) continue;
                size_t k = e;
                if (e < text.size() && is_word_char(unicode::next_cp(text, k))) continue;
            }
            hit = &a;
            break;
        }
        if (!hit) {
            i++;
            continue;
        }
        size_t s = i, e = i + hit->content.size();
        if (hit->lstrip) {
            while (s > last) {
                size_t b = s - 1;
                while (b > last && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) b--;
                size_t k = b;
                if (!unicode::is_whitespace(unicode::next_cp(text, k))) break;
                s = b;
            }
        }
        if (hit->rstrip) {
            while (e < text.size()) {
                size_t k = e;
                if (!unicode::is_whitespace(unicode::next_cp(text, k))) break;
                e = k;
            }
        }
        if (s > last) out.push_back({last, s, -1});
        out.push_back({s, e, hit->id});
        last = i = e;
    }
    if (last < text.size()) out.push_back({last, text.size(), -1});
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    unicode::check_utf8(text);
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special) out.insert(out.end(), spec_.prefix_ids.begin(), spec_.prefix_ids.end());
    std::vector<Segment> segs;
    split_added(text, parse_special, segs);
    for (const auto &s : segs) {
        if (s.added_id >= 0) {
            out.push_back(s.added_id);
        } else {
            encode_segment(text.substr(s.begin, s.end - s.begin), s.begin == 0, out);
        }
    }
    if (add_special) out.insert(out.end(), spec_.suffix_ids.begin(), spec_.suffix_ids.end());
    return out;
}

void BpeTokenizer::encode_segment(std::string_view text, bool first, std::vector<int32_t> &out) const {
    std::string norm(text);
    for (const auto &n : spec_.normalizers) {
        switch (n.kind) {
            case NormalizerStep::NFC: norm = unicode::nfc(norm); break;
            case NormalizerStep::Prepend: if (!norm.empty()) norm.insert(0, n.a); break;
            case NormalizerStep::Replace: replace_all(norm, n.a, n.b); break;
            case NormalizerStep::Lowercase: break;
        }
    }
    if (norm.empty()) return;
    std::deque<std::string> store;  // pieces that were rewritten
    std::vector<std::string_view> pieces{norm}, next;
    for (const auto &p : spec_.pretok) {
        next.clear();
        for (size_t pi = 0; pi < pieces.size(); pi++) {
            std::string_view w = pieces[pi];
            switch (p.kind) {
                case PreTokStep::Split:
                    if (p.removed) p.re->split_removed(w, next); else p.re->split_isolated(w, next);
                    break;
                case PreTokStep::ByteLevel:
                    if (p.add_prefix_space && (w.empty() || w[0] != ' ')) {
                        store.push_back(" " + std::string(w));
                        w = store.back();
                    }
                    if (p.re) p.re->split_isolated(w, next); else next.push_back(w);
                    break;
                case PreTokStep::Metaspace: {
                    std::string s(w);
                    replace_all(s, " ", p.replacement);
                    bool prepend = p.prepend_scheme == 0 || (p.prepend_scheme == 1 && first && pi == 0);
                    if (prepend && s.compare(0, p.replacement.size(), p.replacement) != 0) s.insert(0, p.replacement);
                    store.push_back(std::move(s));
                    std::string_view v = store.back();
                    if (!p.split) { next.push_back(v); break; }
                    size_t start = 0, f = 0;
                    while ((f = v.find(p.replacement, f + 1)) != std::string_view::npos) {
                        next.push_back(v.substr(start, f - start));
                        start = f;
                    }
                    next.push_back(v.substr(start));
                    break;
                }
            }
        }
        pieces.swap(next);
    }
    for (auto w : pieces) encode_word(w, out);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t> &out) const {
    if (word.empty()) return;
    std::string key;
    bool cacheable = word.size() <= kCacheMaxWord;
    if (cacheable) {
        key.assign(word);
        std::lock_guard<std::mutex> lock(cache_mu_);
        auto it = cache_.find(key);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> syms;
    syms.reserve(word.size());
    if (spec_.ignore_merges) {
        std::string whole;
        if (byte_level_) {
            for (unsigned char b : word) unicode::append_utf8(whole, unicode::byte_to_cp(b));
        } else {
            whole.assign(word);
        }
        auto it = token_to_id_.find(whole);
        if (it != token_to_id_.end()) syms.push_back(it->second);
    }
    if (syms.empty()) {
        if (byte_level_) {
            for (unsigned char b : word) {
                int32_t id = byte_id_[b] >= 0 ? byte_id_[b] : spec_.unk_id;
                if (id < 0) fail(EDGELLM_ERR_INVALID_MODEL, "byte-level vocab lacks byte 0x%02X and has no unk token", b);
                syms.push_back(id);
            }
        } else {
            bool prev_unk = false;
            for (size_t i = 0; i < word.size();) {
                size_t start = i;
                uint32_t cp = unicode::next_cp(word, i);
                auto it = char_id_.find(cp);
                if (it != char_id_.end()) {
                    syms.push_back(it->second);
                    prev_unk = false;
                    continue;
                }
                bool done = false;
                if (spec_.byte_fallback) {
                    bool all = true;
                    for (size_t k = start; k < i; k++) all = all && byte_id_[static_cast<unsigned char>(word[k])] >= 0;
                    if (all) {
                        for (size_t k = start; k < i; k++) syms.push_back(byte_id_[static_cast<unsigned char>(word[k])]);
                        done = true;
                        prev_unk = false;
                    }
                }
                if (!done && spec_.unk_id >= 0) {
                    if (!(spec_.fuse_unk && prev_unk)) syms.push_back(spec_.unk_id);
                    prev_unk = true;
                }
                // No unk token: `tokenizers` drops the character (transformers' LlamaTokenizer
                // conversion has none; byte_fallback covers every character when all 256
                // <0xXX> pieces exist).
            }
        }
        bpe(syms);
    }
    out.insert(out.end(), syms.begin(), syms.end());
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mu_);
        if (cache_.size() >= kCacheMaxEntries) cache_.clear();
        cache_.emplace(std::move(key), std::move(syms));
    }
}

void BpeTokenizer::bpe(std::vector<int32_t> &syms) const {
    const int n = static_cast<int>(syms.size());
    if (n < 2) return;
    struct Cand {
        int32_t rank, pos, id;
        // Heap order: lowest rank first, then leftmost position (the `tokenizers` tie rule).
        bool operator<(const Cand &o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    // Per-thread scratch, reused across words (encode is const and may run on many threads).
    thread_local std::vector<int> prev, next;
    thread_local std::vector<uint8_t> dead;
    thread_local std::vector<Cand> heap;
    prev.resize(n);
    next.resize(n);
    dead.assign(n, 0);
    heap.clear();
    for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
    auto push = [&](int pos) {
        if (pos < 0 || next[pos] < 0) return;
        if (const MergeSlot *m = find_merge(syms[pos], syms[next[pos]])) {
            heap.push_back({m->rank, pos, m->id});
            std::push_heap(heap.begin(), heap.end());
        }
    };
    for (int i = 0; i + 1 < n; i++) push(i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        Cand c = heap.back();
        heap.pop_back();
        if (dead[c.pos] || next[c.pos] < 0) continue;
        int r = next[c.pos];
        const MergeSlot *m = find_merge(syms[c.pos], syms[r]);
        if (!m || m->rank != c.rank || m->id != c.id) continue;  // stale candidate
        syms[c.pos] = c.id;
        dead[r] = 1;
        next[c.pos] = next[r];
        if (next[r] >= 0) prev[next[r]] = c.pos;
        push(prev[c.pos]);
        push(c.pos);
    }
    int w = 0;
    for (int i = 0; i >= 0 && i < n; i = next[i]) syms[w++] = syms[i];
    syms.resize(w);
}

std::vector<std::string> BpeTokenizer::run_decoders(std::vector<std::string> toks, bool streaming) const {
    for (const auto &d : spec_.decoders) {
        switch (d.kind) {
            case DecoderStep::ByteLevel: {
                std::string all;
                for (const auto &t : toks) {
                    std::string bytes;
                    bool ok = true;
                    for (size_t i = 0; i < t.size() && ok;) {
                        int b = unicode::cp_to_byte(unicode::next_cp(t, i));
                        if (b < 0) ok = false; else bytes += static_cast<char>(b);
                    }
                    all += ok ? bytes : t;
                }
                toks.assign(1, streaming ? all : utf8_lossy(all));
                break;
            }
            case DecoderStep::Metaspace:
                for (size_t i = 0; i < toks.size(); i++) {
                    std::string o;
                    const std::string &t = toks[i];
                    for (size_t k = 0; k < t.size();) {
                        if (t.compare(k, d.a.size(), d.a) == 0) {
                            if (!(i == 0 && d.prepend_scheme != 2 && !streaming)) o += ' ';
                            k += d.a.size();
                        } else {
                            o += t[k++];
                        }
                    }
                    toks[i].swap(o);
                }
                break;
            case DecoderStep::Replace:
                for (auto &t : toks) replace_all(t, d.a, d.b);
                break;
            case DecoderStep::ByteFallback: {
                std::vector<std::string> o;
                std::string run;
                size_t run_n = 0;
                auto flush = [&]() {
                    if (!run_n) return;
                    if (streaming || unicode::valid_utf8(run)) {
                        o.push_back(run);
                    } else {
                        for (size_t k = 0; k < run_n; k++) o.push_back("\xEF\xBF\xBD");
                    }
                    run.clear();
                    run_n = 0;
                };
                for (auto &t : toks) {
                    unsigned v;
                    char tail;
                    if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
                        std::sscanf(t.c_str() + 3, "%2x%c", &v, &tail) == 2 && tail == '>') {
                        run += static_cast<char>(v);
                        run_n++;
                    } else {
                        flush();
                        o.push_back(std::move(t));
                    }
                }
                flush();
                toks.swap(o);
                break;
            }
            case DecoderStep::Fuse: {
                std::string all;
                for (const auto &t : toks) all += t;
                toks.assign(1, all);
                break;
            }
            case DecoderStep::Strip:
                if (streaming || d.a.empty()) break;  // stripping "" removes nothing
                for (auto &t : toks) {
                    size_t s = 0, e = t.size();
                    for (int k = 0; k < d.start && t.compare(s, d.a.size(), d.a) == 0 && s < e; k++) s += d.a.size();
                    for (int k = 0; k < d.stop && e >= s + d.a.size() && t.compare(e - d.a.size(), d.a.size(), d.a) == 0; k++)
                        e -= d.a.size();
                    t = t.substr(s, e - s);
                }
                break;
        }
    }
    return toks;
}

std::string BpeTokenizer::decode(const int32_t *ids, size_t n, bool skip_special) const {
    std::vector<std::string> toks;
    toks.reserve(n);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= n_vocab()) fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d outside [0, %d)", id, n_vocab());
        if (skip_special && special_[id]) continue;
        toks.push_back(id_to_token_[id]);
    }
    std::string out;
    if (!spec_.has_decoder) {
        for (size_t i = 0; i < toks.size(); i++) {
            if (i) out += ' ';
            out += toks[i];
        }
        return out;
    }
    for (const auto &t : run_decoders(std::move(toks), false)) out += t;
    return out;
}

std::string BpeTokenizer::token_piece(int32_t id) const {
    if (id < 0 || id >= n_vocab()) fail(EDGELLM_ERR_INVALID_TOKEN, "token id %d outside [0, %d)", id, n_vocab());
    if (!spec_.has_decoder) return id_to_token_[id];
    std::string out;
    for (const auto &t : run_decoders({id_to_token_[id]}, true)) out += t;
    return out;
}

}  // namespace edgellm
