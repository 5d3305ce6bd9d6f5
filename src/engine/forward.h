// The forward pass over the backend op interface: token embeddings through every layer to the
// logits of the last token, appending to a session's KV cache.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "engine/model.h"

namespace edgellm {

// Activation buffers for up to n_batch tokens and the RoPE tables, owned by a session.
struct Scratch {
    Scratch(Backend &be, const ModelConfig &c, int n_batch, int n_ctx);
    int n_batch;
    std::unique_ptr<Buffer> x, xn, q, k, v, att, o, gate, up, last, logits;
    std::unique_ptr<Buffer> tok;  // forward_greedy_keep's token, held on the device (one int32)
    RopeTable rope[2];            // global and local layers (config.layers[l].rope)
    RopeTable rope_long[2];       // the same with longrope's long factors (passes past the original context)
};

// Runs tokens[0..n) at positions pos0.. (n <= scratch.n_batch, pos0 + n <= cache.n_ctx). If
// logits is not null, writes the n_vocab logits after the last token. Caller holds
// model.compute_mutex.
void forward(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens, int n,
             int pos0, float *logits);

// The same pass, returning the greedy token after the last one: the argmax of its logits chosen
// on the backend (Backend::argmax, the host sampler's greedy rule), which reads back one index
// instead of the n_vocab logits. The logits stay in s.logits. Caller holds model.compute_mutex.
int32_t forward_argmax(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens,
                       int n, int pos0);

// Greedy decoding without a host round trip per token, where the backend holds tokens on the
// device (Backend::pipelined_tokens for the embedding table): the pass over tokens[0..n), or with
// tokens null over the one token in s.tok that the previous call chose, leaving the greedy token
// after the last one in s.tok (Backend::argmax_to). Nothing is read back: Backend::token_read_begin
// and token_read_end on s.tok fetch the id, and a next call issued between the two starts on the
// device before the host has the id. Caller holds model.compute_mutex.
void forward_greedy_keep(const Model &model, KvCache &cache, Scratch &s, const int32_t *tokens, int n,
                         int pos0);

}  // namespace edgellm
