// Attention: every ISA's online-softmax kernel against a naive full-softmax reference in double, on
// odd head dims, GQA ratios 1/3/4/8 (whole and split head groups), pos0 > 0, one and many new tokens, F32 and F16 caches, 1 and 2
// threads; the F16 batch order (>= kFaTileTokens tokens) bit-identical to its scalar twin on every ISA;
// plus the argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernels/ops_isa.h"
#include "kernels/thread_pool.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

std::vector<Isa> all_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

struct Case {
  int64_t head_dim, n_head, n_head_kv, pos0, n_tokens;
  TensorType cache;
};

std::string describe(const Case& c, Isa isa) {
  return std::string(isa_name(isa)) + " hd=" + std::to_string(c.head_dim) + " heads=" + std::to_string(c.n_head) +
         "/" + std::to_string(c.n_head_kv) + " pos0=" + std::to_string(c.pos0) +
         " tokens=" + std::to_string(c.n_tokens) + " cache=" + (c.cache == TensorType::F16 ? "f16" : "f32");
}

// Inputs for one case: q and a cache of n_ctx = pos0 + n_tokens positions, F32 values plus the F16
// bits of the same values (the reference reads the cache through the same rounding).
struct Inputs {
  std::vector<float> q, k, v;          // k/v as the kernel sees them (F16-rounded for an F16 cache)
  std::vector<uint16_t> k16, v16;
};

Inputs make_inputs(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t n_ctx = c.pos0 + c.n_tokens;
  Inputs in;
  in.q.resize(static_cast<size_t>(c.n_tokens * c.n_head * c.head_dim));
  in.k.resize(static_cast<size_t>(n_ctx * c.n_head_kv * c.head_dim));
  in.v.resize(in.k.size());
  for (float& x : in.q) x = d(rng);
  // Keys with some scale so the softmax is not flat; values centred away from zero so relative
  // errors are meaningful.
  for (float& x : in.k) x = 1.5f * d(rng);
  for (float& x : in.v) x = 1.0f + d(rng);
  if (c.cache == TensorType::F16) {
    in.k16.resize(in.k.size());
    in.v16.resize(in.v.size());
    for (size_t i = 0; i < in.k.size(); ++i) {
      in.k16[i] = fp32_to_fp16(in.k[i]);
      in.v16[i] = fp32_to_fp16(in.v[i]);
      in.k[i] = fp16_to_fp32(in.k16[i]);
      in.v[i] = fp16_to_fp32(in.v16[i]);
    }
  }
  return in;
}

// Full softmax in double; with an F16 cache q is rounded to F16 first (the documented behaviour).
std::vector<double> reference(const Case& c, const Inputs& in, float scale) {
  std::vector<double> out(in.q.size());
  const int64_t group = c.n_head / c.n_head_kv, stride = c.n_head_kv * c.head_dim;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int64_t h = 0; h < c.n_head; ++h) {
      const float* q = &in.q[static_cast<size_t>((t * c.n_head + h) * c.head_dim)];
      std::vector<double> qd(q, q + c.head_dim);
      if (c.cache == TensorType::F16 && c.n_tokens < kFaTileTokens)  // (the tiled order keeps q in F32)
        for (double& x : qd) x = fp16_to_fp32(fp32_to_fp16(static_cast<float>(x)));
      const int64_t n_pos = c.pos0 + t + 1, kvh = h / group;
      std::vector<double> s(static_cast<size_t>(n_pos));
      double mx = -1e300;
      for (int64_t j = 0; j < n_pos; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < c.head_dim; ++d) dot += qd[d] * in.k[j * stride + kvh * c.head_dim + d];
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (int64_t d = 0; d < c.head_dim; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < n_pos; ++j) acc += s[j] * in.v[j * stride + kvh * c.head_dim + d];
        out[static_cast<size_t>((t * c.n_head + h) * c.head_dim + d)] = acc / sum;
      }
    }
  }
  return out;
}

std::vector<float> run(Isa isa, ThreadPool& pool, const Case& c, const Inputs& in, float scale) {
  std::vector<float> out(in.q.size(), -12345.0f);
  AttentionArgs a;
  a.q = in.q.data();
  a.cache_type = c.cache;
  a.k_cache = c.cache == TensorType::F16 ? static_cast<const void*>(in.k16.data()) : in.k.data();
  a.v_cache = c.cache == TensorType::F16 ? static_cast<const void*>(in.v16.data()) : in.v.data();
  a.n_tokens = c.n_tokens;
  a.n_head = c.n_head;
  a.n_head_kv = c.n_head_kv;
  a.head_dim = c.head_dim;
  a.pos0 = c.pos0;
  a.scale = scale;
  a.out = out.data();
  attention_isa(isa, pool, a);
  return out;
}

std::vector<Case> cases() {
  const bool small = sanitized();
  std::vector<Case> cs;
  for (TensorType cache : {TensorType::F32, TensorType::F16}) {
    for (int64_t hd : {64, 128, 80, 96, 7}) {
      for (int64_t ratio : {1, 3, 4, 8}) {
        const int64_t n_head_kv = ratio == 1 ? 3 : 2;
        // Decode at a long position (several softmax blocks), prompt from 0, and a chunk after a prefix.
        cs.push_back({hd, n_head_kv * ratio, n_head_kv, small ? 70 : 300, 1, cache});
        cs.push_back({hd, n_head_kv * ratio, n_head_kv, 0, small ? 9 : 40, cache});
        cs.push_back({hd, n_head_kv * ratio, n_head_kv, 33, 5, cache});
        // A batch of >= kFaTileTokens (F16: llama.cpp's tiled flash-attention order), after a prefix
        // that is not a multiple of the 64-cell tile.
        if (!small || hd == 7) cs.push_back({hd, n_head_kv * ratio, n_head_kv, 37, kFaTileTokens + 3, cache});
      }
    }
  }
  return cs;
}

TEST(Attention, EveryIsaMatchesFullSoftmaxReference) {
  ThreadPool pool1(1), pool2(2);
  uint32_t seed = 1;
  for (const Case& c : cases()) {
    const Inputs in = make_inputs(c, seed++);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const std::vector<double> want = reference(c, in, scale);
    for (Isa isa : all_isas()) {
      for (ThreadPool* pool : {&pool1, &pool2}) {
        const std::vector<float> got = run(isa, *pool, c, in, scale);
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_NEAR(got[i], want[i], 2e-5 * (1.0 + std::fabs(want[i])))
              << describe(c, isa) << " threads=" << pool->size() << " at " << i;
        }
      }
    }
  }
}

// The tiled F16 order (attention_fa_impl.h) is written once as scalar FMA code: every ISA's result must be
// the scalar twin's bit for bit, with 1 or 2 threads (rows are independent of how jobs group them).
TEST(Attention, F16BatchOrderIsTheScalarTwinsOnEveryIsa) {
  ThreadPool pool1(1), pool2(2);
  uint32_t seed = 500;
  for (const Case& c : {Case{256, 4, 1, 0, 130, TensorType::F16}, Case{80, 6, 2, 61, 64, TensorType::F16},
                        Case{7, 3, 3, 5, 97, TensorType::F16}}) {
    if (sanitized() && c.head_dim > 80) continue;  // minutes there
    const Inputs in = make_inputs(c, seed++);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const std::vector<float> twin = run(Isa::Scalar, pool1, c, in, scale);
    for (Isa isa : all_isas())
      for (ThreadPool* pool : {&pool1, &pool2}) {
        const std::vector<float> got = run(isa, *pool, c, in, scale);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_EQ(got[i], twin[i]) << describe(c, isa) << " threads=" << pool->size() << " at " << i;
      }
  }
}

TEST(Attention, FirstTokenAttendsOnlyToItself) {
  // pos0 = 0, one token: the output is exactly v[0] of the head's KV head, whatever the scores.
  Case c{64, 8, 2, 0, 1, TensorType::F32};
  Inputs in = make_inputs(c, 99);
  ThreadPool pool(2);
  for (Isa isa : all_isas()) {
    const std::vector<float> got = run(isa, pool, c, in, 0.125f);
    for (int64_t h = 0; h < 8; ++h)
      for (int64_t d = 0; d < 64; ++d)
        ASSERT_FLOAT_EQ(got[h * 64 + d], in.v[(h / 4) * 64 + d]) << isa_name(isa) << " head " << h;
  }
}

TEST(Attention, LaterCachePositionsAreNotRead) {
  // Causality: filling the cache beyond pos0 + t with garbage must not change token t's output.
  Case c{32, 4, 4, 10, 3, TensorType::F32};
  Inputs in = make_inputs(c, 7);
  ThreadPool pool(1);
  const std::vector<float> before = run(Isa::Scalar, pool, c, in, 0.2f);
  Inputs poisoned = in;  // position 12 (the last token's own) becomes NaN
  const int64_t stride = c.n_head_kv * c.head_dim;
  for (int64_t d = 0; d < stride; ++d) poisoned.k[12 * stride + d] = poisoned.v[12 * stride + d] = NAN;
  const std::vector<float> after = run(Isa::Scalar, pool, c, poisoned, 0.2f);
  // Tokens 0 and 1 (positions 10, 11) never see position 12.
  for (size_t i = 0; i < static_cast<size_t>(2 * c.n_head * c.head_dim); ++i) EXPECT_EQ(after[i], before[i]) << i;
  EXPECT_TRUE(std::isnan(after.back()));
}

TEST(Attention, F16CacheRoundsQueryToF16) {
  // A query component below F16 precision (1 + 2^-13 rounds to 1) must not change the scores.
  Case c{8, 1, 1, 4, 1, TensorType::F16};
  Inputs in = make_inputs(c, 5);
  for (float& x : in.q) x = 1.0f;
  ThreadPool pool(1);
  const std::vector<float> a = run(Isa::Scalar, pool, c, in, 1.0f);
  for (float& x : in.q) x = 1.0f + 1.0f / 8192.0f;
  const std::vector<float> b = run(Isa::Scalar, pool, c, in, 1.0f);
  EXPECT_EQ(a, b);
}

TEST(Attention, ArgumentChecksNameTheProblem) {
  std::vector<float> q(64), kv(64), out(64);
  AttentionArgs a;
  a.q = q.data();
  a.k_cache = kv.data();
  a.v_cache = kv.data();
  a.out = out.data();
  a.n_tokens = 1;
  a.n_head = 6;
  a.n_head_kv = 4;
  a.head_dim = 8;
  Status s = check_attention_args(a);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("multiple of n_head_kv"), std::string::npos) << s.message();
  a.n_head = 8;
  EXPECT_TRUE(check_attention_args(a).is_ok());
  a.cache_type = TensorType::Q8_0;
  s = check_attention_args(a);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("q8_0"), std::string::npos) << s.message();
  a.cache_type = TensorType::F32;
  a.out = q.data() + 8;
  s = check_attention_args(a);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("overlap"), std::string::npos) << s.message();
}

TEST(AttentionDeathTest, BadArgumentsStopWithAMessage) {
  std::vector<float> q(64), kv(64), out(64);
  AttentionArgs a;
  a.q = q.data();
  a.k_cache = kv.data();
  a.v_cache = kv.data();
  a.out = out.data();
  a.n_tokens = 1;
  a.n_head = 3;
  a.n_head_kv = 2;
  a.head_dim = 8;
  ThreadPool pool(1);
  EXPECT_DEATH(attention(pool, a), "n_head 3 is not a multiple of n_head_kv 2");
}

}  // namespace
}  // namespace kestrel::kernels
