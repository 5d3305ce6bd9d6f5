// completion.hpp -- POST /v1/chat/completions and /v1/completions: validation, admission to the
// session pool, generation over the C ABI, and the OpenAI response shapes (one JSON object, or
// server-sent events ending in "data: [DONE]").
#pragma once

#include "openai_request.hpp"
#include "session_pool.hpp"

#include <edgellm/edgellm.h>
#include <httplib.h>

#include <atomic>
#include <string>

// {"error": {"message", "type", "param", "code"}}, as OpenAI's API answers errors.
std::string error_body(const ApiError &e);

class Completions {
public:
    Completions(edgellm_model *model, SessionPool &pool, std::string model_name)
        : model_(model), pool_(pool), model_name_(std::move(model_name)) {}
    void handle(const httplib::Request &req, httplib::Response &res, bool chat);

private:
    edgellm_model *model_;
    SessionPool &pool_;
    std::string model_name_;
    std::atomic<uint64_t> next_id_{0};
};
