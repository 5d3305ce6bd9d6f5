// Fixed thread pool: workers wait for a generation counter to change, run their chunk, report.
#include "core/thread_pool.h"

#include <algorithm>

namespace edgellm {

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = (int)std::max(1u, std::thread::hardware_concurrency());
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_start_.notify_all();
    for (auto &t : workers_) t.join();
}

static void chunk(int64_t n, int parts, int index, int64_t &b, int64_t &e) {
    int64_t per = n / parts, rem = n % parts;
    b = index * per + std::min<int64_t>(index, rem);
    e = b + per + (index < rem ? 1 : 0);
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(int64_t, int64_t, int)> *job;
        int64_t n;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            job = job_;
            n = job_n_;
        }
        int64_t b, e;
        chunk(n, size(), index, b, e);
        std::exception_ptr err;
        if (b < e) {
            try {
                (*job)(b, e, index);
            } catch (...) {
                err = std::current_exception();
            }
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (err && !error_) error_ = err;
            if (--pending_ == 0) cv_done_.notify_one();
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
        pending_ = (int)workers_.size();
        error_ = nullptr;
        ++generation_;
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
    std::exception_ptr theirs;
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_done_.wait(lock, [&] { return pending_ == 0; });
        theirs = error_;
        job_ = nullptr;
    }
    if (mine) std::rethrow_exception(mine);
    if (theirs) std::rethrow_exception(theirs);
}

}  // namespace edgellm
