// matmul throughput per weight type x ISA x shape x batch x threads.
//
// Names: matmul/<type>/<isa>/<n_in>x<n_out>/b<batch>/t<threads>, where n_in x n_out is ggml's
// ne0 x ne1 of the weight: n_in is the row length (the dot-product length), n_out the number of rows
// (outputs per token). E.g. 4096x14336 is Llama-3-8B's ffn_gate/ffn_up (4096 in, 14336 out). The
// "128256x2048" shape of the task list is Llama-3.2-1B's output layer, whose ggml shape is
// ne0 = 2048, ne1 = 128256, so it appears here as 2048x128256 (n_in = 2048, n_out = 128256).
// Counters: weight_GBps = weight bytes streamed per second (decode is bound by this);
// FLOPS = 2 * n_in * n_out * batch per call. CPU time is the process's (all threads): on a shared
// machine, rate * wall / (cpu / threads) is the rate with dedicated cores (bench_report.py "cpu").
// best_GBps = weight bytes / the fastest single call (wall): a call lasts ~1-10 ms, so on a shared
// machine some calls run with the cores to themselves, and the fastest one is the quiet-machine rate
// (bench_probe's mem_read rows report the same statistic over slices of the same size order).
//
// Default run: the acceptance shapes only (quick). `--full` runs the whole sweep (all types, ISAs,
// shapes {2048x2048, 2048x8192, 8192x2048, 4096x14336, 2048x128256}, batch {1, 16, 512}, threads
// {1, 2}); scalar is only run at batch 1 (it is the reference, not a contender). `--decode`: batch 1
// of every quantized and 16-bit type on 4096x14336, best ISA, 1 and 2 threads. `--decode-1b`: batch 1
// of Q4_0/Q8_0/Q4_K/Q6_K on every matrix shape of the 1B Llama-3.2 decode step.
// Batch-1 rows rotate over distinct weight copies (bench/dram_footprint.h: >= 1 GiB and >= 2x the LLC in total, counter "copies"; `--in-cache`: one copy, for compute speed) so the weight
// comes from DRAM on every call, like bench_probe's mem_read.
// `--huge`: every weight copy in one 2 MiB-aligned MADV_HUGEPAGE block (what the weight store gives
// repacked and copied matrices at load). `--repacked` (implies --huge): the copies in the type's
// load-time layout (kernels/repack.h) where the ISA has one, named matmul_repacked/...
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/dram_footprint.h"
#include "bench/synthetic_weights.h"
#include "kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "kernels/repack.h"
#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"
#include "kernels/type_traits.h"
#include "kernels/thread_pool.h"

namespace {

using namespace kestrel;
using namespace kestrel::kernels;
using kestrel::bench::make_weights;

struct Shape {
  int64_t n_in, n_out;
};

// Bytes of distinct weight copies a decode benchmark cycles through: the same footprint as bench_probe's
// mem_read buffer (>= 1 GiB and >= 2x the last-level cache), so both measure DRAM.
// `--in-cache` sets it to 0 (one copy, called in a loop: cache-resident, i.e. the kernel's compute speed).
size_t g_rotate_bytes = kestrel::bench::dram_footprint_bytes();

bool g_huge = false, g_repacked = false;

// The fastest call of a benchmark (wall time), for best_GBps.
struct BestCall {
  std::chrono::steady_clock::time_point t0;
  double best_s = 1e30;
  void start() { t0 = std::chrono::steady_clock::now(); }
  void stop() { best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()); }
  double rate(double bytes) const { return best_s < 1e30 ? bytes / best_s * 1e-9 : 0; }
};

void BM_Matmul(benchmark::State& state, TensorType t, Isa isa, Shape sh, int64_t batch, int threads) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  // Decode rows rotate over distinct copies of the weight whose total exceeds the last-level cache
  // (g_rotate_bytes), so every call streams its weight from DRAM as a model's decode step does (this
  // VM's L3 is 480 MB: one 33 MB matrix called in a loop stays cached). Batches are compute bound and
  // use one copy. Each copy is its own allocation, in separately faulted-in pages.
  const std::vector<uint8_t> w0 = make_weights(t, sh.n_in, sh.n_out);
  const size_t copies = batch < 8 ? bench::copies_for(g_rotate_bytes, w0.size()) : 1;
  const RepackLayout* layout = g_repacked && isa == active_isa() ? repack_layout(isa, t) : nullptr;
  ThreadPool pool(threads);
  bench::WeightCopies ws;
  if (!ws.make(w0, copies, g_huge || g_repacked, layout, pool, sh.n_in, sh.n_out)) {
    state.SkipWithError("out of memory");
    return;
  }
  std::vector<float> x(sh.n_in * batch);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
  std::vector<float> y(sh.n_out * batch);
  auto call = [&](const void* w) {
    if (layout) matmul_packed(pool, *layout, w, sh.n_in, sh.n_out, x.data(), batch, y.data(), sh.n_out);
    else matmul_isa(isa, pool, t, w, sh.n_in, sh.n_out, x.data(), batch, y.data(), sh.n_out);
  };
  for (const void* w : ws.ptrs) call(w);  // warm-up (and the activation scratch grows once)
  size_t next = 0;
  BestCall best;
  for (auto _ : state) {
    best.start();
    call(ws.ptrs[next]);
    best.stop();
    next = next + 1 == copies ? 0 : next + 1;
    benchmark::ClobberMemory();
  }
  state.counters["copies"] = static_cast<double>(copies);
  state.counters["repacked"] = layout ? 1 : 0;
  state.counters["weight_GBps"] =
      benchmark::Counter(static_cast<double>(w0.size()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["best_GBps"] = best.rate(static_cast<double>(w0.size()));
#if defined(__x86_64__)
  state.counters["amx"] = isa == Isa::Avx512 && amx_enabled() ? 1 : 0;
#endif
  state.counters["FLOPS"] = benchmark::Counter(2.0 * sh.n_in * sh.n_out * batch, benchmark::Counter::kIsIterationInvariantRate);
}

void add(TensorType t, Isa isa, Shape sh, int64_t batch, int threads) {
  const bool packed = g_repacked && isa == active_isa() && repack_layout(isa, t) != nullptr;
  const std::string name = std::string(packed ? "matmul_repacked/" : g_huge ? "matmul_huge/" : "matmul/") + std::string(type_name(t)) + "/" + std::string(isa_name(isa)) + "/" +
                           std::to_string(sh.n_in) + "x" + std::to_string(sh.n_out) + "/b" + std::to_string(batch) +
                           "/t" + std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), BM_Matmul, t, isa, sh, batch, threads)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
}

#if defined(__x86_64__)
// Q4_K / Q6_K on the load-time x16 layout (kernels/kquant_x16.h, the AVX-512 repack entries) beside the
// ggml-layout rows in the same run: "matmul/<type>_x16/avx512/...", 4 KiB pages like the plain rows
// (`--repacked` measures every repacked type on huge pages instead, as the weight store holds them).
void BM_MatmulX16(benchmark::State& state, TensorType t, Shape sh, int64_t batch, int threads) {
  const RepackLayout* layout = isa_supported(Isa::Avx512) && active_isa() == Isa::Avx512 ? repack_layout(Isa::Avx512, t) : nullptr;
  if (layout == nullptr) {
    state.SkipWithError("no AVX-512 x16 layout on this CPU");
    return;
  }
  const std::vector<uint8_t> w0 = make_weights(t, sh.n_in, sh.n_out);
  const size_t bytes = layout->bytes(sh.n_in, sh.n_out);
  const size_t copies = batch < 8 ? std::max<size_t>(1, (g_rotate_bytes + bytes - 1) / bytes) : 1;
  ThreadPool pool(threads);
  std::vector<uint8_t*> ws(copies);
  for (uint8_t*& w : ws) {
    w = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    repack_matrix(pool, *layout, w0.data(), sh.n_in, sh.n_out, w);
  }
  std::vector<float> x(sh.n_in * batch);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
  std::vector<float> y(sh.n_out * batch);
  for (const uint8_t* w : ws) matmul_packed(pool, *layout, w, sh.n_in, sh.n_out, x.data(), batch, y.data(), sh.n_out);
  size_t next = 0;
  BestCall best;
  for (auto _ : state) {
    best.start();
    matmul_packed(pool, *layout, ws[next], sh.n_in, sh.n_out, x.data(), batch, y.data(), sh.n_out);
    best.stop();
    next = next + 1 == copies ? 0 : next + 1;
    benchmark::ClobberMemory();
  }
  state.counters["copies"] = static_cast<double>(copies);
  state.counters["weight_GBps"] = benchmark::Counter(static_cast<double>(bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["best_GBps"] = best.rate(static_cast<double>(bytes));
  state.counters["amx"] = amx_enabled() ? 1 : 0;
  state.counters["FLOPS"] = benchmark::Counter(2.0 * sh.n_in * sh.n_out * batch, benchmark::Counter::kIsIterationInvariantRate);
  for (uint8_t* w : ws) std::free(w);
}

void add_x16(TensorType t, Shape sh, int64_t batch, int threads) {
  const std::string name = "matmul/" + std::string(type_name(t)) + "_x16/avx512/" + std::to_string(sh.n_in) + "x" +
                           std::to_string(sh.n_out) + "/b" + std::to_string(batch) + "/t" + std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), BM_MatmulX16, t, sh, batch, threads)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
}
#endif

}  // namespace

// AVX-512 prompt batches run on AMX tiles where the CPU has them (counter amx=1); KESTREL_AMX=0 in the
// environment measures the VNNI kernels instead.
int main(int argc, char** argv) {
  bool full = false, q32 = false, decode = false, decode_rows = false, verify_rows = false, decode_1b = false,
       prompt = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) full = true;
    else if (std::strcmp(argv[i], "--q32") == 0) q32 = true;
    else if (std::strcmp(argv[i], "--decode") == 0) decode = true;
    else if (std::strcmp(argv[i], "--decode-1b") == 0) decode_1b = true;
    else if (std::strcmp(argv[i], "--in-cache") == 0) g_rotate_bytes = 0;
    else if (std::strcmp(argv[i], "--decode-rows") == 0) decode_rows = true;
    else if (std::strcmp(argv[i], "--huge") == 0) g_huge = true;
    else if (std::strcmp(argv[i], "--repacked") == 0) g_repacked = true;
    else if (std::strcmp(argv[i], "--verify-rows") == 0) verify_rows = true;
    else if (std::strcmp(argv[i], "--prompt") == 0) prompt = true;
    else args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  const TensorType types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                              TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::IQ4_NL,
                              TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                              TensorType::Q2_K, TensorType::Q3_K, TensorType::IQ4_XS};
  if (prompt) {
    // Prompt processing (pp512) of the six benchmark types on the 1B Llama-3.2 FFN shape, best ISA,
    // 1 and 2 threads: the batched GEMM that llm-bench's pp512 spends most of its time in.
    for (int th : {1, 2})
      for (TensorType t : {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K,
                           TensorType::Q6_K})
        add(t, best_isa(), {2048, 8192}, 512, th);
  } else if (verify_rows) {
    // Speculative decoding's verify batches (1 + k drafted tokens of one stream) on 16/32-bit weights,
    // 2 threads: where the dot-product tiles hand over to the packed GEMM, whose panel transpose is paid
    // once per call and dominates at a few rows.
    for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16})
      for (int64_t b : {1, 4, 8, 16, 32, 64, 96, 128}) add(t, best_isa(), {2048, 8192}, b, 2);
  } else if (decode_rows) {
    // Batched decode as llm-server runs it (one row per parallel stream) on the 1B Llama-3.2 FFN shape,
    // 2 threads: where the dot-product kernels hand over to the packed GEMM (kPackedMinTokens).
    // F16/BF16 also at 24 and 48: where the AMX BF16 tiles take over (kAmxHalfMinTokens).
    for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::F16,
                         TensorType::BF16})
      for (int64_t b : {1, 4, 8, 12, 16, 24, 32, 48, 64}) {
        const bool half = t == TensorType::F16 || t == TensorType::BF16;
        if (half || (b != 24 && b != 48)) add(t, best_isa(), {2048, 8192}, b, 2);
      }
  } else if (decode) {
    // Decode of every type: batch 1 on 4096x14336 (Llama-3-8B's ffn_up), best ISA, 1 and 2 threads,
    // each call on a weight copy not in cache (see kRotateBytes).
    for (int th : {1, 2})
      for (TensorType t : types)
        if (t != TensorType::F32) {
          add(t, best_isa(), {4096, 14336}, 1, th);
          // Llama-3.2-1B's output layer (tied embedding, often Q6_K or Q8_0 in mixtures): short rows.
          if (t == TensorType::Q6_K || t == TensorType::Q8_0) add(t, best_isa(), {2048, 128256}, 1, th);
#if defined(__x86_64__)
          if (t == TensorType::Q4_K || t == TensorType::Q6_K) add_x16(t, {4096, 14336}, 1, th);
          if (t == TensorType::Q6_K) add_x16(t, {2048, 128256}, 1, th);
#endif
        }
  } else if (decode_1b) {
    // A decode step of the 1B Llama-3.2 benchmark files matrix by matrix (attn_q/attn_output 2048x2048,
    // attn_k/attn_v 2048x512, ffn_gate/up 2048x8192, ffn_down 8192x2048, the tied output 2048x128256):
    // the small matrices show what a call costs beyond streaming its bytes.
    for (int th : {1, 2})
      for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K})
        for (Shape sh : {Shape{2048, 512}, Shape{2048, 2048}, Shape{2048, 8192}, Shape{8192, 2048}, Shape{2048, 128256}})
          add(t, best_isa(), sh, 1, th);
  } else if (q32) {
    // The other 32-value block types beside Q4_0/Q8_0: decode on 4096x14336 (memory bound) and a
    // 512-token prompt batch on 2048x2048 (compute bound), best ISA and AVX2, 1 and 2 threads.
    for (Isa isa : {best_isa(), Isa::Avx2}) {
      if (!isa_supported(isa) || (isa == Isa::Avx2 && best_isa() == Isa::Avx2)) continue;
      for (int th : {1, 2})
        for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_1, TensorType::Q5_0,
                             TensorType::Q5_1, TensorType::IQ4_NL}) {
          add(t, isa, {4096, 14336}, 1, th);
          add(t, isa, {2048, 2048}, 512, th);
        }
    }
  } else if (full) {
    const Shape shapes[] = {{2048, 2048}, {2048, 8192}, {8192, 2048}, {4096, 14336}, {2048, 128256}};
    for (TensorType t : types)
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!isa_supported(isa)) continue;
        for (Shape sh : shapes)
          for (int64_t b : {1, 16, 512}) {
            if (isa == Isa::Scalar && b > 1) continue;
            for (int th : {1, 2}) add(t, isa, sh, b, th);
          }
      }
  } else {
    // Acceptance: decode (batch 1) Q4_0/Q8_0/Q4_K/Q6_K on 4096x14336 vs memory bandwidth; prompt
    // (batch 512) F32/Q8_0/Q4_K/Q6_K vs peak FLOPs; on the best ISA (and AVX2 for comparison), 1 and 2 threads.
    for (Isa isa : {best_isa(), Isa::Avx2}) {
      if (!isa_supported(isa) || (isa == Isa::Avx2 && best_isa() == Isa::Avx2)) continue;
      for (int th : {1, 2}) {
        for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K})
          add(t, isa, {4096, 14336}, 1, th);
        for (TensorType t : {TensorType::F32, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K})
          add(t, isa, {2048, 2048}, 512, th);
#if defined(__x86_64__)
        if (isa == Isa::Avx512)
          for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K}) add_x16(t, {4096, 14336}, 1, th), add_x16(t, {2048, 2048}, 512, th);
#endif
      }
    }
  }
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
