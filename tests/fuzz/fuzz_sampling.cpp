// libFuzzer target: edgellm_generate with every sampling parameter taken from the input (NaN,
// infinities, negative and huge values included), stop strings and a prompt, on one session of a
// tiny model that is reset between inputs.
#include "fuzz_util.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static edgellm_model *m = fuzz::open_or_die(fuzz::data("tiny/tiny_q4_0.gguf"));
    static edgellm_session *s = [] {
        edgellm_session_params sp;
        edgellm_session_params_init(&sp);
        sp.n_ctx = 32;
        sp.n_batch = 8;
        sp.n_threads = 1;
        edgellm_session *r = nullptr;
        if (edgellm_session_create(m, &sp, &r) != EDGELLM_OK) std::abort();
        return r;
    }();
    FuzzedDataProvider in(data, size);
    edgellm_generate_params gp;
    edgellm_generate_params_init(&gp);
    gp.max_new_tokens = in.ConsumeIntegralInRange<int32_t>(-2, 6);
    gp.temperature = in.ConsumeFloatingPoint<float>();
    gp.top_k = in.ConsumeIntegral<int32_t>();
    gp.top_p = in.ConsumeFloatingPoint<float>();
    gp.min_p = in.ConsumeFloatingPoint<float>();
    gp.repetition_penalty = in.ConsumeFloatingPoint<float>();
    gp.frequency_penalty = in.ConsumeFloatingPoint<float>();
    gp.presence_penalty = in.ConsumeFloatingPoint<float>();
    gp.penalty_last_n = in.ConsumeIntegral<int32_t>();
    gp.seed = in.ConsumeIntegral<uint64_t>();
    gp.ignore_eos = in.ConsumeBool();
    gp.tokenize_flags = in.ConsumeIntegral<uint32_t>();
    std::vector<std::string> stops(in.ConsumeIntegralInRange<size_t>(0, 3));
    std::vector<const char *> stop_ptrs;
    for (auto &st : stops) {
        st = in.ConsumeRandomLengthString(8);
        stop_ptrs.push_back(st.c_str());
    }
    gp.stop = stop_ptrs.empty() ? nullptr : stop_ptrs.data();
    gp.n_stop = stop_ptrs.size();
    const bool keep = in.ConsumeBool();
    std::string prompt = in.ConsumeRemainingBytesAsString();
    edgellm_stats stats;
    edgellm_stats_init(&stats);
    edgellm_status st = edgellm_generate(s, prompt.c_str(), &gp, nullptr, nullptr, &stats);
    fuzz::check_status(st, "generate");
    if (edgellm_session_n_tokens(s) > edgellm_session_n_ctx(s)) std::abort();
    if (!keep || st != EDGELLM_OK) fuzz::check_status(edgellm_session_reset(s), "session_reset");
    return 0;
}
