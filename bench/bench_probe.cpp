// What this machine can do, so every kernel can be reported as a fraction of it:
//   probe/mem_read/t{1,2}            read bandwidth of DRAM: a buffer of dram_footprint_bytes() (>= 1 GiB
//                                    and >= 2x the last-level cache: this VM's L3 is 480 MB), bytes_per_second
//   probe/mem_read_prefetch/t{1,2}   the same with software prefetch 4 KiB ahead
//   probe/mem_read_4streams/t{1,2}   4 concurrent sequential streams with prefetch (like a 4-row tile)
//                                    (the report takes the max of the three as the bandwidth limit;
//                                    an iteration reads one 64 MiB slice, the slices rotating through
//                                    the buffer; counter best_GBps = the fastest slice)
//   probe/cache_read/t{1,2}          the same read loop over 64 MiB that stays in the L3 (context only: it
//                                    shows how far above DRAM a cache-resident benchmark can go; the report
//                                    does not use it as a limit)
//   probe/fma_f32/{avx2,avx512}/t{N} peak f32 FMA throughput, 2 flops per lane per FMA (FLOPS)
//   probe/int8_dot/avx2/t{N}         VPMADDUBSW+VPMADDWD+VPADDD, the AVX2 int8 dot sequence (FLOPS = 2/MAC)
//   probe/int8_dot/avx512/t{N}       VPDPBUSD (VNNI), 64 MACs per instruction (FLOPS = 2/MAC)
// Threads run through the same persistent ThreadPool the kernels use. CPU time is the whole process's
// (all threads), so bench_report.py can also give "per dedicated core" rates on a shared machine.
#include <benchmark/benchmark.h>
// GCC 12's AVX-512 intrinsic headers trip -Wuninitialized on their own "undefined" vectors (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/dram_footprint.h"
#include "bench/read_loop.h"
#include "kernels/isa.h"
#include "kernels/thread_pool.h"

namespace {

using kestrel::kernels::Isa;
using kestrel::kernels::ThreadPool;
using kestrel::bench::read_range;
using kestrel::bench::read_range_4streams;

const size_t kBufferBytes = kestrel::bench::dram_footprint_bytes();
constexpr size_t kCacheBufferBytes = size_t(64) << 20;

uint8_t* buffer() {
  static uint8_t* buf = [] {
    auto* b = static_cast<uint8_t*>(std::aligned_alloc(4096, kBufferBytes));
    for (size_t i = 0; i < kBufferBytes; i += 64) std::memset(b + i, static_cast<int>(i >> 6), 64);  // fault in
    return b;
  }();
  return buf;
}

// One iteration reads the next of kSlices slices of the buffer (rotating, so a slice was last read
// kBufferBytes - slice bytes ago: not in cache), split over the threads. Counters: bytes_per_second
// (mean) and best_GBps, the fastest slice (wall): a slice takes ~1-2 ms, so on a shared machine some
// run with the cores to themselves; bench_matmul's best_GBps is the same statistic over calls.
constexpr size_t kSlices = 16;
template <class Read>
void mem_read_slices(benchmark::State& state, Read read) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  const uint8_t* buf = buffer();
  const size_t slice = kBufferBytes / kSlices / 4096 * 4096;
  size_t next = 0;
  double best_s = 1e30;
  for (auto _ : state) {
    const uint8_t* base = buf + next * slice;
    const auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int ith, int nth) {
      const size_t chunk = slice / nth / 256 * 256;
      benchmark::DoNotOptimize(read(base + chunk * ith, chunk));
    });
    best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    next = next + 1 == kSlices ? 0 : next + 1;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(slice));
  state.counters["best_GBps"] = static_cast<double>(slice) / best_s * 1e-9;
}

template <bool kPrefetch>
void BM_MemRead(benchmark::State& state) {
  mem_read_slices(state, [](const uint8_t* p, size_t bytes) { return read_range<kPrefetch>(p, bytes); });
}

void BM_MemRead4(benchmark::State& state) {
  mem_read_slices(state, [](const uint8_t* p, size_t bytes) { return read_range_4streams(p, bytes); });
}

void BM_CacheRead(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  const uint8_t* buf = buffer();  // its first 64 MiB, re-read every iteration: L3-resident
  for (auto _ : state) {
    pool.run([&](int ith, int nth) {
      const size_t chunk = kCacheBufferBytes / nth / 128 * 128;
      benchmark::DoNotOptimize(read_range<false>(buf + chunk * ith, chunk));
    });
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kCacheBufferBytes));
}


constexpr int64_t kIters = 1 << 20;

// 12 independent accumulators hide the FMA latency (4 cycles x 2-3 pipes).
__attribute__((target("avx2,fma"))) float fma_avx2() {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (int64_t it = 0; it < kIters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  return _mm256_cvtss_f32(s);
}
__attribute__((target("avx512f"))) float fma_avx512() {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t it = 0; it < kIters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}
__attribute__((target("avx2"))) int int8_avx2() {
  // Six independent product streams (distinct, opaque inputs so nothing is hoisted or shared); the
  // accumulating add is the only loop-carried dependency.
  __m256i acc[6], s[6];
  for (int i = 0; i < 6; ++i) {
    acc[i] = _mm256_set1_epi32(i);
    s[i] = _mm256_set1_epi8(static_cast<char>(i - 3));
  }
  const __m256i u = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  for (int64_t it = 0; it < kIters; ++it) {
    asm volatile("" : "+x"(s[0]), "+x"(s[1]), "+x"(s[2]), "+x"(s[3]), "+x"(s[4]), "+x"(s[5]));
    for (int i = 0; i < 6; ++i)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(u, s[i]), ones));
  }
  __m256i t = acc[0];
  for (int i = 1; i < 6; ++i) t = _mm256_add_epi32(t, acc[i]);
  return _mm256_extract_epi32(t, 0);
}
__attribute__((target("avx512f,avx512vnni"))) int int8_avx512() {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < kIters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], u, s);
  __m512i t = acc[0];
  for (int i = 1; i < 12; ++i) t = _mm512_add_epi32(t, acc[i]);
  return _mm512_reduce_add_epi32(t);
}

// flops_per_call: per thread per call of fn.
template <class Fn>
void compute_probe(benchmark::State& state, Isa isa, Fn fn, double flops_per_call) {
  if (!kestrel::kernels::isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) pool.run([&](int, int) { benchmark::DoNotOptimize(fn()); });
  state.counters["FLOPS"] = benchmark::Counter(flops_per_call * pool.size(), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_FmaAvx2(benchmark::State& s) { compute_probe(s, Isa::Avx2, fma_avx2, 2.0 * 8 * 12 * kIters); }
void BM_FmaAvx512(benchmark::State& s) { compute_probe(s, Isa::Avx512, fma_avx512, 2.0 * 16 * 12 * kIters); }
void BM_Int8Avx2(benchmark::State& s) { compute_probe(s, Isa::Avx2, int8_avx2, 2.0 * 32 * 6 * kIters); }
void BM_Int8Avx512(benchmark::State& s) { compute_probe(s, Isa::Avx512, int8_avx512, 2.0 * 64 * 12 * kIters); }

}  // namespace

BENCHMARK(BM_MemRead<false>)->Name("probe/mem_read")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime()->MinTime(1.0);
BENCHMARK(BM_MemRead<true>)->Name("probe/mem_read_prefetch")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime()->MinTime(1.0);
BENCHMARK(BM_MemRead4)->Name("probe/mem_read_4streams")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime()->MinTime(1.0);
BENCHMARK(BM_CacheRead)->Name("probe/cache_read")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_FmaAvx2)->Name("probe/fma_f32/avx2")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_FmaAvx512)->Name("probe/fma_f32/avx512")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_Int8Avx2)->Name("probe/int8_dot/avx2")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_Int8Avx512)->Name("probe/int8_dot/avx512")->ArgName("t")->Arg(1)->Arg(2)->UseRealTime()->MeasureProcessCPUTime();

BENCHMARK_MAIN();
