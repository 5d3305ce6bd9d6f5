// openai_request.hpp -- parses the body of POST /v1/chat/completions and /v1/completions (simdjson)
// into the fields libedgellm uses. Unknown fields are ignored, as OpenAI's API does; a known field
// of the wrong type or out of range throws ApiError (HTTP 400, naming the field).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct ApiError {
    int http_status;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param;  // the offending field, "" for none
    std::string code;   // e.g. "context_length_exceeded", "" for none
};

struct ChatMessage {
    std::string role;
    std::string content;
};

struct CompletionRequest {
    bool chat = true;
    std::vector<ChatMessage> messages;  // chat
    std::string prompt;                 // completions
    std::string model;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    int32_t max_tokens = -1;     // -1: until end of generation or a full context
    std::optional<float> temperature, top_p, min_p, frequency_penalty, presence_penalty;
    std::optional<int32_t> top_k;
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    bool ignore_eos = false;  // extension (as llama.cpp's server): generate past end-of-generation
};

namespace openai_request {

inline ApiError bad_field(std::string_view field, std::string what) {
    return ApiError{400, std::string(field) + " " + what, "invalid_request_error", std::string(field), ""};
}

inline bool is_null(simdjson::dom::element v) { return v.type() == simdjson::dom::element_type::NULL_VALUE; }

inline double number(simdjson::dom::element v, std::string_view field, double lo, double hi) {
    double d;
    if (v.get_double().get(d)) throw bad_field(field, "must be a number");
    if (!(d >= lo && d <= hi))
        throw bad_field(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return d;
}

inline int64_t integer(simdjson::dom::element v, std::string_view field, int64_t lo, int64_t hi) {
    int64_t i;
    if (v.get_int64().get(i)) {
        // 5.0 is an integer to JSON's number model; 5.5 is not.
        double d;
        if (v.get_double().get(d) || d != (double)(int64_t)d) throw bad_field(field, "must be an integer");
        i = (int64_t)d;
    }
    if (i < lo || i > hi)
        throw bad_field(field, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return i;
}

inline std::string string(simdjson::dom::element v, std::string_view field) {
    std::string_view s;
    if (v.get_string().get(s)) throw bad_field(field, "must be a string");
    if (s.find('\0') != std::string_view::npos) throw bad_field(field, "must not contain NUL");
    return std::string(s);
}

inline bool boolean(simdjson::dom::element v, std::string_view field) {
    bool b;
    if (v.get_bool().get(b)) throw bad_field(field, "must be a boolean");
    return b;
}

// Text that goes to the model as a C string: NUL characters (which a model may itself have
// generated, and a client send back in the next turn) are dropped.
inline std::string text(simdjson::dom::element v, std::string_view field) {
    std::string_view s;
    if (v.get_string().get(s)) throw bad_field(field, "must be a string");
    std::string out;
    out.reserve(s.size());
    for (char c : s)
        if (c != '\0') out += c;
    return out;
}

// A message's content: a string, null (an assistant turn without text) or an array of content
// parts of which only {"type": "text", "text": ...} is understood.
inline std::string content(simdjson::dom::element v) {
    if (is_null(v)) return "";
    if (v.is_string()) return text(v, "messages[].content");
    simdjson::dom::array parts;
    if (v.get_array().get(parts)) throw bad_field("messages[].content", "must be a string or an array of parts");
    std::string out;
    for (simdjson::dom::element part : parts) {
        std::string_view type;
        if (part["type"].get_string().get(type) || type != "text")
            throw bad_field("messages[].content", "parts must be {\"type\": \"text\", \"text\": ...}");
        simdjson::dom::element t;
        if (part["text"].get(t)) throw bad_field("messages[].content", "text part without text");
        out += text(t, "messages[].content[].text");
    }
    return out;
}

inline std::vector<ChatMessage> messages(simdjson::dom::element v) {
    simdjson::dom::array arr;
    if (v.get_array().get(arr)) throw bad_field("messages", "must be an array");
    std::vector<ChatMessage> out;
    for (simdjson::dom::element m : arr) {
        simdjson::dom::object obj;
        if (m.get_object().get(obj)) throw bad_field("messages", "items must be objects {role, content}");
        ChatMessage msg;
        simdjson::dom::element role, text;
        if (obj["role"].get(role)) throw bad_field("messages", "items need a role");
        msg.role = string(role, "messages[].role");
        if (!obj["content"].get(text)) msg.content = content(text);
        out.push_back(std::move(msg));
    }
    if (out.empty()) throw bad_field("messages", "must not be empty");
    return out;
}

inline std::vector<std::string> stops(simdjson::dom::element v) {
    std::vector<std::string> out;
    if (is_null(v)) return out;
    if (v.is_string()) {
        out.push_back(string(v, "stop"));
    } else {
        simdjson::dom::array arr;
        if (v.get_array().get(arr)) throw bad_field("stop", "must be a string or an array of strings");
        for (simdjson::dom::element s : arr) out.push_back(string(s, "stop"));
    }
    if (out.size() > 16) throw bad_field("stop", "may hold at most 16 strings");
    return out;
}

// Parses a request body; `chat` selects /v1/chat/completions (messages) or /v1/completions (prompt).
inline CompletionRequest parse(simdjson::dom::parser &parser, const std::string &body, bool chat) {
    simdjson::dom::element root;
    if (parser.parse(body).get(root))
        throw ApiError{400, "the request body is not valid JSON", "invalid_request_error", "", ""};
    simdjson::dom::object obj;
    if (root.get_object().get(obj))
        throw ApiError{400, "the request body must be a JSON object", "invalid_request_error", "", ""};
    CompletionRequest r;
    r.chat = chat;
    bool has_input = false;
    for (auto field : obj) {
        std::string_view key = field.key;
        simdjson::dom::element v = field.value;
        if (chat && key == "messages") {
            r.messages = messages(v);
            has_input = true;
        } else if (!chat && key == "prompt") {
            if (v.is_string()) {
                r.prompt = text(v, "prompt");
            } else {
                simdjson::dom::array arr;
                simdjson::dom::element first;
                if (v.get_array().get(arr) || arr.size() != 1 || arr.at(0).get(first) || !first.is_string())
                    throw bad_field("prompt", "must be a string (or an array of one string)");
                r.prompt = text(first, "prompt");
            }
            has_input = true;
        } else if (key == "model") {
            if (!is_null(v)) r.model = string(v, "model");
        } else if (key == "stream") {
            if (!is_null(v)) r.stream = boolean(v, "stream");
        } else if (key == "stream_options") {
            if (is_null(v)) continue;
            simdjson::dom::object so;
            if (v.get_object().get(so)) throw bad_field("stream_options", "must be an object");
            simdjson::dom::element iu;
            if (!so["include_usage"].get(iu) && !is_null(iu)) r.include_usage = boolean(iu, "stream_options.include_usage");
        } else if (key == "max_tokens" || key == "max_completion_tokens") {
            if (!is_null(v)) r.max_tokens = (int32_t)integer(v, key, 0, INT32_MAX);
        } else if (key == "temperature") {
            if (!is_null(v)) r.temperature = (float)number(v, key, 0, 2);
        } else if (key == "top_p") {
            if (!is_null(v)) r.top_p = (float)number(v, key, 0, 1);
        } else if (key == "min_p") {
            if (!is_null(v)) r.min_p = (float)number(v, key, 0, 1);
        } else if (key == "top_k") {
            if (!is_null(v)) r.top_k = (int32_t)integer(v, key, 0, INT32_MAX);
        } else if (key == "frequency_penalty") {
            if (!is_null(v)) r.frequency_penalty = (float)number(v, key, -2, 2);
        } else if (key == "presence_penalty") {
            if (!is_null(v)) r.presence_penalty = (float)number(v, key, -2, 2);
        } else if (key == "seed") {
            if (!is_null(v)) r.seed = (uint64_t)integer(v, key, INT64_MIN, INT64_MAX);
        } else if (key == "stop") {
            r.stop = stops(v);
        } else if (key == "ignore_eos") {
            if (!is_null(v)) r.ignore_eos = boolean(v, "ignore_eos");
        } else if (key == "n") {
            if (!is_null(v) && integer(v, key, 1, 1) != 1) throw bad_field(key, "must be 1");
        }
        // Any other field (user, logprobs, tools, response_format, ...) is ignored.
    }
    if (!has_input) {
        const char *name = chat ? "messages" : "prompt";
        throw ApiError{400, std::string("missing required field ") + name, "invalid_request_error", name, ""};
    }
    return r;
}

}  // namespace openai_request
