// Every SIMD matmul the machine supports against the scalar twin, for every weight type, on odd shapes
// (row tails, token tails, block tails), with ldy > n_out, single- and multi-threaded.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

std::vector<Isa> simd_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

struct Problem {
  TensorType wt;
  int64_t n_in, n_out, n_tokens, ldy;
  std::vector<uint8_t> w;       // n_out rows in wt
  std::vector<float> w_deq;     // the same weights as floats
  std::vector<float> x;         // n_tokens x n_in
  mutable std::vector<double> mag;  // sum_i |w_i x_i| per (token, row), computed once by magnitude()
  double magnitude(int64_t t, int64_t r) const {
    if (mag.empty()) {
      mag.resize(n_tokens * n_out);
      for (int64_t tt = 0; tt < n_tokens; ++tt)
        for (int64_t rr = 0; rr < n_out; ++rr) {
          double m = 0;
          for (int64_t i = 0; i < n_in; ++i) m += std::fabs(double(w_deq[rr * n_in + i]) * x[tt * n_in + i]);
          mag[tt * n_out + rr] = m;
        }
    }
    return mag[t * n_out + r];
  }
};

Problem make_problem(TensorType wt, int64_t n_in, int64_t n_out, int64_t n_tokens, uint32_t seed) {
  Problem p{wt, n_in, n_out, n_tokens, n_out + 3, {}, {}, {}, {}};
  const TypeTraits* tr = type_traits(wt);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(n_in * n_out);
  for (float& v : wf) v = nd(rng);
  const size_t row_bytes = *bytes_for(wt, n_in);
  p.w.resize(row_bytes * n_out);
  p.w_deq.resize(wf.size());
  for (int64_t r = 0; r < n_out; ++r) {
    tr->from_float(wf.data() + r * n_in, p.w.data() + r * row_bytes, n_in);
    tr->to_float(p.w.data() + r * row_bytes, p.w_deq.data() + r * n_in, n_in);
  }
  p.x.resize(n_in * n_tokens);
  for (float& v : p.x) v = nd(rng);
  return p;
}

std::vector<float> run(Isa isa, ThreadPool& pool, const Problem& p) {
  // NaN-filled so a kernel that skips an output, or writes into the ldy padding, is caught.
  std::vector<float> y(p.ldy * p.n_tokens, std::nanf(""));
  matmul_isa(isa, pool, p.wt, p.w.data(), p.n_in, p.n_out, p.x.data(), p.n_tokens, y.data(), p.ldy);
  return y;
}

// Tolerance per output, relative to m = sum |w_i * x_i| (the size of the terms being added):
//  - integer paths see the same quantized activations as the scalar twin (checked bit for bit in
//    ConvertersMatchScalar), and per-block integer sums are exact, so the only difference is the f32
//    summation order of n_in/32 block terms: <= ~(n_in/32) * 2^-24 * m; we allow 2e-6 * (n_in/32 + 8) * m.
//  - float paths: the scalar twin sums in double; SIMD kernels sum in f32, either n_in/lanes terms per
//    lane plus a reduction (dot-product form) or all n_in terms in sequence per output (the packed
//    outer-product batch kernels); VDPBF16PS also rounds per pair. The worst case is n_in * 2^-24 * m
//    but rounding errors of random-signed terms grow like sqrt(n_in); 1.2e-7 * (n_in/4 + 32) * m is
//    >= 10x the typical error at every tested n_in and smaller than one dropped product (~m / n_in
//    for n_in <= 1024).
//  - Q4_1/Q5_1 add d*q*x and m*x per block as separate terms that can cancel (w = d*q + m near 0), so
//    their terms are up to ~|d*q*x| + |m*x| <= 3 * |w*x| + 2 * |m*x|: their bound is 4x as large.
bool is_kquant(TensorType wt) { return type_traits(wt)->vec_dot_type == TensorType::Q8_K; }
bool is_block_type(TensorType wt) { return type_traits(wt)->block_size == 32; }  // the 32-value blocks

double tolerance(TensorType wt, int64_t n_in, double m) {
  if (wt == TensorType::Q4_1 || wt == TensorType::Q5_1) return 8e-6 * (n_in / 32.0 + 8) * m + 1e-30;
  if (is_block_type(wt)) return 2e-6 * (n_in / 32.0 + 8) * m + 1e-30;
  // K-quants: exact integer sums per super-block, then d * isum - dmin * msum in f32: two terms of size
  // up to ~2m (the min term cancels part of the scale term), rounded per super-block and summed in
  // any order over n_in/256 super-blocks.
  if (is_kquant(wt)) return 2e-6 * (n_in / 256.0 + 8) * m + 1e-30;
  return 1.2e-7 * (n_in / 4.0 + 32) * m + 1e-30;
}

void compare(const Problem& p, Isa isa, ThreadPool& pool, const std::vector<float>& ref) {
  const std::vector<float> y = run(isa, pool, p);
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    for (int64_t r = 0; r < p.n_out; ++r) {
      const double m = p.magnitude(t, r);
      const float want = ref[t * p.ldy + r], got = y[t * p.ldy + r];
      ASSERT_FALSE(std::isnan(got)) << "missing output";
      ASSERT_NEAR(got, want, tolerance(p.wt, p.n_in, m))
          << isa_name(isa) << " " << type_name(p.wt) << " n_in=" << p.n_in << " n_out=" << p.n_out
          << " n_tokens=" << p.n_tokens << " row=" << r << " token=" << t << " threads=" << pool.size();
    }
    for (int64_t r = p.n_out; r < p.ldy; ++r) ASSERT_TRUE(std::isnan(y[t * p.ldy + r])) << "wrote into ldy padding";
  }
}

const TensorType kTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                             TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                             TensorType::IQ4_NL, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                             TensorType::Q2_K, TensorType::Q3_K, TensorType::IQ4_XS};

TEST(Matmul, ScalarMatchesDequantizedDot) {
  // The scalar twin itself against a plain double dot of dequantized weights and converted activations.
  ThreadPool pool(1);
  for (TensorType wt : kTypes) {
    const Problem p = make_problem(wt, is_kquant(wt) ? 512 : 96, 5, 3, 7);
    const std::vector<float> y = run(Isa::Scalar, pool, p);
    const TypeTraits* tr = type_traits(wt);
    const TypeTraits* xt = type_traits(tr->vec_dot_type);
    std::vector<uint8_t> xc(*bytes_for(tr->vec_dot_type, p.n_in));
    std::vector<float> xd(p.n_in);
    for (int64_t t = 0; t < p.n_tokens; ++t) {
      // The matmul's own converter: Q8_0 / Q8_1 activations follow llama.cpp's SIMD rounding
      // (kernels/quant_act.h), not the reference from_float of those types.
      if (tr->vec_dot_type == TensorType::Q8_0) scalar_matmul_kernels()->quantize_row_q8_0(p.x.data() + t * p.n_in, xc.data(), p.n_in);
      else if (tr->vec_dot_type == TensorType::Q8_1) scalar_matmul_kernels()->quantize_row_q8_1(p.x.data() + t * p.n_in, xc.data(), p.n_in);
      else xt->from_float(p.x.data() + t * p.n_in, xc.data(), p.n_in);
      xt->to_float(xc.data(), xd.data(), p.n_in);
      for (int64_t r = 0; r < p.n_out; ++r) {
        double s = 0, m = 0;
        for (int64_t i = 0; i < p.n_in; ++i) {
          s += double(p.w_deq[r * p.n_in + i]) * xd[i];
          m += std::fabs(double(p.w_deq[r * p.n_in + i]) * xd[i]);
        }
        if (tr->vec_dot_type == TensorType::Q8_1) {
          // ggml's formula uses the stored s = fp16(d_x * sum q_x) for the minimum's term, not
          // sum(x_deq): replace m_w * sum(x_deq) by m_w * s per block.
          const size_t row_bytes = *bytes_for(wt, p.n_in);
          for (int64_t b = 0; b < p.n_in / 32; ++b) {
            uint16_t mh, sh;
            std::memcpy(&mh, p.w.data() + r * row_bytes + b * tr->block_bytes + 2, 2);
            std::memcpy(&sh, xc.data() + b * 36 + 2, 2);
            double sum_x = 0;
            for (int j = 0; j < 32; ++j) sum_x += xd[b * 32 + j];
            s += double(fp16_to_fp32(mh)) * (double(fp16_to_fp32(sh)) - sum_x);
          }
        }
        EXPECT_NEAR(y[t * p.ldy + r], s, 1e-6 * m) << type_name(wt);
      }
    }
  }
}

TEST(Matmul, EveryIsaMatchesScalar) {
  const std::vector<Isa> isas = simd_isas();
  if (isas.empty()) GTEST_SKIP() << "no SIMD ISA supported on this machine";
  ThreadPool pool1(1), pool2(2);
  const bool small = sanitized();
  std::vector<int64_t> quant_n_in = {32, 64, 96, 4096 + 32};
  std::vector<int64_t> float_n_in = {1, 7, 32, 33, 64, 96, 257, 4096 + 32};
  std::vector<int64_t> kquant_n_in = {256, 512, 768, 4096 + 256};
  if (small) quant_n_in.pop_back(), float_n_in.pop_back(), kquant_n_in.pop_back();
  uint32_t seed = 1;
  for (TensorType wt : kTypes) {
    for (int64_t n_in : is_kquant(wt) ? kquant_n_in : is_block_type(wt) ? quant_n_in : float_n_in) {
      for (int64_t n_out : {1, 3, 17, 67}) {
        for (int64_t n_tokens : {1, 2, 3, 5, 16, 17}) {
          if (n_in > 1024 && (n_out == 67 || n_tokens == 16)) continue;  // keep the large case quick
          const Problem p = make_problem(wt, n_in, n_out, n_tokens, seed++);
          const std::vector<float> ref = run(Isa::Scalar, pool1, p);
          for (Isa isa : isas) {
            compare(p, isa, pool1, ref);
            compare(p, isa, pool2, ref);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST(Matmul, TokenBlocksAndManyRowChunks) {
  // More tokens than one token block and enough rows for many jobs per thread.
  const std::vector<Isa> isas = simd_isas();
  ThreadPool pool(2);
  for (TensorType wt : {TensorType::Q4_0, TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q5_1,
                        TensorType::IQ4_NL, TensorType::Q4_K, TensorType::Q6_K, TensorType::Q3_K}) {
    // 97 tokens and more reach the AVX-512 packed F32 kernel (kF32PackedMinTokens) under sanitizers too.
    const Problem p = make_problem(wt, is_kquant(wt) ? 256 : 64, sanitized() ? 131 : 263, sanitized() ? 97 : 133, 99);
    const std::vector<float> ref = run(Isa::Scalar, pool, p);
    for (Isa isa : isas) compare(p, isa, pool, ref);
  }
}

#if defined(__x86_64__)
TEST(Matmul, AmxTilesMatchVnniAndScalar) {
  // The AVX-512 prompt kernels with AMX tiles (gemm_amx_avx512.h) and without, on full 16-token tiles,
  // a padded partial tile and row tails (batches of kAmxMinTokens = 32 and more: fewer stay on VNNI). The 32-value block types compute the same integers and the
  // same float operations in the same order either way, so they must agree bit for bit (but Q8_0 / Q5_0,
  // whose VNNI batches follow llama.cpp's x86 lane order); the K-quants
  // scale per block instead of per super-block and are held to the scalar tolerance.
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  if (!cpu_has_amx_int8()) GTEST_SKIP() << "no AMX-INT8 on this CPU (or the OS did not grant the tile state)";
  ThreadPool pool(2);
  uint32_t seed = 7;
  for (TensorType wt : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                        TensorType::IQ4_NL, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q2_K,
                        TensorType::Q3_K, TensorType::IQ4_XS}) {
    for (int64_t n_tokens : {32, 37}) {
      const Problem p = make_problem(wt, is_kquant(wt) ? 768 : 96, 45, n_tokens, seed++);
      const bool was = set_amx_enabled(false);
      const std::vector<float> vnni = run(Isa::Avx512, pool, p);
      set_amx_enabled(true);
      const std::vector<float> amx = run(Isa::Avx512, pool, p);
      set_amx_enabled(was);
      compare(p, Isa::Avx512, pool, run(Isa::Scalar, pool, p));
      // Without AMX, Q8_0 / Q5_0 batches sum in llama.cpp's x86 lane order (8 float lanes per output,
      // test_matmul_x86_order), which the AMX tiles do not follow: the tolerance then, not equality.
      const bool x86_lanes = wt == TensorType::Q8_0 || wt == TensorType::Q5_0;
      for (int64_t t = 0; t < p.n_tokens; ++t)
        for (int64_t r = 0; r < p.n_out; ++r) {
          const float want = vnni[t * p.ldy + r], got = amx[t * p.ldy + r];
          ASSERT_FALSE(std::isnan(got)) << "missing output";
          if (is_block_type(wt) && !x86_lanes) ASSERT_EQ(got, want) << type_name(wt) << " token " << t << " row " << r;
          else ASSERT_NEAR(got, want, 2 * tolerance(wt, p.n_in, p.magnitude(t, r))) << type_name(wt);
        }
    }
  }
}

TEST(Matmul, Avx512SmallFloatBatchesEqualOneTokenCalls) {
  // Speculative decoding checks drafts in a batch of 1 + k tokens and keeps them when they match what
  // decoding token by token gives. For F32/F16/BF16 weights on AVX-512, batches below the packed
  // kernels' thresholds use the dot-product tiles, whose every output is the same accumulation as in a
  // 1-token call: bit for bit equal.
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  ThreadPool pool(2);
  uint32_t seed = 11;
  for (TensorType wt : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    const Problem p = make_problem(wt, 257, 67, 17, seed++);
    const std::vector<float> batch = run(Isa::Avx512, pool, p);
    for (int64_t t = 0; t < p.n_tokens; ++t) {
      Problem one = p;
      one.n_tokens = 1;
      one.x.assign(p.x.begin() + t * p.n_in, p.x.begin() + (t + 1) * p.n_in);
      const std::vector<float> y = run(Isa::Avx512, pool, one);
      for (int64_t r = 0; r < p.n_out; ++r)
        ASSERT_EQ(batch[t * p.ldy + r], y[r]) << type_name(wt) << " token " << t << " row " << r;
    }
  }
}

class MatmulAvx512Bf16 : public ::testing::TestWithParam<int64_t> {};
INSTANTIATE_TEST_SUITE_P(Tokens, MatmulAvx512Bf16, ::testing::Values(5, 67));  // dot tiles, packed batch (>= 64)

TEST_P(MatmulAvx512Bf16, TableWithoutBf16Dot) {
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  // The table without VDPBF16PS, called directly on a tile.
  const Problem p = make_problem(TensorType::BF16, 257, 17, GetParam(), 5);
  ThreadPool pool(1);
  const std::vector<float> ref = run(Isa::Scalar, pool, p);
  const MatmulKernels* k = avx512_matmul_kernels_no_bf16_dot();
  std::vector<uint16_t> xc(p.n_tokens * 272);
  for (int64_t t = 0; t < p.n_tokens; ++t) k->fp32_to_bf16_row(p.x.data() + t * p.n_in, xc.data() + t * 272, p.n_in);
  std::vector<float> y(p.ldy * p.n_tokens, std::nanf(""));
  GemmArgs a{p.w.data(), size_t(p.n_in) * 2, p.n_in, xc.data(), 272 * 2, p.n_tokens, y.data(), p.ldy, 0, p.n_out, 0};
  k->gemm_bf16(a);
  for (int64_t t = 0; t < p.n_tokens; ++t)
    for (int64_t r = 0; r < p.n_out; ++r) {
      double m = 0;
      for (int64_t i = 0; i < p.n_in; ++i) m += std::fabs(double(p.w_deq[r * p.n_in + i]) * p.x[t * p.n_in + i]);
      EXPECT_NEAR(y[t * p.ldy + r], ref[t * p.ldy + r], tolerance(TensorType::BF16, p.n_in, m));
    }
}

TEST(Matmul, Avx512PackedPromptKernelsOnOddShapes) {
  // The packed prompt GEMMs (n_tokens >= 64 for F16/BF16, >= 8 for the integer types) on K tails, row
  // tails that leave partial 16-row groups, and token tails, called directly on a job whose rows start
  // past 0, with activation rows whose padding is NaN: a kernel that reads values past n_in (the BF16
  // pair kernel's last odd pair) must not let them into a result.
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  const MatmulKernels* k = avx512_matmul_kernels();
  ThreadPool pool(1);
  uint32_t seed = 31;
  for (TensorType wt : {TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K,
                        TensorType::Q6_K}) {
    const bool half = wt == TensorType::F16 || wt == TensorType::BF16;
    const std::vector<int64_t> n_ins = half ? std::vector<int64_t>{1, 7, 33, 257} : is_kquant(wt) ? std::vector<int64_t>{256, 768} : std::vector<int64_t>{32, 96};
    for (int64_t n_in : n_ins)
      for (int64_t n_out : {17, 100}) {
        const Problem p = make_problem(wt, n_in, n_out, 71, seed++);
        const std::vector<float> ref = run(Isa::Scalar, pool, p);
        const size_t xrb = (*bytes_for(type_traits(wt)->vec_dot_type, n_in) + 64 + 63) / 64 * 64;
        std::vector<uint8_t> xc(xrb * p.n_tokens, 0xFF);  // 0xFFFF: a NaN as fp16 and bf16
        for (int64_t t = 0; t < p.n_tokens; ++t) {
          uint8_t* row = xc.data() + t * xrb;
          const float* xt = p.x.data() + t * n_in;
          if (wt == TensorType::F16) k->fp32_to_fp16_row(xt, row, n_in);
          else if (wt == TensorType::BF16) k->fp32_to_bf16_row(xt, row, n_in);
          else if (is_kquant(wt)) k->quantize_row_q8_K(xt, row, n_in);
          else k->quantize_row_q8_0(xt, row, n_in);
        }
        std::vector<float> y(p.ldy * p.n_tokens, std::nanf(""));
        const int64_t r0 = n_out > 32 ? 16 : 0;  // a job of rows [r0, n_out); rows below r0 stay NaN
        GemmArgs a{p.w.data(), *bytes_for(wt, n_in), n_in, xc.data(), xrb, p.n_tokens, y.data(), p.ldy, r0, n_out, 0};
        GemmFn gemm = wt == TensorType::F16 ? k->gemm_f16 : wt == TensorType::BF16 ? k->gemm_bf16 : wt == TensorType::Q8_0 ? k->gemm_q8_0
                    : wt == TensorType::Q4_0 ? k->gemm_q4_0 : wt == TensorType::Q4_K ? k->gemm_q4_K : k->gemm_q6_K;
        gemm(a);
        for (int64_t t = 0; t < p.n_tokens; ++t)
          for (int64_t r = 0; r < p.ldy; ++r) {
            const float got = y[t * p.ldy + r];
            if (r < r0 || r >= n_out) {
              ASSERT_TRUE(std::isnan(got)) << "wrote outside the job's rows: " << type_name(wt) << " row " << r;
              continue;
            }
            ASSERT_NEAR(got, ref[t * p.ldy + r], tolerance(wt, n_in, p.magnitude(t, r)))
                << type_name(wt) << " n_in=" << n_in << " n_out=" << n_out << " token=" << t << " row=" << r;
          }
      }
  }
}
#endif

// Activation converters of every ISA must write exactly the scalar bytes (ties, subnormals, NaN, inf).
TEST(Matmul, ConvertersMatchScalar) {
  std::vector<const MatmulKernels*> tables;
#if defined(__x86_64__)
  if (isa_supported(Isa::Avx2)) tables.push_back(avx2_matmul_kernels());
  if (isa_supported(Isa::Avx512)) tables.push_back(avx512_matmul_kernels());
#endif
#if defined(__aarch64__)
  if (isa_supported(Isa::Neon)) tables.push_back(neon_matmul_kernels());
#endif
  if (tables.empty()) GTEST_SKIP() << "no SIMD ISA supported on this machine";
  const MatmulKernels* s = scalar_matmul_kernels();
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  const int64_t n = 32 * 9;
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  // Block 1: amax 127 so d = 1 and x * id lands exactly on .5 ties.
  for (int j = 0; j < 32; ++j) x[32 + j] = (j == 0) ? 127.0f : (j % 2 ? 0.5f : -0.5f) + float(j - 16);
  // Block 2: all zero (d = 0). Block 3: tiny values (subnormal scale). Block 4: huge values.
  for (int j = 0; j < 32; ++j) x[64 + j] = 0.0f;
  for (int j = 0; j < 32; ++j) x[96 + j] = std::ldexp(float(j - 15), -120);
  for (int j = 0; j < 32; ++j) x[128 + j] = std::ldexp(float(j - 15), 100);
  const float specials[] = {65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e-8f, -6.1e-5f, 5.96e-8f, 2.98e-8f,
                            INFINITY, -INFINITY, std::nanf(""), -std::nanf(""), 1.00390625f, 1.0f + 0x1p-8f + 0x1p-20f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; ++i) x[160 + i] = specials[i];
  for (const MatmulKernels* k : tables) {
    std::vector<uint8_t> a(n / 32 * 34), b(n / 32 * 34);
    k->quantize_row_q8_0(x.data(), a.data(), 32 * 5);  // the first five blocks: no inf/NaN
    s->quantize_row_q8_0(x.data(), b.data(), 32 * 5);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), 34 * 5)) << k->name << " quantize_row_q8_0";
    std::vector<uint8_t> c(n / 32 * 36), d(n / 32 * 36);
    k->quantize_row_q8_1(x.data(), c.data(), 32 * 5);
    s->quantize_row_q8_1(x.data(), d.data(), 32 * 5);
    EXPECT_EQ(0, std::memcmp(c.data(), d.data(), 36 * 5)) << k->name << " quantize_row_q8_1";
    // Random blocks with odd sums (s = d * sum must round the same way).
    std::vector<float> r(32 * 64);
    for (float& v : r) v = nd(rng);
    std::vector<uint8_t> e(64 * 36), f(64 * 36);
    k->quantize_row_q8_1(r.data(), e.data(), 32 * 64);
    s->quantize_row_q8_1(r.data(), f.data(), 32 * 64);
    EXPECT_EQ(e, f) << k->name << " quantize_row_q8_1 (random)";
    for (int64_t len : {int64_t(1), int64_t(7), int64_t(17), n - 3, n}) {
      std::vector<uint16_t> h1(len), h2(len);
      k->fp32_to_fp16_row(x.data(), h1.data(), len);
      s->fp32_to_fp16_row(x.data(), h2.data(), len);
      EXPECT_EQ(h1, h2) << k->name << " fp32_to_fp16_row len " << len;
      k->fp32_to_bf16_row(x.data(), h1.data(), len);
      s->fp32_to_bf16_row(x.data(), h2.data(), len);
      EXPECT_EQ(h1, h2) << k->name << " fp32_to_bf16_row len " << len;
    }
  }
}

// The Q8_K converters of every ISA write the reference bytes: random blocks, exact .5 ties (rounded to
// even), an all-zero block, a block whose largest magnitude appears twice with both signs, tiny values.
TEST(Matmul, Q8KConvertersMatchScalar) {
  std::vector<const MatmulKernels*> tables;
#if defined(__x86_64__)
  if (isa_supported(Isa::Avx2)) tables.push_back(avx2_matmul_kernels());
  if (isa_supported(Isa::Avx512)) tables.push_back(avx512_matmul_kernels());
#endif
#if defined(__aarch64__)
  if (isa_supported(Isa::Neon)) tables.push_back(neon_matmul_kernels());
#endif
  if (tables.empty()) GTEST_SKIP() << "no SIMD ISA supported on this machine";
  const int64_t n = kQK_K * 6;
  std::vector<float> x(n);
  std::mt19937 rng(8);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (float& v : x) v = nd(rng);
  for (int j = 0; j < kQK_K; ++j) x[kQK_K + j] = (j == 0) ? -127.0f : 0.5f * static_cast<float>(j % 21 - 10);  // d = 1: ties
  for (int j = 0; j < kQK_K; ++j) x[2 * kQK_K + j] = 0.0f;
  x[3 * kQK_K + 5] = 3.0f;
  x[3 * kQK_K + 9] = -3.0f;  // same magnitude, the first one (positive) sets the sign of d
  for (int j = 0; j < kQK_K; ++j) x[4 * kQK_K + j] = std::ldexp(nd(rng), -60);
  const MatmulKernels* s = scalar_matmul_kernels();
  for (const MatmulKernels* k : tables) {
    ASSERT_NE(k->quantize_row_q8_K, nullptr) << k->name;
    std::vector<BlockQ8_K> a(n / kQK_K), b(n / kQK_K);
    k->quantize_row_q8_K(x.data(), a.data(), n);
    s->quantize_row_q8_K(x.data(), b.data(), n);
    for (int64_t i = 0; i < n / kQK_K; ++i)
      EXPECT_EQ(0, std::memcmp(&a[i], &b[i], sizeof a[i])) << k->name << " quantize_row_q8_K block " << i;
  }
}

TEST(Matmul, CheckRejectsBadShapes) {
  EXPECT_FALSE(matmul_check(TensorType::Q4_0, 33, 4, 1, 4).is_ok());
  EXPECT_FALSE(matmul_check(TensorType::Q8_1, 256, 4, 1, 4).is_ok());  // an activation format only
  EXPECT_FALSE(matmul_check(TensorType::IQ4_NL, 48, 4, 1, 4).is_ok());
  EXPECT_FALSE(matmul_check(TensorType::Q4_K, 32, 4, 1, 4).is_ok());   // K-quant rows: 256s
  EXPECT_TRUE(matmul_check(TensorType::Q4_K, 512, 4, 1, 4).is_ok());
  EXPECT_FALSE(matmul_check(TensorType::Q8_K, 256, 4, 1, 4).is_ok());  // activations only
  EXPECT_FALSE(matmul_check(TensorType::IQ2_XS, 256, 4, 1, 4).is_ok());
  EXPECT_FALSE(matmul_check(TensorType::F32, 8, 4, 1, 3).is_ok());
  EXPECT_FALSE(matmul_check(TensorType::F32, 8, 0, 1, 3).is_ok());
  EXPECT_FALSE(matmul_check(TensorType::F32, 8, 4, 0, 4).is_ok());
  EXPECT_TRUE(matmul_check(TensorType::F32, 7, 4, 1, 4).is_ok());
  const Status st = matmul_check(TensorType::Q8_0, 40, 4, 1, 4);
  EXPECT_NE(st.message().find("n_in 40"), std::string::npos) << st.message();
}

TEST(Matmul, GetRowsDequantizes) {
  for (TensorType wt : kTypes) {
    const int64_t n = is_kquant(wt) ? 512 : 64;
    const Problem p = make_problem(wt, n, 9, 1, 11);
    const int32_t ids[] = {8, 0, 3, 3};
    std::vector<float> out(4 * n);
    get_rows(wt, p.w.data(), n, ids, 4, out.data());
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < n; ++j) ASSERT_EQ(out[i * n + j], p.w_deq[ids[i] * n + j]) << type_name(wt);
  }
}

TEST(Matmul, ActiveIsaEntryPointWorks) {
  ThreadPool pool(2);
  const Problem p = make_problem(TensorType::Q8_0, 128, 19, 4, 21);
  const std::vector<float> ref = run(Isa::Scalar, pool, p);
  std::vector<float> y(p.ldy * p.n_tokens, std::nanf(""));
  matmul(pool, p.wt, p.w.data(), p.n_in, p.n_out, p.x.data(), p.n_tokens, y.data(), p.ldy);
  for (int64_t t = 0; t < p.n_tokens; ++t)
    for (int64_t r = 0; r < p.n_out; ++r) EXPECT_NEAR(y[t * p.ldy + r], ref[t * p.ldy + r], 1e-3);
}

}  // namespace
}  // namespace kestrel::kernels
