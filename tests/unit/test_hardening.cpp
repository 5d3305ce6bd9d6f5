// Regression tests for untrusted input found by fuzzing and review (issue #26): chat templates that
// overflow integers, nest without bound, recurse, reference themselves or ask for huge output;
// tokenizer.json files with out-of-range ids, a `\C` split regex or a spinning Strip decoder;
// config values beyond the range of the types they are stored in. Each case names the limit of
// docs/limits.md that it hits.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "chat/chat_template.h"
#include "chat/jinja.h"
#include "core/error.h"
#include "model/loader_internal.h"
#include "test_loader_util.h"
#include "test_tokenizer_util.h"
#include "tokenizer/unicode.h"

using namespace edgellm;
using loader_test::expect_error;

namespace {

std::string render(const std::string &src) {
    std::vector<ChatMessage> msgs = {{"user", "hi"}};
    ChatTemplateContext ctx;
    return render_chat_template(src, msgs, ctx);
}

void template_fails(const std::string &src, const std::string &needle) {
    CAPTURE(src.substr(0, 120));
    expect_error([&] { render(src); }, EDGELLM_ERR_TEMPLATE, needle);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("Jinja integer arithmetic stays in 64 bits and reports overflow") {
    template_fails("{{ 23**33 }}", "integer overflow");
    template_fails("{{ 9223372036854775807 + 1 }}", "integer overflow");
    template_fails("{{ -9223372036854775807 - 2 }}", "integer overflow");
    template_fails("{{ 4294967296 * 4294967296 }}", "integer overflow");
    template_fails("{{ -(-9223372036854775807 - 1) }}", "integer overflow");
    template_fails("{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow");
    template_fails("{{ [9223372036854775807, 1]|sum }}", "integer overflow");
    template_fails("{{ (-9223372036854775807 - 1)|abs }}", "integer overflow");
    template_fails("{{ (10.0 ** 300)|int }}", "64-bit integer range");
    // Python's floor division and modulo on integers, exact beyond 2^53.
    CHECK(render("{{ 2**62 }}") == "4611686018427387904");
    CHECK(render("{{ 9007199254740993 + 0 }}") == "9007199254740993");
    CHECK(render("{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 // -1 }}") == "-4 2 -2 -7");
    CHECK(render("{{ 2 ** -1 }}") == "0.5");
    // range and slice steps near INT64_MAX: the next index would overflow int64.
    CHECK(render("{{ range(0, 9223372036854775807, 4611686018427387904)|list }}") == "[0, 4611686018427387904]");
    CHECK(render("{{ range(9223372036854775807, 0, -9223372036854775807)|list }}") == "[9223372036854775807]");
    CHECK(render("{{ [1, 2, 3][::9223372036854775807] }}") == "[1]");
    CHECK(render("{{ 'abc'[::-9223372036854775807] }}") == "c");
}

TEST_CASE("Jinja nesting, chains and recursion are bounded (recursion depth limit)") {
    std::string deep = "{{ " + std::string(2000, '(') + "1" + std::string(2000, ')') + " }}";
    template_fails(deep, "recursion depth limit");
    template_fails("{{ " + std::string(2000, '[') + std::string(2000, ']') + " }}", "recursion depth limit");
    template_fails("{{ " + std::string(5000, '-') + "1 }}", "recursion depth limit");
    std::string nots = "{{ ";
    for (int k = 0; k < 3000; k++) nots += "not ";
    template_fails(nots + "1 }}", "recursion depth limit");
    std::string blocks;
    for (int k = 0; k < 500; k++) blocks += "{% if true %}";
    template_fails(blocks, "recursion depth limit");
    // Left-deep chains are built by loops, not recursion: their depth is checked as they grow.
    std::string chain = "{{ 1";
    for (int k = 0; k < 20000; k++) chain += "+1";
    template_fails(chain + " }}", "deeper than the limit");
    std::string attrs = "{{ x";
    for (int k = 0; k < 20000; k++) attrs += ".a";
    template_fails(attrs + " }}", "deeper than the limit");
    std::string filters = "{{ 'x'";
    for (int k = 0; k < 20000; k++) filters += "|trim";
    template_fails(filters + " }}", "deeper than the limit");
    template_fails("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion depth limit");
    template_fails("{% macro f(n) %}{{ f(n + 1) ~ f(n + 1) }}{% endmacro %}{{ f(1) }}", "recursion depth limit");
    // What real templates do still works: a macro recursing a few levels.
    CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}") == "54321");
}

TEST_CASE("Jinja self-referencing and deeply nested values neither recurse nor leak") {
    template_fails("{% set l = [] %}{{ l.append(l) }}{{ l }}", "nested deeper than the limit");
    template_fails("{% set l = [] %}{{ l.append(l) }}{{ l|tojson }}", "nested deeper than the limit");
    template_fails("{% set l = [1] %}{{ l.append(l) }}{{ l == l }}", "nested deeper than the limit");
    template_fails("{% set d = {} %}{{ d.update({'a': d}) }}{{ d }}", "nested deeper than the limit");
    template_fails("{% set ns = namespace(x=1) %}{% set ns.x = ns %}{{ ns|tojson }}", "nested deeper than the limit");
    template_fails("{{ messages.append(messages) }}{{ messages }}", "nested deeper than the limit");
    // The cycle is printed only partly: leaving it alone renders and frees it.
    CHECK(render("{% set l = [] %}{{ l.append(l) }}{{ l|length }}") == "None1");
    // A chain 100,000 lists deep, dropped while rendering: its destruction must not recurse.
    CHECK(render("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                 "{% set ns.l = 0 %}ok") == "ok");
    CHECK(render("{% set top = [] %}{% set ns = namespace(cur=top) %}{% for i in range(50000) %}"
                 "{% set nxt = [] %}{{ '' if ns.cur.append(nxt) else '' }}{% set ns.cur = nxt %}{% endfor %}ok") == "ok");
}

TEST_CASE("Jinja work and output are bounded (work limit, output limit, list limit, indent limit)") {
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    template_fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "work limit");
    template_fails("{{ 'ab' * 100000000000 }}", "output limit");
    template_fails("{{ [1, 2] * 100000000000 }}", "list limit");
    template_fails("{{ range(100000000000)|length }}", "list limit");
    template_fails("{% for i in range(1000) %}{{ 'x' * 1000000 }}{% endfor %}", "output limit");
    template_fails("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                   "output limit");
    template_fails("{{ 'a\nb'|indent(100000000000) }}", "indent limit");
    template_fails("{{ [1]|tojson(indent=100000000000) }}", "indent limit");
    template_fails("{{ ('x' * 1000000)|replace('x', 'yyyyyyyyyyyyyyyyyyyy') }}", "output limit");
    // Without the limits the loops above run for hours; with them the whole case takes about a
    // second (some tens of seconds under sanitizers on a loaded machine).
    CHECK(seconds_since(t0) < 300.0);
    CHECK(render("{{ 'a\nb'|indent(2) }}") == "a\n  b");
    CHECK(render("{{ 'a\nb'|indent(-3) }}") == "a\nb");
}

TEST_CASE("Jinja \\u escapes: surrogate pairs combine, lone surrogates become U+FFFD") {
    CHECK(render("{{ '\\ud83d\\ude00' }}") == "\xF0\x9F\x98\x80");
    CHECK(render("{{ '\\ud800' }}") == "\xEF\xBF\xBD");
    CHECK(render("{{ '\\udc00x' }}") == "\xEF\xBF\xBDx");
    CHECK(render("{{ '\\U00110000' }}") == "\xEF\xBF\xBD");
    CHECK(unicode::valid_utf8(render("{{ '\\ud800\\ud800' }}")));
}

namespace {

// A tokenizer.json built from a byte-level alphabet with the given extra sections.
std::string tokenizer_json(const std::string &added, const std::string &pre, const std::string &post,
                           const std::string &decoder, const std::string &model_extra = "") {
    std::string vocab;
    for (int b = 0; b < 256; b++) {
        std::string key;
        unicode::append_utf8(key, unicode::byte_to_cp(static_cast<uint8_t>(b)));
        std::string esc;
        for (char c : key) {
            if (c == '"' || c == '\\') esc += '\\';
            esc += c;
        }
        vocab += (b ? "," : "") + std::string("\"") + esc + "\":" + std::to_string(b);
    }
    return "{\"added_tokens\":[" + added + "],\"normalizer\":null,\"pre_tokenizer\":" + pre +
           ",\"post_processor\":" + post + ",\"decoder\":" + decoder + ",\"model\":{\"type\":\"BPE\",\"vocab\":{" +
           vocab + "},\"merges\":[]" + model_extra + "}}";
}

std::unique_ptr<Tokenizer> load_json(const std::string &json) {
    std::string path = "/tmp/edgellm_hardening_" + std::to_string(::getpid()) + ".json";
    {
        std::ofstream f(path, std::ios::binary);
        f << json;
    }
    TokenizerSource src;
    src.hf_dir = path;
    struct Rm {
        std::string p;
        ~Rm() { std::remove(p.c_str()); }
    } rm{path};
    return Tokenizer::create(src);
}

const char *kByteLevel = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}";
const char *kByteLevelDec = "{\"type\":\"ByteLevel\"}";

}  // namespace

TEST_CASE("tokenizer.json ids are range-checked (vocabulary limit)") {
    CHECK(load_json(tokenizer_json("", kByteLevel, "null", kByteLevelDec))->encode("hello", false, false).size() == 5);
    for (const char *id : {"2147483647", "1000000000", "-1", "16777216"}) {
        CAPTURE(id);
        std::string added = std::string("{\"id\":") + id + ",\"content\":\"<x>\",\"special\":true}";
        expect_error([&] { load_json(tokenizer_json(added, kByteLevel, "null", kByteLevelDec)); },
                     EDGELLM_ERR_INVALID_MODEL, "vocabulary limit");
    }
    std::string post_far = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                           "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
                           "\"ids\":[5000000000],\"tokens\":[\"<s>\"]}}}";
    expect_error([&] { load_json(tokenizer_json("", kByteLevel, post_far, kByteLevelDec)); }, EDGELLM_ERR_INVALID_MODEL,
                 "vocabulary limit");
    std::string post_out = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                           "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
                           "\"ids\":[300],\"tokens\":[\"<s>\"]}}}";
    expect_error([&] { load_json(tokenizer_json("", kByteLevel, post_out, kByteLevelDec)); }, EDGELLM_ERR_INVALID_MODEL,
                 "post-processor token id 300");
}

TEST_CASE("a Split regex cannot cut UTF-8 characters (\\C is rejected) and cut pieces are read in bounds") {
    std::string split = "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\C\"},\"behavior\":\"Isolated\",\"invert\":false}";
    expect_error([&] { load_json(tokenizer_json("", split, "null", "null")); }, EDGELLM_ERR_UNSUPPORTED_MODEL, "\\C");
    // next_cp on a view that ends inside a character stops at the end of the view.
    std::string s = "a\xE2\x82\xAC";
    size_t i = 1;
    unicode::next_cp(std::string_view(s).substr(0, 3), i);
    CHECK(i == 3);
}

TEST_CASE("a Strip decoder with an empty content or a huge count returns at once") {
    auto t0 = std::chrono::steady_clock::now();
    for (const char *content : {"", " "}) {
        std::string dec = std::string("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteLevel\"},{\"type\":\"Strip\","
                                      "\"content\":\"") + content + "\",\"start\":2147483647,\"stop\":9223372036854775807}]}";
        auto t = load_json(tokenizer_json("", kByteLevel, "null", dec));
        std::vector<int32_t> ids = t->encode("  hi  ", false, false);
        std::string out = t->decode(ids.data(), ids.size(), false);
        CHECK(out == (content[0] ? "hi" : "  hi  "));
    }
    CHECK(seconds_since(t0) < 1.0);
}

TEST_CASE("config values outside their types are INVALID_MODEL, not undefined conversions") {
    loader_test::TempDir d;
    auto base = loader_test::read_file(loader_test::tiny("hf_f32/config.json"));
    std::string cfg(base.begin(), base.end());
    auto with = [&](const std::string &from, const std::string &to) {
        std::string c = cfg;
        size_t at = c.find(from);
        REQUIRE(at != std::string::npos);
        c.replace(at, from.size(), to);
        loader_test::write_file(d / "config.json", c);
        for (const char *f : {"model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
            auto bytes = loader_test::read_file(loader_test::tiny(std::string("hf_f32/") + f));
            loader_test::write_file(d / f, bytes);
        }
    };
    with("\"max_position_embeddings\": 256", "\"max_position_embeddings\": 2E56");
    expect_error([&] { load_model(d.path, LoadOptions()); }, EDGELLM_ERR_INVALID_MODEL, "max_position_embeddings");
    with("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e50");
    expect_error([&] { load_model(d.path, LoadOptions()); }, EDGELLM_ERR_INVALID_MODEL, "rms_norm_eps");
    with("\"rope_theta\": 10000.0", "\"rope_theta\": -1e300");
    expect_error([&] { load_model(d.path, LoadOptions()); }, EDGELLM_ERR_INVALID_MODEL, "rope theta");
    with("\"hidden_size\": 64", "\"hidden_size\": 1E300");
    expect_error([&] { load_model(d.path, LoadOptions()); }, EDGELLM_ERR_INVALID_MODEL, "hidden_size");
}

TEST_CASE("n_head * head_dim beyond the width limit is rejected before any product overflows") {
    ModelConfig c;
    c.n_vocab = 100;
    c.n_embd = 1 << 20;
    c.n_layer = 1;
    c.n_head = 1 << 20;
    c.n_head_kv = 1 << 20;
    c.head_dim = 4096;
    c.n_ff = 64;
    expect_error([&] { validate_config(c, "crafted.gguf"); }, EDGELLM_ERR_INVALID_MODEL, "n_head * head_dim");
    CHECK(config_float(1e300) == std::numeric_limits<float>::infinity());
    CHECK(config_float(-1e300) == -std::numeric_limits<float>::infinity());
    CHECK(config_float(0.5) == 0.5f);
}

TEST_CASE("a template source or rendered text that is not valid UTF-8 is a TEMPLATE error") {
    template_fails("{{ 'a' }}\xff\xfe", "not valid UTF-8");
    template_fails("l\x94\x9e\x92\xa4#", "not valid UTF-8");
    std::vector<ChatMessage> msgs = {{"user", "hi"}};
    ChatTemplateContext ctx;
    ctx.bos_token = "\xC3";
    expect_error([&] { render_chat_template("{{ bos_token }}", msgs, ctx); }, EDGELLM_ERR_TEMPLATE, "not valid UTF-8");
}
