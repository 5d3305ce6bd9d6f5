// Fixed thread pool: workers wait for a generation counter to change (spinning briefly, then
// sleeping), join the job if it is still open, take chunks from a shared counter until none is
// left, and leave; the caller takes chunks too, closes the job, then spins briefly and sleeps
// until the workers that joined have left. The job is published under the mutex, before the
// release stores of the join state and the generation counter.
#include "core/thread_pool.h"

#include <algorithm>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace edgellm {

namespace {

// Iterations of the spin before sleeping: a few tens of microseconds, about the gap between the
// ops of one decode step; longer spinning only burns a core another thread may need.
constexpr int kSpin = 1 << 12;

constexpr int64_t kClosed = int64_t(1) << 40;  // flag of ThreadPool::state_

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, const std::vector<int> &cpus) {
    if (n_threads <= 0) n_threads = (int)std::max(1u, std::thread::hardware_concurrency());
    for (int i = 1; i < n_threads; ++i) {
        workers_.emplace_back([this, i] { worker(i); });
#if defined(__linux__)
        if (!cpus.empty()) {
            cpu_set_t set;
            CPU_ZERO(&set);
            const int cpu = cpus[(size_t)i % cpus.size()];
            if (cpu >= 0 && cpu < CPU_SETSIZE) {
                CPU_SET(cpu, &set);
                pthread_setaffinity_np(workers_.back().native_handle(), sizeof set, &set);
            }
        }
#else
        (void)cpus;
#endif
    }
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
    }
    cv_start_.notify_all();
    for (auto &t : workers_) t.join();
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && !stop_.load(std::memory_order_relaxed) && spin < kSpin; ++spin) {
            cpu_relax();
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            cv_start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
            gen = generation_.load(std::memory_order_acquire);
        }
        if (stop_.load()) return;
        seen = gen;
        // Join the job unless the caller has closed it (then it may already be gone). A job
        // joined here may be a later one than `gen`: job_ and next_ are read after joining, and
        // the caller published them before opening state_, so they belong to the job joined.
        int64_t s = state_.load(std::memory_order_acquire);
        bool joined = false;
        while (!(s & kClosed) && !joined)
            joined = state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire);
        if (!joined) continue;
        try {
            run_chunks(index);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mu_);
            if (!error_) error_ = std::current_exception();
        }
        if (state_.fetch_sub(1, std::memory_order_acq_rel) - 1 == kClosed) {
            std::lock_guard<std::mutex> lock(mu_);  // the caller checks state_ under mu_
            cv_done_.notify_one();
        }
    }
}

// Takes chunks until none is left; after an exception the rest of the chunks still get taken
// (by the other threads), so every thread checks in.
void ThreadPool::run_chunks(int index) {
    for (;;) {
        const int64_t b = next_.fetch_add(chunk_, std::memory_order_relaxed);
        if (b >= job_n_) return;
        (*job_)(b, std::min(b + chunk_, job_n_), index);
    }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)> &fn) {
    if (n <= 0) return;
    std::lock_guard<std::mutex> run_lock(run_mu_);
    if (workers_.empty() || n == 1) {
        fn(0, n, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        job_ = &fn;
        job_n_ = n;
        chunk_ = std::max<int64_t>(1, n / (4 * (int64_t)size()));
        next_.store(0, std::memory_order_relaxed);
        error_ = nullptr;
        state_.store(0, std::memory_order_release);  // open
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    std::exception_ptr mine;
    try {
        run_chunks(0);
    } catch (...) {
        mine = std::current_exception();
    }
    // No chunk is left to take: close the job and wait for the workers inside it.
    state_.fetch_or(kClosed, std::memory_order_acq_rel);
    for (int spin = 0; state_.load(std::memory_order_acquire) != kClosed && spin < kSpin; ++spin) cpu_relax();
    std::exception_ptr theirs;
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_done_.wait(lock, [&] { return state_.load(std::memory_order_acquire) == kClosed; });
        theirs = error_;
        job_ = nullptr;
    }
    if (mine) std::rethrow_exception(mine);
    if (theirs) std::rethrow_exception(theirs);
}

}  // namespace edgellm
