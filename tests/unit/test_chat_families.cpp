// The real chat templates of the architecture families (Qwen2.5, DeepSeek-R1-Distill-Qwen, Qwen3,
// Gemma 2, Phi-3.5, SmolLM3, Mistral-Nemo; as llama.cpp keeps them, from the llama-cpp-python
// source package) rendered byte for byte as transformers' renderer does
// (tests/tools/make_template_goldens.py), and the built-in fallbacks of the same formats.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <simdjson.h>

#include "chat/chat_template.h"
#include "core/error.h"

using namespace edgellm;

namespace {

std::string data_dir() {
    const char *d = std::getenv("EDGELLM_TEST_DATA");
    return std::string(d ? d : "tests/data") + "/templates/";
}

bool read_file(const std::string &path, std::string &out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::stringstream s;
    s << f.rdbuf();
    out = s.str();
    return true;
}

// Templates not committed (Gemma's) come from the llama-cpp-python source package unpacked in the
// cache folder by the goldens scripts.
bool read_cached_template(const std::string &name, std::string &out) {
    namespace fs = std::filesystem;
    const char *c = std::getenv("EDGELLM_CACHE_DIR");
    const char *home = std::getenv("HOME");
    const fs::path cache = c ? fs::path(c) : fs::path(home ? home : "/nonexistent") / ".cache" / "edgellm";
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(cache / "llama-cpp-python", ec)) {
        const fs::path p = e.path() / "vendor" / "llama.cpp" / "models" / "templates" / name;
        if (read_file(p.string(), out)) return true;
    }
    return false;
}

uint64_t fnv1a64(const std::string &s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char b : s) h = (h ^ b) * 0x100000001b3ull;
    return h;
}

std::vector<ChatMessage> to_messages(simdjson::dom::array a) {
    std::vector<ChatMessage> out;
    for (simdjson::dom::element m : a) {
        std::string_view role, content;
        REQUIRE(m["role"].get(role) == simdjson::SUCCESS);
        REQUIRE(m["content"].get(content) == simdjson::SUCCESS);
        out.push_back({std::string(role), std::string(content)});
    }
    return out;
}

// The rendered text, or "ERROR: <message>" for a TEMPLATE error.
std::string render(const std::string &tmpl, const std::vector<ChatMessage> &msgs, const ChatTemplateContext &ctx) {
    try {
        return render_chat_template(tmpl, msgs, ctx);
    } catch (const Error &e) {
        CHECK(e.status() == EDGELLM_ERR_TEMPLATE);
        return std::string("ERROR: ") + e.what();
    }
}

struct Goldens {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::vector<std::vector<ChatMessage>> conversations;
    Goldens() {
        REQUIRE(parser.load(data_dir() + "goldens.json").get(doc) == simdjson::SUCCESS);
        simdjson::dom::array convs;
        REQUIRE(doc["conversations"].get(convs) == simdjson::SUCCESS);
        for (simdjson::dom::element c : convs) {
            simdjson::dom::array a;
            REQUIRE(c.get(a) == simdjson::SUCCESS);
            conversations.push_back(to_messages(a));
        }
    }
};

}  // namespace

TEST_CASE("family chat templates render byte for byte as transformers") {
    Goldens g;
    int rendered = 0, templates = 0;
    simdjson::dom::object all;
    REQUIRE(g.doc["templates"].get(all) == simdjson::SUCCESS);
    for (auto kv : all) {
        const std::string name(kv.key);
        INFO("template ", name);
        std::string tmpl;
        const bool committed = kv.value["committed"].get_bool().value();
        if (!(committed ? read_file(data_dir() + name, tmpl) : read_cached_template(name, tmpl))) {
            REQUIRE_MESSAGE(!committed, "missing committed template " << name);
            MESSAGE(name << " is not in the cache folder (tests/tools/make_template_goldens.py fetches it): skipped");
            continue;
        }
        char hash[17];
        std::snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a64(tmpl));
        REQUIRE_MESSAGE(std::string(hash) == std::string(kv.value["fnv1a64"].get_string().value()),
                        "the template differs from the one the goldens were made with");
        ChatTemplateContext ctx;
        ctx.bos_token = std::string(kv.value["bos"].get_string().value());
        ctx.eos_token = std::string(kv.value["eos"].get_string().value());
        size_t k = 0;
        simdjson::dom::array renders;
        REQUIRE(kv.value["renders"].get(renders) == simdjson::SUCCESS);
        for (simdjson::dom::element r : renders) {
            CAPTURE(k);
            ctx.add_generation_prompt = r["gen"].get_bool().value();
            const std::string got = render(tmpl, g.conversations[k / 2], ctx);
            std::string_view want;
            if (r["text"].get_string().get(want) == simdjson::SUCCESS) {
                CHECK(got == std::string(want));
            } else {
                const std::string err(r["error"].get_string().value());
                CHECK_MESSAGE(got.rfind("ERROR: ", 0) == 0, "should raise: " << err);
                CHECK(got.find(err) != std::string::npos);
            }
            ++k;
            ++rendered;
        }
        ++templates;
    }
    MESSAGE(rendered << " renders of " << templates << " templates checked");
    CHECK(templates >= 6);
}

// Built-in templates for models that carry none render as the families' own templates do on
// the conversations where those templates add nothing of their own (Qwen2.5 adds a default system
// prompt when there is none; Gemma 2 rejects a system message, which the built-in puts before the
// first user turn as Gemma 3 does).
TEST_CASE("built-in gemma, phi3 and chatml templates equal the families' templates") {
    Goldens g;
    struct Case {
        const char *builtin;
        const char *golden;
        int system;  // 1: only conversations that start with a system message, -1: only those without
    };
    const Case cases[] = {{"gemma", "google-gemma-2-2b-it.jinja", -1},
                          {"phi3", "microsoft-Phi-3.5-mini-instruct.jinja", 0},
                          {"chatml", "Qwen-Qwen2.5-7B-Instruct.jinja", 1}};
    for (const Case &c : cases) {
        INFO("builtin ", c.builtin);
        simdjson::dom::element t;
        REQUIRE(g.doc["templates"][c.golden].get(t) == simdjson::SUCCESS);
        ChatTemplateContext ctx;
        ctx.bos_token = std::string(t["bos"].get_string().value());
        ctx.eos_token = std::string(t["eos"].get_string().value());
        size_t k = 0;
        int checked = 0;
        simdjson::dom::array renders;
        REQUIRE(t["renders"].get(renders) == simdjson::SUCCESS);
        for (simdjson::dom::element r : renders) {
            CAPTURE(k);
            const auto &msgs = g.conversations[k / 2];
            ++k;
            const bool sys = msgs[0].role == "system";
            if ((c.system == 1 && !sys) || (c.system == -1 && sys)) continue;
            ctx.add_generation_prompt = r["gen"].get_bool().value();
            const std::string got = render(c.builtin, msgs, ctx);
            std::string_view want;
            if (r["text"].get_string().get(want) == simdjson::SUCCESS) CHECK(got == std::string(want));
            else CHECK(got.rfind("ERROR: ", 0) == 0);
            ++checked;
        }
        CHECK(checked >= 4);
    }
    CHECK(builtin_template_name(false, false, false, true, false) == "gemma");
    CHECK(builtin_template_name(false, false, false, false, true) == "phi3");
    CHECK(builtin_template_name(false, true, false, false, false) == "chatml");
    ChatTemplateContext ctx;
    ctx.bos_token = "<bos>";
    CHECK(render("gemma", {{"system", "Be brief."}, {"user", " Hi "}}, ctx) ==
          "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
}
