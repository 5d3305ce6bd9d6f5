// Greedy selection on the device (Backend::argmax, kernels/sample.cl) against the CPU backend and
// the rule written as a plain loop: random data at odd and vocabulary sizes, ties (the first wins,
// wherever the tied elements fall among items and work-groups), -inf, large negative values, NaN
// at index 0 and elsewhere. Three launch geometries: the device's tuning row, many groups of 4
// items (the last group combines more pairs than it has items) and at most 3 groups of 64 (items
// and groups without elements). EDGELLM_TEST_SMALL=1 keeps sizes small (oclgrind).
// Skips only when no OpenCL platform exists at all.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/opencl/opencl_backend.h"
#include "core/error.h"
#include "greedy_rule.h"
#include "opencl_test_util.h"

using namespace edgellm;
using namespace edgellm_test;

namespace {


struct Case {
    std::string name;
    std::vector<float> v;
};

// The inputs for size n.
std::vector<Case> cases_for(size_t n, std::mt19937 &g) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = INFINITY;
    auto uni = [&](float lo, float hi) {
        std::uniform_real_distribution<float> u(lo, hi);
        std::vector<float> v(n);
        for (float &x : v) x = u(g);
        return v;
    };
    auto pos = [&](size_t lo, size_t hi) { return lo + g() % (hi - lo); };  // in [lo, hi)
    std::vector<Case> cs;
    cs.push_back({"random", uni(-10.f, 10.f)});
    cs.push_back({"constant", std::vector<float>(n, 0.5f)});
    {
        std::vector<float> v = uni(-10.f, 10.f);
        v[n - 1] = 11.f;
        cs.push_back({"maximum last", v});
    }
    if (n >= 2) {
        // Two tied maxima: random pairs, neighbours (different items) and the last element.
        for (int t = 0; t < 6; ++t) {
            const size_t p = pos(0, n - 1);
            const size_t q = t == 0 ? p + 1 : t == 1 ? n - 1 : pos(p + 1, n);
            std::vector<float> v = uni(-10.f, 10.f);
            v[p] = v[q] = 12.f;
            cs.push_back({"tie " + std::to_string(p) + "," + std::to_string(q), v});
        }
        // Every element from s on holds the maximum.
        const size_t s = pos(0, n);
        std::vector<float> v = uni(-1.f, 0.f);
        for (size_t i = s; i < n; ++i) v[i] = 1.f;
        cs.push_back({"tied suffix from " + std::to_string(s), v});
        // Many ties at one level, the first of them random.
        v = uni(-1.f, 0.f);
        for (size_t i = pos(0, n); i < n; i += 1 + g() % 37) v[i] = 2.f;
        cs.push_back({"scattered ties", v});
    }
    cs.push_back({"all -inf", std::vector<float>(n, -inf)});
    {
        std::vector<float> v(n, -inf);
        v[pos(0, n)] = -std::numeric_limits<float>::max();
        cs.push_back({"-inf and one finite", v});
        v = uni(-3.4e38f, -1e38f);  // large negative values, the maximum tied twice
        const size_t p = pos(0, n), q = pos(0, n);
        v[p] = v[q] = -0.9e38f;
        cs.push_back({"large negative", v});
    }
    {
        std::vector<float> v = uni(-10.f, 10.f);
        v[0] = nan;
        cs.push_back({"NaN at 0", v});
        v = uni(-10.f, 10.f);
        for (size_t i = 0; i < n; i += 1 + g() % 10) v[i] = nan;
        v[pos(0, n)] = nan;
        cs.push_back({"NaN scattered", v});
        v = uni(-10.f, 10.f);
        v[pos(0, n)] = nan;
        cs.push_back({"one NaN", v});
        cs.push_back({"all NaN", std::vector<float>(n, nan)});
        v.assign(n, nan);
        const size_t p = pos(0, n), q = pos(0, n);
        v[p] = v[q] = -inf;
        cs.push_back({"NaN and -inf", v});
        v.assign(n, 3.f);
        v[0] = nan;
        cs.push_back({"NaN at 0, then ties", v});
    }
    return cs;
}

}  // namespace

TEST_CASE("opencl argmax matches the CPU backend and a plain loop (ties, -inf, NaN)") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: OpenCL argmax test skipped");
        return;
    }
    std::unique_ptr<Backend> cpu = make_cpu_backend(CpuBackendOptions{});
    std::vector<size_t> sizes = {1, 7, 33, 100, 4096, 14336, 128256};
    if (small_mode()) sizes = {1, 7, 33, 100, 4096};
    const float inf = INFINITY;
    for (const char *tune : {"", "argmax_wg=4,argmax_groups=1000", "argmax_wg=64,argmax_groups=3"}) {
        INFO("tune: ", std::string(tune));
        std::unique_ptr<Backend> ob = make_tuned(tune);
        std::mt19937 g(17);
        int n_checked = 0;
        for (size_t n : sizes) {
            for (const Case &c : cases_for(n, g)) {
                INFO("n=", n, " ", c.name);
                const int32_t want = greedy_rule(c.v);
                // Past n: +inf, which a read beyond the range would pick.
                std::vector<float> padded = c.v;
                padded.insert(padded.end(), {inf, inf});
                auto bc = cpu->alloc(padded.size()), bo = ob->alloc(padded.size());
                cpu->write(*bc, padded.data(), padded.size());
                ob->write(*bo, padded.data(), padded.size());
                CHECK(cpu->argmax(*bc, n) == want);
                const uint64_t l0 = opencl_launch_count(*ob);
                CHECK(ob->argmax(*bo, n) == want);
                CHECK(opencl_launch_count(*ob) - l0 == 1);  // one launch, whatever the groups
                ++n_checked;
            }
        }
        MESSAGE("tune '", std::string(tune), "': ", n_checked, " inputs");
    }
}

TEST_CASE("opencl argmax reports a size outside the buffer as an error") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: OpenCL argmax test skipped");
        return;
    }
    std::unique_ptr<Backend> ob = make_tuned("");
    auto b = ob->alloc(8);
    std::vector<float> v(8, 1.f);
    ob->write(*b, v.data(), v.size());
    CHECK_THROWS_AS(ob->argmax(*b, 0), Error);
    CHECK_THROWS_AS(ob->argmax(*b, 9), Error);
    CHECK(ob->argmax(*b, 8) == 0);  // still usable
}

// Greedy tokens held on the device (Backend::pipelined_tokens): argmax_to leaves the index in a
// token buffer, embed_from embeds it, and token_read_begin / token_read_end read it back as it was
// when the read was issued, though later ops (issued before token_read_end) overwrite the buffer.
// Embeddings in every weight format and both layouts (the device default and group-major),
// against the CPU backend's embed of the argmax the host computes.
TEST_CASE("opencl device-held greedy tokens: argmax_to, embed_from and the ordered read") {
    if (list_opencl_devices().empty()) {
        MESSAGE("no OpenCL platform found: OpenCL device-token test skipped");
        return;
    }
    const int64_t n_vocab = 300, dim = 64;
    for (const char *tune : {"", "argmax_wg=4,argmax_groups=1000"}) {
        INFO("tune: ", std::string(tune));
        std::unique_ptr<Backend> ob = make_tuned(tune);
        for (DType t : {DType::Q4, DType::Q8_0, DType::F16}) {
            INFO("format ", dtype_name(t));
            QTensor q = rand_tensor(t, n_vocab, dim, false, 41 + (uint32_t)t);
            std::unique_ptr<Weight> wc = cpu_backend().upload_matrix(clone(q));
            std::unique_ptr<Weight> wo = ob->upload_matrix(std::move(q));
            REQUIRE(ob->pipelined_tokens(*wo));
            CHECK_FALSE(cpu_backend().pipelined_tokens(*wc));
            auto tok = ob->alloc(1);
            auto logits = ob->alloc((size_t)n_vocab);
            auto out = ob->alloc((size_t)dim);
            auto ref = cpu_backend().alloc((size_t)dim);
            // The same dequantization (a device may fuse its multiply-adds: 1e-6 relative).
            auto same_row = [&](const Buffer &o, const Buffer &r) {
                const std::vector<float> a = read_all(*ob, o), b = read_all(cpu_backend(), r);
                if (a.size() != b.size()) return false;
                for (size_t i = 0; i < a.size(); ++i)
                    if (!(std::fabs(a[i] - b[i]) <= 1e-6f * (1.f + std::fabs(b[i])))) return false;
                return true;
            };
            std::mt19937 g(5 + (uint32_t)t);
            std::vector<int32_t> wanted;
            for (int step = 0; step < 4; ++step) {
                std::vector<float> v = rand_vec((size_t)n_vocab, 700 + step * 7 + (uint32_t)t, -4.f, 4.f);
                v[g() % n_vocab] = 5.f;  // one clear maximum per step
                wanted.push_back(greedy_rule(v));
                ob->write(*logits, v.data(), v.size());
                ob->argmax_to(*tok, *logits, (size_t)n_vocab);
            }
            // After the last argmax_to: the read, then an op that rewrites the token buffer.
            ob->token_read_begin(*tok);
            ob->embed_from(*out, *wo, *tok, 1.f);
            std::vector<float> other((size_t)n_vocab, 0.f);
            other[7] = 1.f;
            ob->write(*logits, other.data(), other.size());
            ob->argmax_to(*tok, *logits, (size_t)n_vocab);
            CHECK(ob->token_read_end(*tok, (size_t)n_vocab) == wanted.back());  // not 7
            cpu_backend().embed(*ref, *wc, &wanted.back(), 1, 1.f);
            CHECK(same_row(*out, *ref));
            // The later argmax_to is what a second read returns, and what embed_from embeds now.
            ob->token_read_begin(*tok);
            CHECK(ob->token_read_end(*tok, (size_t)n_vocab) == 7);
            ob->embed_from(*out, *wo, *tok, 1.f);
            const int32_t seven = 7;
            cpu_backend().embed(*ref, *wc, &seven, 1, 1.f);
            CHECK(same_row(*out, *ref));
            // Misuse is an error, not a crash; the buffer stays usable.
            CHECK_THROWS_AS(ob->token_read_end(*tok, (size_t)n_vocab), Error);  // no read outstanding
            ob->token_read_begin(*tok);
            CHECK_THROWS_AS(ob->token_read_begin(*tok), Error);  // one at a time
            CHECK_THROWS_AS(ob->token_read_end(*tok, 7), Error);  // id 7 is outside [0, 7)
            ob->token_read_begin(*tok);
            CHECK(ob->token_read_end(*tok, (size_t)n_vocab) == 7);
            // A token buffer holding an id outside the table (what a corrupted buffer or a wrong
            // logits size could leave): embed_from reads a clamped row, never out of bounds
            // (oclgrind checks), and the read reports the id as an error.
            for (int32_t bad : {(int32_t)n_vocab, 1 << 30, -5}) {
                float bits;
                std::memcpy(&bits, &bad, sizeof bits);
                ob->write(*tok, &bits, 1);
                ob->embed_from(*out, *wo, *tok, 1.f);
                const int32_t clamped = bad < 0 ? 0 : (int32_t)n_vocab - 1;
                cpu_backend().embed(*ref, *wc, &clamped, 1, 1.f);
                CHECK(same_row(*out, *ref));
                ob->token_read_begin(*tok);
                CHECK_THROWS_AS(ob->token_read_end(*tok, (size_t)n_vocab), Error);
            }
            ob->token_read_begin(*tok);  // outstanding when the buffer goes: its destructor waits
        }
    }
}
