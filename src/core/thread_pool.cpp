// Fixed thread pool: workers wait for a generation counter to change (spinning briefly, then
// sleeping), run their chunk, count down; the caller spins briefly, then sleeps, until the count
// reaches zero. Publication of the job goes through the mutex and the counter's release store.
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

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void chunk(int64_t n, int parts, int index, int64_t &b, int64_t &e) {
    int64_t per = n / parts, rem = n % parts;
    b = index * per + std::min<int64_t>(index, rem);
    e = b + per + (index < rem ? 1 : 0);
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
        const std::function<void(int64_t, int64_t, int)> *job = job_;
        int64_t b, e;
        chunk(job_n_, size(), index, b, e);
        if (b < e) {
            try {
                (*job)(b, e, index);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu_);
                if (!error_) error_ = std::current_exception();
            }
        }
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mu_);  // the caller checks pending_ under mu_
            cv_done_.notify_one();
        }
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
        error_ = nullptr;
        pending_.store((int)workers_.size(), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    int64_t b, e;
    chunk(n, size(), 0, b, e);
    std::exception_ptr mine;
    try {
        if (b < e) fn(b, e, 0);
    } catch (...) {
        mine = std::current_exception();
    }
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0 && spin < kSpin; ++spin) cpu_relax();
    std::exception_ptr theirs;
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
        theirs = error_;
        job_ = nullptr;
    }
    if (mine) std::rethrow_exception(mine);
    if (theirs) std::rethrow_exception(theirs);
}

}  // namespace edgellm
