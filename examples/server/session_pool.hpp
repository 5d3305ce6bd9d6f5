// session_pool.hpp -- the server's sessions and its bounded wait queue. `parallel` sessions share
// one model; a request is admitted only while fewer than parallel + queue_size requests are in
// flight (else the server answers 503), waits in arrival order for a free session, and takes the
// free session whose token history shares the longest prefix with its prompt, so the next turn of
// a conversation recomputes only what is new (a session whose history the request would cut back
// is taken only when no free session is unused or a prefix of the request).
#pragma once

#include <edgellm/edgellm.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <vector>

class SessionPool {
public:
    SessionPool(edgellm_model *model, const edgellm_session_params &sp, int parallel, int queue_size)
        : queue_size_(queue_size) {
        for (int i = 0; i < parallel; ++i) {
            edgellm_session *s = nullptr;
            if (edgellm_session_create(model, &sp, &s) != EDGELLM_OK) {
                free_all();
                throw std::runtime_error(std::string("session: ") + edgellm_last_error());
            }
            slots_.push_back(Slot{s, {}, false, 0});
        }
    }
    ~SessionPool() { free_all(); }
    SessionPool(const SessionPool &) = delete;
    SessionPool &operator=(const SessionPool &) = delete;

    size_t n_ctx() const { return edgellm_session_n_ctx(slots_.front().session); }

    // Counts a request in; false when parallel + queue_size requests are already in flight.
    bool admit() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (in_flight_ >= slots_.size() + (size_t)queue_size_) return false;
        ++in_flight_;
        return true;
    }
    // Counts an admitted request out (after release(), or when it never got a session).
    void leave() {
        std::lock_guard<std::mutex> lock(mutex_);
        --in_flight_;
    }

    // Waits, in arrival order, for a free session and returns its index, or -1 when `abandoned`
    // (polled every `poll`) says the client went away. The session chosen is described below.
    int acquire(const std::vector<int32_t> &prompt, const std::function<bool()> &abandoned,
                std::chrono::milliseconds poll) {
        std::unique_lock<std::mutex> lock(mutex_);
        const uint64_t ticket = next_ticket_++;
        waiting_.push_back(ticket);
        for (;;) {
            size_t n_free = 0;
            for (const Slot &s : slots_) n_free += s.busy ? 0 : 1;
            size_t pos = 0;
            while (waiting_[pos] != ticket) ++pos;
            if (stopping_) {
                erase_ticket(ticket);
                cv_.notify_all();
                return -1;
            }
            if (pos < n_free) break;
            if (cv_.wait_for(lock, poll) == std::cv_status::timeout) {
                lock.unlock();
                bool gone = abandoned();
                lock.lock();
                if (gone) {
                    erase_ticket(ticket);
                    cv_.notify_all();
                    return -1;
                }
            }
        }
        erase_ticket(ticket);
        // Sessions whose whole history is a prefix of the prompt (unused ones included) lose
        // nothing: the one of them with the longest history is taken. Only when every free session
        // holds another conversation is one of those cut back, the one sharing the most.
        int best = -1;
        bool best_lossless = false;
        size_t best_common = 0;
        for (size_t i = 0; i < slots_.size(); ++i) {
            const Slot &s = slots_[i];
            if (s.busy) continue;
            size_t common = 0;
            while (common < s.tokens.size() && common < prompt.size() && s.tokens[common] == prompt[common])
                ++common;
            const bool lossless = common == s.tokens.size();
            if (best < 0 || lossless > best_lossless ||
                (lossless == best_lossless &&
                 (common > best_common ||
                  (common == best_common && s.last_used < slots_[(size_t)best].last_used)))) {
                best = (int)i;
                best_lossless = lossless;
                best_common = common;
            }
        }
        slots_[(size_t)best].busy = true;
        cv_.notify_all();  // a later waiter may now be within the free count
        return best;
    }

    edgellm_session *session(int index) const { return slots_[(size_t)index].session; }

    // Returns a session to the pool, remembering its token history for prefix matching.
    void release(int index) {
        Slot &s = slots_[(size_t)index];
        std::vector<int32_t> tokens(edgellm_session_n_tokens(s.session));
        size_t n = 0;
        if (edgellm_session_get_tokens(s.session, tokens.data(), tokens.size(), &n) != EDGELLM_OK) {
            edgellm_session_reset(s.session);
            tokens.clear();
            n = 0;
        }
        tokens.resize(n);
        std::lock_guard<std::mutex> lock(mutex_);
        s.tokens = std::move(tokens);
        s.busy = false;
        s.last_used = ++clock_;
        cv_.notify_all();
    }

    // Server shutdown: cancels every running generation at its next step (edgellm_session_cancel
    // may be called from any thread) and turns waiting and later requests away.
    void shutdown() {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        for (Slot &s : slots_)
            if (s.busy) edgellm_session_cancel(s.session);
        cv_.notify_all();
    }

    bool stopping() const { return stopping_.load(); }

    struct Counts {
        size_t idle, busy, waiting;
    };
    Counts counts() const {
        std::lock_guard<std::mutex> lock(mutex_);
        Counts c{0, 0, waiting_.size()};
        for (const Slot &s : slots_) (s.busy ? c.busy : c.idle)++;
        return c;
    }

private:
    struct Slot {
        edgellm_session *session;
        std::vector<int32_t> tokens;  // the session's history when it was last released
        bool busy;
        uint64_t last_used;
    };
    void erase_ticket(uint64_t ticket) {
        for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
            if (*it == ticket) {
                waiting_.erase(it);
                return;
            }
    }
    void free_all() {
        for (Slot &s : slots_) edgellm_session_free(s.session);
        slots_.clear();
    }

    const int queue_size_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Slot> slots_;
    std::deque<uint64_t> waiting_;  // tickets of the requests waiting for a session, oldest first
    size_t in_flight_ = 0;
    std::atomic<bool> stopping_{false};
    uint64_t next_ticket_ = 0;
    uint64_t clock_ = 0;
};
