// Element-wise and attention kernels per ISA at model shapes:
//   rmsnorm / softmax / swiglu: n = 2048, 4096, 14336 (Llama hidden and FFN sizes; softmax also at the
//   32000 and 128256 vocabularies), rope (one portable implementation): 32 heads of 64/128,
//   attention decode (1 new token): 32 query heads / 8 KV heads, head_dim 64/128, context 512/2048,
//   F32 and F16 caches, 1 and 2 threads; plus a 64-token prompt chunk at context 512.
// Names are <kernel>/<isa>/<shape...>; bytes_per_second counts the bytes each call must touch, so
// memory-bound kernels can be read against the machine's bandwidth.
//   build/bin/bench_ops --benchmark_filter='attention/.*/hd128' --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"
#include "kernels/type_traits.h"

namespace {
using namespace kestrel;
using namespace kestrel::kernels;

std::vector<float> random_vec(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

void register_elementwise(Isa isa) {
  const std::string in = std::string(isa_name(isa));
  for (int64_t n : {2048, 4096, 14336}) {
    benchmark::RegisterBenchmark(("rmsnorm/" + in + "/" + std::to_string(n)).c_str(), [=](benchmark::State& st) {
      auto x = random_vec(n, -2, 2, 1), w = random_vec(n, -1, 1, 2);
      std::vector<float> out(static_cast<size_t>(n));
      for (auto _ : st) {
        rmsnorm_isa(isa, x.data(), w.data(), out.data(), n, 1e-5f);
        benchmark::DoNotOptimize(out.data());
      }
      st.SetBytesProcessed(st.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
    });
    benchmark::RegisterBenchmark(("swiglu/" + in + "/" + std::to_string(n)).c_str(), [=](benchmark::State& st) {
      auto g = random_vec(n, -8, 8, 3), u = random_vec(n, -2, 2, 4);
      std::vector<float> out(static_cast<size_t>(n));
      for (auto _ : st) {
        swiglu_isa(isa, g.data(), u.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
      }
      st.SetBytesProcessed(st.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
    });
  }
  for (int64_t n : {2048, 4096, 14336, 32000, 128256}) {
    benchmark::RegisterBenchmark(("softmax/" + in + "/" + std::to_string(n)).c_str(), [=](benchmark::State& st) {
      // In place, on its own output after the first call: the cost of exp does not depend on the
      // values, and pausing the timer to restore the logits would cost more than a small softmax.
      auto x = random_vec(n, -20, 20, 5);
      for (auto _ : st) {
        softmax_isa(isa, x.data(), n);
        benchmark::DoNotOptimize(x.data());
      }
      st.SetBytesProcessed(st.iterations() * n * 2 * static_cast<int64_t>(sizeof(float)));
    });
  }
}

void register_rope() {
  for (int64_t hd : {64, 128}) {
    for (RopeMode mode : {RopeMode::Normal, RopeMode::Neox}) {
      const std::string name = std::string("rope/portable/") + (mode == RopeMode::Neox ? "neox" : "normal") +
                               "/32x" + std::to_string(hd);
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
        auto x = random_vec(32 * hd, -1, 1, 6);
        RopeParams p;
        p.n_rot = static_cast<int>(hd);
        p.freq_base = 500000.0f;
        p.mode = mode;
        int64_t pos = 0;
        for (auto _ : st) {
          rope(x.data(), 32, hd, pos++ & 4095, p);
          benchmark::DoNotOptimize(x.data());
        }
        st.SetItemsProcessed(st.iterations() * 32);  // heads
      });
    }
  }
}

struct AttnShape {
  int64_t head_dim, n_ctx, n_tokens;
  TensorType cache;
  int threads;
};

void register_attention(Isa isa, const AttnShape& s) {
  const std::string name = "attention/" + std::string(isa_name(isa)) + "/hd" + std::to_string(s.head_dim) +
                           "/ctx" + std::to_string(s.n_ctx) + "/tok" + std::to_string(s.n_tokens) + "/" +
                           (s.cache == TensorType::F16 ? "f16" : "f32") + "/t" + std::to_string(s.threads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
    const int64_t n_head = 32, n_head_kv = 8;
    auto q = random_vec(s.n_tokens * n_head * s.head_dim, -1, 1, 7);
    auto kf = random_vec(s.n_ctx * n_head_kv * s.head_dim, -1, 1, 8);
    auto vf = random_vec(s.n_ctx * n_head_kv * s.head_dim, -1, 1, 9);
    std::vector<uint16_t> kh, vh;
    if (s.cache == TensorType::F16) {
      kh.resize(kf.size());
      vh.resize(vf.size());
      for (size_t i = 0; i < kf.size(); ++i) kh[i] = fp32_to_fp16(kf[i]), vh[i] = fp32_to_fp16(vf[i]);
    }
    std::vector<float> out(q.size());
    ThreadPool pool(s.threads);
    AttentionArgs a;
    a.q = q.data();
    a.k_cache = s.cache == TensorType::F16 ? static_cast<const void*>(kh.data()) : kf.data();
    a.v_cache = s.cache == TensorType::F16 ? static_cast<const void*>(vh.data()) : vf.data();
    a.cache_type = s.cache;
    a.n_tokens = s.n_tokens;
    a.n_head = n_head;
    a.n_head_kv = n_head_kv;
    a.head_dim = s.head_dim;
    a.pos0 = s.n_ctx - s.n_tokens;
    a.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    a.out = out.data();
    for (auto _ : st) {
      attention_isa(isa, pool, a);
      benchmark::DoNotOptimize(out.data());
    }
    // The KV cache each call reads at least once.
    const int64_t elem = s.cache == TensorType::F16 ? 2 : 4;
    st.SetBytesProcessed(st.iterations() * 2 * s.n_ctx * n_head_kv * s.head_dim * elem);
  })->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (Isa isa : isas()) register_elementwise(isa);
  register_rope();
  for (Isa isa : isas()) {
    for (int64_t hd : {64, 128})
      for (int64_t ctx : {512, 2048})
        for (TensorType cache : {TensorType::F32, TensorType::F16})
          for (int threads : {1, 2}) register_attention(isa, {hd, ctx, 1, cache, threads});
    register_attention(isa, {128, 512, 64, TensorType::F16, 2});
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
