// Persistent thread pool. Workers spin for a short while after each job (decode issues ~100 small
// matmuls per token, and a futex wake-up per call would cost more than the work), then block on a
// condition variable so an idle pool costs nothing on a shared machine.
#include "kernels/thread_pool.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kestrel::kernels {
namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// How long a worker polls for the next job before sleeping (pause iterations; ~0.1-0.5 ms).
constexpr int kSpinIterations = 1 << 14;

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  std::mutex run_mutex;  // one job at a time (run() may be called from several threads)
  const std::function<void(int, int)>* job = nullptr;
  std::atomic<uint64_t> generation{0};  // bumped once per job; workers wait for a change
  std::atomic<int> pending{0};          // workers that have not finished the current job
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  std::mutex sleep_mutex;
  std::condition_variable wake;

  void worker_loop(int ith) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      for (int i = 0; g == seen && i < kSpinIterations && !stop.load(std::memory_order_relaxed); ++i) {
        cpu_relax();
        g = generation.load(std::memory_order_acquire);
      }
      if (g == seen && !stop.load()) {
        std::unique_lock<std::mutex> lock(sleep_mutex);
        sleepers.fetch_add(1);  // seq_cst: pairs with the dispatcher's generation store + sleepers load
        wake.wait(lock, [&] { return generation.load() != seen || stop.load(); });
        sleepers.fetch_sub(1);
        g = generation.load(std::memory_order_acquire);
      }
      if (stop.load()) return;
      seen = g;
      (*job)(ith, n_threads);
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  impl_->n_threads = n_threads <= 0 ? hardware_threads() : n_threads;
  for (int i = 1; i < impl_->n_threads; ++i) impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->sleep_mutex);
    impl_->stop.store(true);
  }
  impl_->wake.notify_all();
  for (std::thread& t : impl_->workers) t.join();
  delete impl_;
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::run(const std::function<void(int ith, int nth)>& fn) {
  Impl& p = *impl_;
  if (p.n_threads == 1) {
    fn(0, 1);
    return;
  }
  std::lock_guard<std::mutex> run_lock(p.run_mutex);
  p.job = &fn;
  p.pending.store(p.n_threads - 1, std::memory_order_relaxed);
  p.generation.fetch_add(1);  // seq_cst: publishes job/pending, ordered before the sleepers check
  if (p.sleepers.load() > 0) {
    std::lock_guard<std::mutex> lock(p.sleep_mutex);  // a sleeper is either waiting or sees the new generation
    p.wake.notify_all();
  }
  fn(0, p.n_threads);
  for (int i = 0; p.pending.load(std::memory_order_acquire) != 0; ++i) {
    if (i < kSpinIterations) cpu_relax();
    else std::this_thread::yield();  // a worker was descheduled: let it run
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  if (n == 1 || size() == 1) {
    fn(0, n);
    return;
  }
  run([&](int ith, int nth) {
    const int64_t parts = n < nth ? n : nth;
    if (ith >= parts) return;
    const int64_t begin = n * ith / parts, end = n * (ith + 1) / parts;
    fn(begin, end);
  });
}

int ThreadPool::hardware_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace kestrel::kernels
