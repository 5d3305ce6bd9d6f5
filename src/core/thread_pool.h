// A small fixed thread pool with a blocking parallel_for, used by the CPU backends to split rows
// of a matrix product or heads of attention. One parallel_for runs at a time (callers serialise).
// Workers stay alive between calls: after a job they spin for a short while on the next one
// (ops of one forward pass follow each other within microseconds), then sleep on a condition
// variable. The split of [0, n) depends only on n and the thread count, so results do too.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgellm {

class ThreadPool {
public:
    // n_threads <= 0: hardware concurrency. cpus non-empty: worker i (the caller is thread 0 and
    // is left as it is) runs on CPU cpus[i % cpus.size()]; a CPU that cannot be set is ignored.
    explicit ThreadPool(int n_threads, const std::vector<int> &cpus = {});
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return (int)workers_.size() + 1; }

    // Calls fn(begin, end, thread_index) over [0, n) split into contiguous chunks, one per thread;
    // the calling thread takes part. Exceptions from fn are rethrown (the first one).
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)> &fn);

private:
    void worker(int index);

    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::mutex run_mu_;  // serialises parallel_for callers
    std::condition_variable cv_start_, cv_done_;
    const std::function<void(int64_t, int64_t, int)> *job_ = nullptr;
    int64_t job_n_ = 0;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
};

}  // namespace edgellm
