// Attention with a sliding window, a ring-buffer cache and score soft-capping (Gemma 2/3 local layers):
// every ISA against a naive full-softmax reference in double over the logical positions, with the
// cache laid out as a ring of R rows (position p in row p % R), on odd head dims, windows shorter and
// longer than the history, batches that wrap the ring, and the ring-size check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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

struct Case {
  int64_t head_dim, n_head, n_head_kv, pos0, n_tokens, window, ring;  // ring 0: row = position
  float softcap;
  TensorType cache;
};

std::string describe(const Case& c, Isa isa) {
  return std::string(isa_name(isa)) + " hd=" + std::to_string(c.head_dim) + " heads=" + std::to_string(c.n_head) +
         "/" + std::to_string(c.n_head_kv) + " pos0=" + std::to_string(c.pos0) + " n=" + std::to_string(c.n_tokens) +
         " window=" + std::to_string(c.window) + " ring=" + std::to_string(c.ring) +
         " softcap=" + std::to_string(c.softcap) + (c.cache == TensorType::F16 ? " f16" : " f32");
}

struct Data {
  std::vector<float> q, k, v;  // logical: k/v [pos0 + n_tokens][n_head_kv * head_dim], F16-rounded for F16
  std::vector<float> kr, vr;   // as stored in the cache rows (ring layout)
  std::vector<uint16_t> kr16, vr16;
};

Data make_data(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t n_pos = c.pos0 + c.n_tokens, stride = c.n_head_kv * c.head_dim;
  const int64_t rows = c.ring > 0 ? c.ring : n_pos;
  Data in;
  in.q.resize(static_cast<size_t>(c.n_tokens * c.n_head * c.head_dim));
  in.k.resize(static_cast<size_t>(n_pos * stride));
  in.v.resize(in.k.size());
  for (float& x : in.q) x = d(rng);
  for (float& x : in.k) x = 2.0f * d(rng);  // large scores: the soft-cap matters
  for (float& x : in.v) x = 1.0f + d(rng);
  if (c.cache == TensorType::F16) {
    for (float& x : in.k) x = fp16_to_fp32(fp32_to_fp16(x));
    for (float& x : in.v) x = fp16_to_fp32(fp32_to_fp16(x));
  }
  // Rows not written by any position hold NaN: reading one would poison the output.
  in.kr.assign(static_cast<size_t>(rows * stride), NAN);
  in.vr.assign(in.kr.size(), NAN);
  for (int64_t p = 0; p < n_pos; ++p) {  // later positions overwrite earlier ones, as in the ring
    const int64_t r = c.ring > 0 ? p % c.ring : p;
    for (int64_t e = 0; e < stride; ++e) {
      in.kr[r * stride + e] = in.k[p * stride + e];
      in.vr[r * stride + e] = in.v[p * stride + e];
    }
  }
  if (c.cache == TensorType::F16) {
    in.kr16.resize(in.kr.size());
    in.vr16.resize(in.vr.size());
    for (size_t i = 0; i < in.kr.size(); ++i) in.kr16[i] = fp32_to_fp16(in.kr[i]), in.vr16[i] = fp32_to_fp16(in.vr[i]);
  }
  return in;
}

std::vector<double> reference(const Case& c, const Data& in, float scale) {
  std::vector<double> out(in.q.size());
  const int64_t group = c.n_head / c.n_head_kv, stride = c.n_head_kv * c.head_dim;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    const int64_t p = c.pos0 + t, lo = c.window > 0 ? std::max<int64_t>(0, p - c.window + 1) : 0;
    for (int64_t h = 0; h < c.n_head; ++h) {
      const float* q = &in.q[static_cast<size_t>((t * c.n_head + h) * c.head_dim)];
      std::vector<double> qd(q, q + c.head_dim);
      if (c.cache == TensorType::F16 && c.n_tokens < kFaTileTokens)  // (the tiled order keeps q in F32)
        for (double& x : qd) x = fp16_to_fp32(fp32_to_fp16(static_cast<float>(x)));
      const int64_t kvh = h / group;
      std::vector<double> s;
      double mx = -1e300;
      for (int64_t j = lo; j <= p; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < c.head_dim; ++d) dot += qd[d] * in.k[j * stride + kvh * c.head_dim + d];
        if (c.softcap > 0) dot = c.softcap * std::tanh(dot / c.softcap);
        s.push_back(dot * scale);
        mx = std::max(mx, s.back());
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (int64_t d = 0; d < c.head_dim; ++d) {
        double acc = 0;
        for (int64_t j = lo; j <= p; ++j) acc += s[j - lo] * in.v[j * stride + kvh * c.head_dim + d];
        out[static_cast<size_t>((t * c.n_head + h) * c.head_dim + d)] = acc / sum;
      }
    }
  }
  return out;
}

AttentionArgs args(const Case& c, const Data& in, float scale, float* out) {
  AttentionArgs a;
  a.q = in.q.data();
  a.cache_type = c.cache;
  a.k_cache = c.cache == TensorType::F16 ? static_cast<const void*>(in.kr16.data()) : in.kr.data();
  a.v_cache = c.cache == TensorType::F16 ? static_cast<const void*>(in.vr16.data()) : in.vr.data();
  a.n_tokens = c.n_tokens;
  a.n_head = c.n_head;
  a.n_head_kv = c.n_head_kv;
  a.head_dim = c.head_dim;
  a.pos0 = c.pos0;
  a.window = c.window;
  a.ring = c.ring;
  a.scale = scale;
  a.softcap = c.softcap;
  a.out = out;
  return a;
}

std::vector<Isa> all_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

TEST(AttentionWindow, EveryIsaMatchesReference) {
  std::vector<Case> cs;
  for (TensorType cache : {TensorType::F32, TensorType::F16}) {
    for (int64_t hd : {64, 7, 256}) {
      // decode far past the window in a ring of exactly the window; a batch whose ring wraps mid-batch;
      // a prompt from 0 longer than the window (ring = window + n - 1, the minimum); window longer than
      // the history; a window without a ring; soft-cap alone.
      cs.push_back({hd, 4, 1, 100, 1, 16, 16, 0.0f, cache});
      cs.push_back({hd, 6, 2, 45, 9, 16, 24, 0.0f, cache});
      cs.push_back({hd, 4, 2, 0, 40, 7, 46, 0.0f, cache});
      cs.push_back({hd, 3, 3, 5, 4, 64, 70, 0.0f, cache});
      cs.push_back({hd, 4, 4, 20, 6, 9, 0, 0.0f, cache});
      cs.push_back({hd, 8, 2, 30, 3, 0, 0, 5.0f, cache});
      cs.push_back({hd, 8, 2, 60, 5, 11, 17, 3.0f, cache});
      // Batches of >= kFaTileTokens (F16: the tiled order): a window shorter than a 64-cell tile in a
      // ring that wraps mid-batch, and soft-capping.
      cs.push_back({hd, 4, 1, 50, 70, 20, 90, 0.0f, cache});
      cs.push_back({hd, 8, 2, 3, 66, 0, 0, 5.0f, cache});
    }
  }
  ThreadPool pool1(1), pool2(2);
  uint32_t seed = 3;
  for (const Case& c : cs) {
    const Data in = make_data(c, seed++);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const std::vector<double> want = reference(c, in, scale);
    for (Isa isa : all_isas()) {
      for (ThreadPool* pool : {&pool1, &pool2}) {
        std::vector<float> got(in.q.size(), -1.0f);
        const AttentionArgs a = args(c, in, scale, got.data());
        ASSERT_TRUE(check_attention_args(a)) << describe(c, isa);
        attention_isa(isa, *pool, a);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 3e-5 * (1.0 + std::fabs(want[i]))) << describe(c, isa) << " at " << i;
      }
    }
  }
}

TEST(AttentionWindow, RingTooSmallForTheBatchIsAnError) {
  Case c{8, 2, 1, 10, 5, 4, 7, 0.0f, TensorType::F32};  // needs positions 7..14 = 8 rows
  const Data in = make_data({8, 2, 1, 10, 5, 4, 8, 0.0f, TensorType::F32}, 1);
  std::vector<float> out(in.q.size());
  AttentionArgs a = args(c, in, 0.5f, out.data());
  Status s = check_attention_args(a);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("ring of 7 rows"), std::string::npos) << s.message();
  a.ring = 8;
  EXPECT_TRUE(check_attention_args(a));
  a.softcap = -1.0f;
  EXPECT_FALSE(check_attention_args(a));
  a.softcap = 0.0f;
  a.window = -1;
  EXPECT_FALSE(check_attention_args(a));
}

}  // namespace
}  // namespace kestrel::kernels
