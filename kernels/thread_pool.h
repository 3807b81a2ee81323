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
  // Runs fn(ith, nth) once on each of the nth threads and returns when all are done.
  void run(const std::function<void(int ith, int nth)>& fn);
  // Splits [0, n) into contiguous ranges, one call of fn(begin, end) per thread with a non-empty range.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  static int hardware_threads();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace kestrel::kernels
