#pragma once
// A persistent pool: threads are created once and reused for every kernel call (no thread creation
// per matmul). The calling thread takes part as thread 0.
#include <cstdint>
#include <functional>

namespace kestrel::kernels {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // total threads including the caller; <= 0 means all cores
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  // Calls fn(job, ith) for every job in [0, n_jobs) and returns when all are done. Jobs are handed out
  // dynamically to the caller (ith 0) and the workers (ith 1..size()-1); one thread runs its jobs one
  // after another, so per-ith scratch is safe. A worker that has not woken up by the time the jobs ran
  // out is not waited for: on a busy machine a descheduled thread costs at most the job it holds, not
  // a whole scheduler time slice.
  void for_each_job(int64_t n_jobs, const std::function<void(int64_t job, int ith)>& fn);
  // Calls fn(i, nth) once for each i in [0, nth), nth = size(), and returns when all are done. Each i
  // runs exactly once, though not necessarily on thread i (a late thread's part is run by another).
  void run(const std::function<void(int ith, int nth)>& fn);
  // Splits [0, n) into at most size() contiguous ranges and calls fn(begin, end) once per range.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  static int hardware_threads();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace kestrel::kernels
