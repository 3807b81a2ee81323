// ThreadPool: every thread runs each job once, parallel_for covers [0, n) exactly once for any n
// (including n smaller than the pool), and the pool survives many back-to-back and idle-gapped calls.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/thread_pool.h"

namespace kestrel::kernels {
namespace {

TEST(ThreadPool, SizeAndHardware) {
  EXPECT_GE(ThreadPool::hardware_threads(), 1);
  ThreadPool p(3);
  EXPECT_EQ(p.size(), 3);
  ThreadPool all(0);
  EXPECT_EQ(all.size(), ThreadPool::hardware_threads());
}

TEST(ThreadPool, RunCallsEveryThreadOnce) {
  for (int n : {1, 2, 4}) {
    ThreadPool p(n);
    std::vector<std::atomic<int>> hits(n);
    p.run([&](int ith, int nth) {
      EXPECT_EQ(nth, n);
      hits[ith].fetch_add(1);
    });
    for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "thread " << i;
  }
}

TEST(ThreadPool, ParallelForCoversRangeExactlyOnce) {
  ThreadPool p(4);
  for (int64_t n : {0, 1, 2, 3, 5, 17, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> calls{0};
    p.parallel_for(n, [&](int64_t b, int64_t e) {
      EXPECT_LT(b, e);
      calls.fetch_add(1);
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    EXPECT_LE(calls.load(), n < 4 ? n : 4);
  }
}

TEST(ThreadPool, ForEachJobRunsEveryJobOnceWithExclusiveThreadIndex) {
  for (int n : {1, 2, 3}) {
    ThreadPool p(n);
    for (int64_t n_jobs : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n_jobs);
      std::vector<std::atomic<int>> inside(n);  // jobs currently running per thread index
      std::atomic<bool> overlap{false};
      p.for_each_job(n_jobs, [&](int64_t j, int ith) {
        ASSERT_GE(ith, 0);
        ASSERT_LT(ith, n);
        if (inside[ith].fetch_add(1) != 0) overlap = true;
        hits[j].fetch_add(1);
        inside[ith].fetch_sub(1);
      });
      for (int64_t j = 0; j < n_jobs; ++j) ASSERT_EQ(hits[j].load(), 1) << "n=" << n << " job " << j;
      EXPECT_FALSE(overlap.load()) << "two jobs ran at once under one thread index";
    }
  }
}

// Each thread runs its own contiguous segment (jobs [n*i/nth, n*(i+1)/nth)) front to back, first,
// then steals from the backs of the others: matmul jobs are consecutive row ranges, so a thread reads
// one sequential stream (kernels/thread_pool.cpp).
TEST(ThreadPool, ForEachJobRunsOwnSegmentInOrderThenStealsFromTheBack) {
  for (int n : {2, 3}) {
    ThreadPool p(n);
    for (int rep = 0; rep < 50; ++rep) {
      const int64_t n_jobs = 64;
      std::vector<std::vector<int64_t>> order(n);
      p.for_each_job(n_jobs, [&](int64_t j, int ith) {
        order[ith].push_back(j);
        if (j % 7 == 0) std::this_thread::yield();  // uneven job times, so stealing happens sometimes
      });
      for (int i = 0; i < n; ++i) {
        const int64_t f = n_jobs * i / n, b = n_jobs * (i + 1) / n;
        size_t k = 0;
        for (; k < order[i].size() && order[i][k] >= f && order[i][k] < b; ++k)
          ASSERT_EQ(order[i][k], f + static_cast<int64_t>(k)) << "thread " << i << " left its own segment's order";
        std::vector<int64_t> last(n, n_jobs);  // per victim segment, the last job stolen from it
        for (; k < order[i].size(); ++k) {
          const int64_t j = order[i][k];
          ASSERT_FALSE(j >= f && j < b) << "thread " << i << " ran an own job " << j << " after stealing";
          int victim = 0;  // the segment holding j
          while (j >= n_jobs * (victim + 1) / n) ++victim;
          ASSERT_LT(j, last[victim]) << "thread " << i << " stole job " << j << " not from the back";
          last[victim] = j;
        }
      }
    }
  }
}

TEST(ThreadPool, ManyCallsAndIdleGaps) {
  ThreadPool p(2);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 3000; ++i) p.run([&](int ith, int) { sum.fetch_add(ith + 1); });
  EXPECT_EQ(sum.load(), 3000 * 3);
  // Let the workers go to sleep, then wake them.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::atomic<int> hits{0};
    p.run([&](int, int) { hits.fetch_add(1); });
    EXPECT_EQ(hits.load(), 2);
  }
}

TEST(ThreadPool, RunFromSeveralThreadsIsSerialized) {
  ThreadPool p(2);
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) p.run([&](int, int) { total.fetch_add(1); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 3 * 500 * 2);
}

}  // namespace
}  // namespace kestrel::kernels
