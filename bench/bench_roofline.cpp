// Decode kernels against the memory roofline, measured side by side: every iteration runs one batch-1
// matmul call and a plain DRAM read of the same number of bytes, on the same thread pool, one right
// after the other (order alternating). This VM's read bandwidth is bimodal (a 2-thread read moves
// between ~30 and ~55 GB/s within seconds), so a kernel's GB/s from one process and a bench_probe rate
// from another compare phases, not code; a call and the read beside it see the same phase.
//
// Names: roofline/<type>/<n_in>x<n_out>/t<threads> (n_in x n_out = ggml ne0 x ne1, as bench_matmul).
// The weights are what the model's decode reads: the active ISA's load-time layout where the type has
// one (kernels/repack.h; bench_matmul's `--repacked`), else ggml rows, on 2 MiB huge pages like the
// weight store; `--ggml` keeps ggml rows for every type (named roofline_ggml/...). Calls rotate over
// weight copies, and reads over slices of a separate buffer, of bench/dram_footprint.h's size each,
// so both come from DRAM. The read of a pair is the faster of bench_probe's plain and prefetching
// read loops (bench/read_loop.h) over two different slices, each thread reading one contiguous part.
//
// Counters (medians over the pairs): kernel_GBps (weight bytes / call time), read_GBps, ratio (the
// median of each pair's kernel / read rate: issue #13's ">= 90% of the read bandwidth"), pairs.
// The Time column is the kernel call (manual time).
//
// Default: F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K on 4096x14336 at 1 and 2 threads. `--8b`: also 4096x4096,
// 14336x4096 and the 4096x128256 output; `--1b`: the 1B Llama-3.2 decode shapes (2048x512, 2048x2048,
// 2048x8192, 8192x2048, 2048x128256) instead. Under load, run it as `chrt -f 50 build/bin/bench_roofline`.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <vector>

#include "bench/dram_footprint.h"
#include "bench/read_loop.h"
#include "bench/synthetic_weights.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "kernels/thread_pool.h"

namespace {

using namespace kestrel;
using namespace kestrel::kernels;

struct Shape {
  int64_t n_in, n_out;
};

bool g_ggml = false;

// The read side: one huge-page buffer of the DRAM footprint (grown if a matrix is larger), faulted in.
struct ReadBuffer {
  uint8_t* p = nullptr;
  size_t bytes = 0;
  const uint8_t* get(size_t need) {
    need = std::max(need, bench::dram_footprint_bytes());
    if (need > bytes) {
      std::free(p);
      bytes = (need + (size_t{2} << 20) - 1) / (size_t{2} << 20) * (size_t{2} << 20);
      p = static_cast<uint8_t*>(std::aligned_alloc(size_t{2} << 20, bytes));
      if (p == nullptr) {
        bytes = 0;
        return nullptr;
      }
      ::madvise(p, bytes, MADV_HUGEPAGE);
      for (size_t i = 0; i < bytes; i += 64) std::memset(p + i, static_cast<int>(i >> 6), 64);
    }
    return p;
  }
} g_read;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Reads `bytes` from p split over the pool (contiguous parts); returns the bytes read per second.
template <bool kPrefetch>
double read_rate(ThreadPool& pool, const uint8_t* p, size_t bytes) {
  const auto t0 = std::chrono::steady_clock::now();
  size_t part = 0;
  pool.run([&](int ith, int nth) {
    const size_t chunk = bytes / static_cast<size_t>(nth) / 256 * 256;
    if (ith == 0) part = chunk * static_cast<size_t>(nth);
    benchmark::DoNotOptimize(bench::read_range<kPrefetch>(p + chunk * static_cast<size_t>(ith), chunk));
  });
  return static_cast<double>(part) / seconds_since(t0);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void BM_Roofline(benchmark::State& state, TensorType t, Shape sh, int threads) {
  const Isa isa = active_isa();
  const RepackLayout* layout = g_ggml ? nullptr : repack_layout(isa, t);
  ThreadPool pool(threads);
  const std::vector<uint8_t> w0 = bench::make_weights(t, sh.n_in, sh.n_out);
  const size_t bytes = bench::WeightCopies::bytes(w0.size(), layout, sh.n_in, sh.n_out);
  const size_t footprint = bench::dram_footprint_bytes();
  const size_t copies = bench::copies_for(footprint, bytes);
  bench::WeightCopies ws;
  const size_t slice = (bytes + 4095) / 4096 * 4096;
  const size_t slices = std::max<size_t>(2, footprint / slice);
  const uint8_t* rbuf = g_read.get(slice * slices);
  if (rbuf == nullptr || !ws.make(w0, copies, true, layout, pool, sh.n_in, sh.n_out)) {
    state.SkipWithError("out of memory");
    return;
  }
  std::vector<float> x(static_cast<size_t>(sh.n_in));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
  std::vector<float> y(static_cast<size_t>(sh.n_out));
  auto call = [&](const void* w) {
    if (layout) matmul_packed(pool, *layout, w, sh.n_in, sh.n_out, x.data(), 1, y.data(), sh.n_out);
    else matmul(pool, t, w, sh.n_in, sh.n_out, x.data(), 1, y.data(), sh.n_out);
  };
  for (const void* w : ws.ptrs) call(w);  // warm-up: page tables, activation scratch
  std::vector<double> kernel, read, ratio;
  size_t next_w = 0, next_r = 0;
  bool kernel_first = true;
  for (auto _ : state) {
    // Two slices for the two read loops: a slice read twice would come from the L3 the second time.
    const uint8_t* r0 = rbuf + next_r * slice;
    next_r = next_r + 1 == slices ? 0 : next_r + 1;
    const uint8_t* r1 = rbuf + next_r * slice;
    double k_rate = 0, r_rate = 0, k_s = 0;
    auto run_kernel = [&] {
      const auto t0 = std::chrono::steady_clock::now();
      call(ws.ptrs[next_w]);
      k_s = seconds_since(t0);
      k_rate = static_cast<double>(bytes) / k_s;
    };
    auto run_read = [&] { r_rate = std::max(read_rate<false>(pool, r0, bytes), read_rate<true>(pool, r1, bytes)); };
    if (kernel_first) run_kernel(), run_read();
    else run_read(), run_kernel();
    kernel_first = !kernel_first;
    state.SetIterationTime(k_s);
    kernel.push_back(k_rate * 1e-9);
    read.push_back(r_rate * 1e-9);
    ratio.push_back(k_rate / r_rate);
    next_w = next_w + 1 == copies ? 0 : next_w + 1;
    next_r = next_r + 1 == slices ? 0 : next_r + 1;
    benchmark::ClobberMemory();
  }
  state.counters["kernel_GBps"] = median(kernel);
  state.counters["read_GBps"] = median(read);
  state.counters["ratio"] = median(ratio);
  state.counters["pairs"] = static_cast<double>(ratio.size());
  state.counters["repacked"] = layout ? 1 : 0;
}

void add(TensorType t, Shape sh, int threads) {
  const std::string name = std::string(g_ggml ? "roofline_ggml/" : "roofline/") + std::string(type_name(t)) + "/" +
                           std::to_string(sh.n_in) + "x" + std::to_string(sh.n_out) + "/t" + std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), BM_Roofline, t, sh, threads)
      ->UseManualTime()
      ->MinTime(0.5)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  bool b8 = false, b1 = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--8b") == 0) b8 = true;
    else if (std::strcmp(argv[i], "--1b") == 0) b1 = true;
    else if (std::strcmp(argv[i], "--ggml") == 0) g_ggml = true;
    else args.push_back(argv[i]);
  }
  std::vector<Shape> shapes = {{4096, 14336}};
  if (b8) shapes = {{4096, 4096}, {4096, 14336}, {14336, 4096}, {4096, 128256}};
  if (b1) shapes = {{2048, 512}, {2048, 2048}, {2048, 8192}, {8192, 2048}, {2048, 128256}};
  for (int th : {1, 2})
    for (Shape sh : shapes)
      for (TensorType t : {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K,
                           TensorType::Q6_K})
        add(t, sh, th);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
