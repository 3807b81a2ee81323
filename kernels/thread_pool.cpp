// Persistent thread pool. Workers spin for a short while after each job list (decode issues ~100
// small matmuls per token, and a futex wake-up per call would cost more than the work), then block on
// a condition variable so an idle pool costs nothing on a shared machine.
//
// Every call is a job list. A worker takes part in a list only by joining its "gate" while the gate is
// open; the caller closes the gate once the jobs have run out and then waits only for the workers that
// joined. So a worker the OS has not scheduled yet is simply left out, instead of the caller spinning
// for a time slice until it shows up.
//
// Jobs are split into one contiguous segment per thread: thread i runs its segment front to back, then
// steals single jobs from the backs of the others. Matmul jobs are consecutive row ranges, so on a
// quiet machine each thread reads one sequential stream per call (its software prefetch runs on into
// its own next job); one shared counter interleaved the threads job by job, and every job began a new
// stream whose first lines the prefetch had fetched into the other core.
#include "kernels/thread_pool.h"

#include <sched.h>

#include <algorithm>
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

// How long a worker polls for the next job list before sleeping (pause iterations; ~0.1-0.5 ms).
constexpr int kSpinIterations = 1 << 14;

// gate = generation << 16 | closed bit | number of workers inside the current list.
constexpr uint64_t kClosed = uint64_t{1} << 15;
constexpr uint64_t kActiveMask = kClosed - 1;
constexpr int kGenerationShift = 16;

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  std::mutex run_mutex;  // one job list at a time (calls may come from several threads)
  // The current job list; written by the caller before it opens the gate, read by workers only after
  // they joined the gate of that generation.
  const std::function<void(int64_t, int)>* fn = nullptr;
  // Per thread, its segment of the current list: back << 32 | front (jobs [front, back) are left).
  struct alignas(64) Segment {
    std::atomic<uint64_t> range{0};
  };
  std::vector<Segment> segments;
  std::atomic<uint64_t> gate{kClosed};  // generation 0, closed
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  std::mutex sleep_mutex;
  std::condition_variable wake;

  // Takes the front job of segment s (own) or its back job (stealing); -1 if the segment is empty.
  int64_t take(int s, bool front) {
    std::atomic<uint64_t>& r = segments[static_cast<size_t>(s)].range;
    uint64_t v = r.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = v & 0xFFFFFFFFu, b = v >> 32;
      if (f >= b) return -1;
      const uint64_t next = front ? v + 1 : (b - 1) << 32 | f;
      if (r.compare_exchange_weak(v, next, std::memory_order_relaxed, std::memory_order_relaxed))
        return static_cast<int64_t>(front ? f : b - 1);
    }
  }

  void drain(int ith) {
    for (int64_t j = take(ith, true); j >= 0; j = take(ith, true)) (*fn)(j, ith);
    for (int k = 1; k < n_threads; ++k) {
      const int s = (ith + k) % n_threads;
      for (int64_t j = take(s, false); j >= 0; j = take(s, false)) (*fn)(j, ith);
    }
  }

  void worker_loop(int ith) {
    uint64_t seen = 0;  // last generation this worker looked at
    for (;;) {
      uint64_t v = gate.load(std::memory_order_acquire);
      for (int i = 0; (v >> kGenerationShift) == seen && i < kSpinIterations && !stop.load(std::memory_order_relaxed); ++i) {
        cpu_relax();
        v = gate.load(std::memory_order_acquire);
      }
      if ((v >> kGenerationShift) == seen && !stop.load()) {
        std::unique_lock<std::mutex> lock(sleep_mutex);
        sleepers.fetch_add(1);  // seq_cst: pairs with the caller's gate store + sleepers load
        wake.wait(lock, [&] { return (gate.load() >> kGenerationShift) != seen || stop.load(); });
        sleepers.fetch_sub(1);
        v = gate.load(std::memory_order_acquire);
      }
      if (stop.load()) return;
      seen = v >> kGenerationShift;
      // Join only while this generation's gate is still open.
      bool joined = false;
      while ((v >> kGenerationShift) == seen && !(v & kClosed)) {
        if (gate.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
          joined = true;
          break;
        }
      }
      if (!joined) continue;
      drain(ith);
      gate.fetch_sub(1, std::memory_order_release);
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  impl_->n_threads = n_threads <= 0 ? hardware_threads() : n_threads;
  impl_->segments = std::vector<Impl::Segment>(static_cast<size_t>(impl_->n_threads));
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

void ThreadPool::for_each_job(int64_t n_jobs, const std::function<void(int64_t job, int ith)>& fn) {
  if (n_jobs <= 0) return;
  Impl& p = *impl_;
  if (p.n_threads == 1 || n_jobs == 1) {
    for (int64_t j = 0; j < n_jobs; ++j) fn(j, 0);
    return;
  }
  if (n_jobs > int64_t{0xFFFFFFFF}) {  // the segments hold 32-bit job indices
    for (int64_t j0 = 0; j0 < n_jobs; j0 += 0xFFFFFFFF) {
      const int64_t n = std::min<int64_t>(0xFFFFFFFF, n_jobs - j0);
      for_each_job(n, [&](int64_t j, int ith) { fn(j0 + j, ith); });
    }
    return;
  }
  std::lock_guard<std::mutex> run_lock(p.run_mutex);
  p.fn = &fn;
  // Written before the gate opens (the workers read them after joining, acquire on the gate).
  for (int i = 0; i < p.n_threads; ++i) {
    const uint64_t f = static_cast<uint64_t>(n_jobs * i / p.n_threads), b = static_cast<uint64_t>(n_jobs * (i + 1) / p.n_threads);
    p.segments[static_cast<size_t>(i)].range.store(b << 32 | f, std::memory_order_relaxed);
  }
  // Open the next generation's gate (the previous one is closed and empty). seq_cst: ordered before
  // the sleepers check below.
  const uint64_t generation = (p.gate.load() >> kGenerationShift) + 1;
  p.gate.store(generation << kGenerationShift);
  if (p.sleepers.load() > 0) {
    std::lock_guard<std::mutex> lock(p.sleep_mutex);  // a sleeper is either waiting or sees the new gate
    p.wake.notify_all();
  }
  p.drain(0);
  // No new joiners from here on; wait for the workers still inside (each holds at most one job).
  uint64_t v = p.gate.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
  for (int i = 0; (v & kActiveMask) != 0; ++i) {
    if (i < kSpinIterations) cpu_relax();
    else std::this_thread::yield();  // a worker holding a job was descheduled: let it run
    v = p.gate.load(std::memory_order_acquire);
  }
}

void ThreadPool::run(const std::function<void(int ith, int nth)>& fn) {
  const int nth = size();
  for_each_job(nth, [&](int64_t i, int) { fn(static_cast<int>(i), nth); });
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  const int64_t parts = n < size() ? n : size();
  for_each_job(parts, [&](int64_t i, int) { fn(n * i / parts, n * (i + 1) / parts); });
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
