// A small fixed thread pool with a blocking parallel_for, used by the CPU backends to split rows
// of a matrix product or heads of attention. One parallel_for runs at a time (callers serialise).
// Workers stay alive between calls: after a job they spin for a short while on the next one
// (ops of one forward pass follow each other within microseconds), then sleep on a condition
// variable. Threads take chunks of [0, n) from a shared counter, and a worker that comes late (a
// busy machine, a slower core, a sleeping thread) finds the job closed and stays out of it, so no
// share of the work waits for any one thread. Callers must not make results depend on which
// thread runs a chunk.
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

    // Calls fn(begin, end, thread_index) over [0, n) split into contiguous chunks (about four
    // per thread) that the threads take in turn; the calling thread takes part. Every index is in
    // exactly one chunk. Exceptions from fn are rethrown (the first one).
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)> &fn);

private:
    void worker(int index);
    void run_chunks(int index);

    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::mutex run_mu_;  // serialises parallel_for callers
    std::condition_variable cv_start_, cv_done_;
    const std::function<void(int64_t, int64_t, int)> *job_ = nullptr;
    int64_t job_n_ = 0;
    int64_t chunk_ = 1;
    std::atomic<int64_t> next_{0};  // first index not yet taken
    std::atomic<uint64_t> generation_{0};
    // Workers inside the current job, plus kClosed once the caller has run out of chunks: from
    // then on no worker joins, and the caller waits for the count to reach zero.
    std::atomic<int64_t> state_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
};

}  // namespace edgellm
