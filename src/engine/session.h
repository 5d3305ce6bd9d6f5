// A session: one conversation's token history and KV cache over a shared Model. Tokens are
// appended, evaluated lazily (the last sampled token is evaluated only when more is needed), and
// the KV cache is reused for any common prefix with a new request.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/forward.h"
#include "engine/model.h"

namespace edgellm {

struct SessionOptions {
    uint32_t n_ctx = 0;    // 0: min(model context, 4096)
    uint32_t n_batch = 0;  // 0: 256
};

struct GenerateResult {
    edgellm_status status = EDGELLM_OK;
    edgellm_stats stats{};
};

using StreamFn = std::function<bool(const char *piece, size_t len, int32_t token)>;  // false: stop

class Session {
public:
    Session(const Model &model, const SessionOptions &opt);

    const Model &model() const { return model_; }
    size_t n_ctx() const { return (size_t)n_ctx_; }
    const std::vector<int32_t> &tokens() const { return tokens_; }
    void reset();
    void truncate(size_t n_keep);
    void cancel() { cancel_.store(true); }

    // Appends tokens and evaluates everything pending; logits (n_vocab) of the last token if not
    // null. Returns EDGELLM_CONTEXT_FULL (nothing appended) or EDGELLM_CANCELLED.
    edgellm_status eval(const int32_t *tokens, size_t n, float *logits);

    // Text generation (edgellm_generate); prompt tokens appended first.
    edgellm_status generate(const std::vector<int32_t> &prompt, const edgellm_generate_params &p,
                            const StreamFn &stream, edgellm_stats &stats);

    // Chat: reuse the longest common prefix with the rendered conversation, then generate.
    edgellm_status chat(const std::vector<int32_t> &conversation, const edgellm_generate_params &p,
                        const StreamFn &stream, edgellm_stats &stats);

private:
    // Evaluates tokens_[n_eval_..]; writes last logits if wanted, or with greedy (logits null) the
    // greedy token after them, chosen on the backend (forward_argmax). Checks cancel_ between chunks.
    edgellm_status eval_pending(float *logits, bool check_cancel, int32_t *greedy = nullptr);

    const Model &model_;
    int n_ctx_;
    int n_batch_;
    std::unique_ptr<KvCache> kv_;
    std::unique_ptr<Scratch> scratch_;
    std::vector<int32_t> tokens_;  // history: evaluated then pending
    size_t n_eval_ = 0;            // tokens_[0..n_eval_) are in the KV cache
    std::atomic<bool> cancel_{false};
    std::vector<float> logits_;  // generate's host sampling: written by its prefill before any read
};

}  // namespace edgellm
