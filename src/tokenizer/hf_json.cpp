// Reads a Hugging Face tokenizer.json (BPE model, normalizer, pre-tokenizer, post-processor,
// decoder, added tokens) into a BpeSpec, and tokenizer_config.json into HfConfig. Any component
// this library does not implement is refused by name (UNSUPPORTED_MODEL), never ignored.
#include <simdjson.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace edgellm {

namespace {
using simdjson::dom::element;
using simdjson::dom::object;

[[noreturn]] void bad(const std::string &path, const std::string &what) {
    fail(EDGELLM_ERR_INVALID_MODEL, "%s: %s", path.c_str(), what.c_str());
}

std::string str_of(element e, const char *key, const std::string &path) {
    std::string_view v;
    if (e[key].get_string().get(v)) bad(path, std::string("missing string '") + key + "'");
    return std::string(v);
}
bool bool_or(element e, const char *key, bool def) {
    bool v;
    return e[key].get_bool().get(v) ? def : v;
}
bool has(element e, const char *key) {
    element x;
    return !e[key].get(x) && !x.is_null();
}
std::string type_of(element e, const std::string &path) { return str_of(e, "type", path); }

// Splits a "Sequence" into its parts (key names the array), or returns {e}.
std::vector<element> flatten(element e, const char *seq_key, const std::string &path) {
    std::vector<element> out;
    if (e.is_null()) return out;
    if (type_of(e, path) == "Sequence") {
        simdjson::dom::array arr;
        if (e[seq_key].get_array().get(arr)) bad(path, std::string("Sequence without ") + seq_key);
        for (element x : arr)
            for (element y : flatten(x, seq_key, path)) out.push_back(y);
    } else {
        out.push_back(e);
    }
    return out;
}

std::string escape_regex(const std::string &s) {
    std::string o;
    for (char c : s) {
        if (std::strchr("\\^$.|?*+()[]{}", c)) o += '\\';
        o += c;
    }
    return o;
}

// {"String": s} or {"Regex": r} as a PCRE pattern.
std::string pattern_of(element e, const std::string &path, bool *is_regex) {
    std::string_view v;
    if (!e["pattern"]["String"].get_string().get(v)) { *is_regex = false; return std::string(v); }
    if (!e["pattern"]["Regex"].get_string().get(v)) { *is_regex = true; return std::string(v); }
    bad(path, "pattern is neither String nor Regex");
}

int prepend_scheme_of(element e) {
    std::string_view v;
    if (!e["prepend_scheme"].get_string().get(v)) return v == "always" ? 0 : v == "first" ? 1 : 2;
    return bool_or(e, "add_prefix_space", true) ? 0 : 2;
}

const char *kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
}  // namespace

// simdjson 3.0 rejects integers beyond 64 bits, which tokenizer_config.json files carry
// (model_max_length = 1e30): such literals outside strings become 0 (their value is unused).
static std::string tame_big_ints(std::string s) {
    bool in_str = false;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') { in_str = true; continue; }
        if (c >= '0' && c <= '9') {
            size_t j = i;
            while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                                    s[j] == '+' || s[j] == '-'))
                j++;
            if (j - i > 18) s.replace(i, j - i, std::string(j - i, ' ')).at(i) = '0';
            i = j - 1;
        }
    }
    return s;
}

HfConfig read_hf_config(const std::string &path) {
    HfConfig c;
    std::ifstream probe(path, std::ios::binary);
    if (!probe) return c;
    std::string text((std::istreambuf_iterator<char>(probe)), std::istreambuf_iterator<char>());
    simdjson::padded_string padded(tame_big_ints(std::move(text)));
    simdjson::dom::parser parser;
    element doc;
    auto jerr = parser.parse(padded).get(doc);
    if (jerr) bad(path, std::string("not valid JSON: ") + simdjson::error_message(jerr));
    bool b;
    if (!doc["add_bos_token"].get_bool().get(b)) c.add_bos = b;
    if (!doc["add_eos_token"].get_bool().get(b)) c.add_eos = b;
    if (!doc["legacy"].get_bool().get(b)) c.legacy = b;
    if (!doc["add_prefix_space"].get_bool().get(b)) c.add_prefix_space = b;
    auto token = [&](const char *key, bool *is_null) -> std::optional<std::string> {
        std::string_view v;
        element x;
        if (is_null && !doc[key].get(x) && x.is_null()) *is_null = true;
        if (!doc[key].get_string().get(v)) return std::string(v);
        if (!doc[key]["content"].get_string().get(v)) return std::string(v);
        return std::nullopt;
    };
    c.bos_token = token("bos_token", &c.bos_null);
    c.eos_token = token("eos_token", &c.eos_null);
    c.unk_token = token("unk_token", &c.unk_null);
    c.pad_token = token("pad_token", nullptr);
    std::string_view v;
    if (!doc["tokenizer_class"].get_string().get(v)) c.tokenizer_class = std::string(v);
    object atd;
    if (!doc["added_tokens_decoder"].get_object().get(atd)) {
        // {"32000": {"content": ..., "special": ..., "lstrip": ...}, ...}
        for (auto kv : atd) {
            AddedToken t;
            std::string key(kv.key);
            char *endp = nullptr;
            long id = std::strtol(key.c_str(), &endp, 10);
            if (key.empty() || *endp || id < 0 || id >= kMaxVocab)
                bad(path, "added_tokens_decoder key '" + key + "' is not an id in [0, vocabulary limit " +
                              std::to_string(kMaxVocab) + ")");
            t.id = static_cast<int32_t>(id);
            t.content = str_of(kv.value, "content", path);
            t.special = bool_or(kv.value, "special", false);
            t.lstrip = bool_or(kv.value, "lstrip", false);
            t.rstrip = bool_or(kv.value, "rstrip", false);
            t.normalized = bool_or(kv.value, "normalized", !t.special);
            t.single_word = bool_or(kv.value, "single_word", false);
            c.added_tokens_decoder.push_back(t);
        }
        std::sort(c.added_tokens_decoder.begin(), c.added_tokens_decoder.end(),
                  [](const AddedToken &a, const AddedToken &b) { return a.id < b.id; });
    }
    simdjson::dom::array arr;
    if (!doc["chat_template"].get_string().get(v)) {
        c.chat_template = std::string(v);
    } else if (!doc["chat_template"].get_array().get(arr)) {
        // [{"name": "default", "template": ...}, ...]
        for (element t : arr) {
            std::string_view name, tmpl;
            if (t["name"].get_string().get(name) || t["template"].get_string().get(tmpl)) continue;
            if (name == "default" || c.chat_template.empty()) c.chat_template = std::string(tmpl);
        }
    }
    return c;
}

BpeSpec parse_tokenizer_json(const std::string &path) {
    simdjson::dom::parser parser;
    element doc;
    auto err = parser.load(path).get(doc);
    if (err == simdjson::IO_ERROR) fail(EDGELLM_ERR_FILE_NOT_FOUND, "cannot read %s", path.c_str());
    if (err) bad(path, std::string("not valid JSON: ") + simdjson::error_message(err));
    BpeSpec s;

    element model;
    if (doc["model"].get(model)) bad(path, "no model");
    std::string_view mtype;
    if (!model["type"].get_string().get(mtype) && mtype != "BPE")
        fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: model type %.*s is not supported (only BPE)", path.c_str(),
             static_cast<int>(mtype.size()), mtype.data());
    object vocab;
    if (model["vocab"].get_object().get(vocab)) bad(path, "model.vocab is not an object");
    for (auto kv : vocab) {
        int64_t id;
        if (kv.value.get_int64().get(id) || id < 0 || id >= kMaxVocab)
            bad(path, "vocab id outside [0, vocabulary limit " + std::to_string(kMaxVocab) + ")");
        if (static_cast<size_t>(id) >= s.vocab.size()) s.vocab.resize(id + 1);
        s.vocab[id] = std::string(kv.key);
    }
    simdjson::dom::array merges;
    if (model["merges"].get_array().get(merges)) bad(path, "model.merges is not an array");
    s.merges.reserve(merges.size());
    for (element m : merges) {
        std::string_view v;
        if (!m.get_string().get(v)) {
            size_t sp = v.find(' ');
            if (sp == std::string_view::npos || v.find(' ', sp + 1) != std::string_view::npos) bad(path, "bad merge");
            s.merges.emplace_back(std::string(v.substr(0, sp)), std::string(v.substr(sp + 1)));
        } else {
            simdjson::dom::array pr;
            std::string_view a, b;
            if (m.get_array().get(pr) || pr.size() != 2 || pr.at(0).get_string().get(a) || pr.at(1).get_string().get(b))
                bad(path, "bad merge");
            s.merges.emplace_back(std::string(a), std::string(b));
        }
    }
    s.byte_fallback = bool_or(model, "byte_fallback", false);
    s.fuse_unk = bool_or(model, "fuse_unk", false);
    s.ignore_merges = bool_or(model, "ignore_merges", false);
    std::string_view v;
    if (!model["continuing_subword_prefix"].get_string().get(v)) s.continuing_subword_prefix = std::string(v);
    if (!model["end_of_word_suffix"].get_string().get(v)) s.end_of_word_suffix = std::string(v);
    std::string unk;
    if (!model["unk_token"].get_string().get(v)) unk = std::string(v);

    simdjson::dom::array added;
    if (!doc["added_tokens"].get_array().get(added)) {
        for (element a : added) {
            AddedToken t;
            int64_t id;
            if (a["id"].get_int64().get(id)) bad(path, "added token without id");
            if (id < 0 || id >= kMaxVocab)
                bad(path, "added token id " + std::to_string(id) + " outside [0, vocabulary limit " +
                              std::to_string(kMaxVocab) + ")");
            t.id = static_cast<int32_t>(id);
            t.content = str_of(a, "content", path);
            t.special = bool_or(a, "special", false);
            t.lstrip = bool_or(a, "lstrip", false);
            t.rstrip = bool_or(a, "rstrip", false);
            t.normalized = bool_or(a, "normalized", !t.special);
            t.single_word = bool_or(a, "single_word", false);
            s.added.push_back(t);
        }
    }
    if (!unk.empty()) {
        for (size_t i = 0; i < s.vocab.size(); i++)
            if (s.vocab[i] == unk) s.unk_id = static_cast<int32_t>(i);
        for (const auto &a : s.added)
            if (a.content == unk) s.unk_id = a.id;
    }

    element e;
    if (!doc["normalizer"].get(e)) {
        for (element n : flatten(e, "normalizers", path)) {
            std::string t = type_of(n, path);
            if (t == "NFC") {
                s.normalizers.push_back({NormalizerStep::NFC, "", ""});
            } else if (t == "Prepend") {
                s.normalizers.push_back({NormalizerStep::Prepend, str_of(n, "prepend", path), ""});
            } else if (t == "Replace") {
                bool re;
                std::string p = pattern_of(n, path, &re);
                if (re) fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: Replace normalizer with a Regex pattern", path.c_str());
                s.normalizers.push_back({NormalizerStep::Replace, p, str_of(n, "content", path)});
            } else {
                fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: normalizer %s is not supported", path.c_str(), t.c_str());
            }
        }
    }
    if (!doc["pre_tokenizer"].get(e)) {
        for (element p : flatten(e, "pretokenizers", path)) {
            std::string t = type_of(p, path);
            PreTokStep st{};
            if (t == "Split") {
                bool re;
                std::string pat = pattern_of(p, path, &re);
                std::string behavior = str_of(p, "behavior", path);
                if (bool_or(p, "invert", false) || (behavior != "Isolated" && behavior != "Removed"))
                    fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: Split pre-tokenizer behavior %s%s is not supported",
                         path.c_str(), behavior.c_str(), bool_or(p, "invert", false) ? " (inverted)" : "");
                st.kind = PreTokStep::Split;
                st.re = std::make_shared<Regex>(re ? pat : escape_regex(pat));
                st.removed = behavior == "Removed";
            } else if (t == "Digits") {
                st.kind = PreTokStep::Split;
                st.re = std::make_shared<Regex>(bool_or(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+");
            } else if (t == "ByteLevel") {
                st.kind = PreTokStep::ByteLevel;
                st.add_prefix_space = bool_or(p, "add_prefix_space", true);
                if (bool_or(p, "use_regex", true)) st.re = std::make_shared<Regex>(kGpt2Regex);
            } else if (t == "Metaspace") {
                st.kind = PreTokStep::Metaspace;
                st.replacement = str_of(p, "replacement", path);
                st.prepend_scheme = prepend_scheme_of(p);
                st.split = bool_or(p, "split", true);
            } else {
                fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: pre-tokenizer %s is not supported", path.c_str(), t.c_str());
            }
            s.pretok.push_back(st);
        }
    }
    if (!doc["post_processor"].get(e)) {
        for (element p : flatten(e, "processors", path)) {
            std::string t = type_of(p, path);
            if (t == "ByteLevel") continue;  // offsets only
            if (t != "TemplateProcessing")
                fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: post-processor %s is not supported", path.c_str(), t.c_str());
            simdjson::dom::array single;
            if (p["single"].get_array().get(single)) bad(path, "TemplateProcessing without single");
            bool after = false;
            s.prefix_ids.clear();
            s.suffix_ids.clear();
            for (element item : single) {
                element st;
                if (!item["Sequence"].get(st)) { after = true; continue; }
                std::string name = str_of(item["SpecialToken"], "id", path);
                simdjson::dom::array ids;
                if (p["special_tokens"][name]["ids"].get_array().get(ids)) bad(path, "TemplateProcessing token " + name);
                for (element x : ids) {
                    int64_t id;
                    if (x.get_int64().get(id)) bad(path, "TemplateProcessing id");
                    if (id < 0 || id >= kMaxVocab)
                        bad(path, "TemplateProcessing id " + std::to_string(id) + " outside [0, vocabulary limit " +
                                      std::to_string(kMaxVocab) + ")");
                    (after ? s.suffix_ids : s.prefix_ids).push_back(static_cast<int32_t>(id));
                }
            }
        }
    }
    if (!doc["decoder"].get(e) && !e.is_null()) {
        s.has_decoder = true;
        for (element d : flatten(e, "decoders", path)) {
            std::string t = type_of(d, path);
            DecoderStep st{};
            if (t == "ByteLevel") {
                st.kind = DecoderStep::ByteLevel;
            } else if (t == "Metaspace") {
                st.kind = DecoderStep::Metaspace;
                st.a = str_of(d, "replacement", path);
                st.prepend_scheme = prepend_scheme_of(d);
            } else if (t == "Replace") {
                bool re;
                st.kind = DecoderStep::Replace;
                st.a = pattern_of(d, path, &re);
                if (re) fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: Replace decoder with a Regex pattern", path.c_str());
                st.b = str_of(d, "content", path);
            } else if (t == "ByteFallback") {
                st.kind = DecoderStep::ByteFallback;
            } else if (t == "Fuse") {
                st.kind = DecoderStep::Fuse;
            } else if (t == "Strip") {
                st.kind = DecoderStep::Strip;
                st.a = str_of(d, "content", path);
                int64_t x;
                // Counts beyond what any token could hold are clamped: the decoder stops at the
                // first mismatch, so a larger count changes nothing but the time spent.
                st.start = d["start"].get_int64().get(x) ? 0 : static_cast<int>(std::clamp<int64_t>(x, 0, 1 << 16));
                st.stop = d["stop"].get_int64().get(x) ? 0 : static_cast<int>(std::clamp<int64_t>(x, 0, 1 << 16));
            } else {
                fail(EDGELLM_ERR_UNSUPPORTED_MODEL, "%s: decoder %s is not supported", path.c_str(), t.c_str());
            }
            s.decoders.push_back(st);
        }
    }
    (void)has;
    return s;
}

void fill_eog(Tokenizer &t, const std::function<int32_t(const std::string &)> &lookup) {
    t.eog_ids.clear();
    if (t.eos_id >= 0) t.eog_ids.push_back(t.eos_id);
    for (const char *s : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>",
                          "<end_of_turn>", "<|end|>", "</s>"}) {
        int32_t id = lookup(s);
        if (id >= 0 && t.is_special(id) && std::find(t.eog_ids.begin(), t.eog_ids.end(), id) == t.eog_ids.end())
            t.eog_ids.push_back(id);
    }
}

std::unique_ptr<Tokenizer> make_hf_bpe(BpeSpec spec, const HfConfig &cfg) {
    auto find = [&](const std::string &s) -> int32_t {
        for (const auto &a : spec.added)
            if (a.content == s) return a.id;
        for (size_t i = 0; i < spec.vocab.size(); i++)
            if (spec.vocab[i] == s) return static_cast<int32_t>(i);
        return -1;
    };
    int32_t bos = cfg.bos_token ? find(*cfg.bos_token) : -1;
    int32_t eos = cfg.eos_token ? find(*cfg.eos_token) : -1;
    // transformers rebuilds the post-processor from add_bos_token/add_eos_token when they are set.
    if (cfg.add_bos) spec.prefix_ids = (*cfg.add_bos && bos >= 0) ? std::vector<int32_t>{bos} : std::vector<int32_t>{};
    if (cfg.add_eos) spec.suffix_ids = (*cfg.add_eos && eos >= 0) ? std::vector<int32_t>{eos} : std::vector<int32_t>{};
    auto t = std::make_unique<BpeTokenizer>(std::move(spec));
    t->bos_id = bos;
    t->eos_id = eos;
    if (bos >= 0) t->bos_text = *cfg.bos_token;
    if (eos >= 0) t->eos_text = *cfg.eos_token;
    t->chat_template = cfg.chat_template;
    BpeTokenizer *bt = t.get();
    fill_eog(*t, [bt](const std::string &s) { return bt->token_id(s); });
    return t;
}

}  // namespace edgellm
