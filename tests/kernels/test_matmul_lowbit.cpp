// Q2_K / Q3_K / IQ4_XS x Q8_K tile kernels: the scalar twin against a double dot of the dequantized
// operands, and every SIMD kernel the machine supports against the scalar twin on odd shapes (row
// ranges that do not start at 0, odd row counts, token tails, several n_in multiples of 256, ldy > n_out).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/isa.h"
#include "kernels/matmul_lowbit.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"

namespace kestrel::kernels {
namespace {

bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

// Test-only Q8_K quantizer (ggml's quantize_row_q8_K_ref): d = max / -127 of the value with the
// largest magnitude, q = nearest(x / d) capped at 127, bsums of each 16.
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t b = 0; b < n / 256; ++b, x += 256) {
    float amax = 0, max = 0;
    for (int j = 0; j < 256; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    if (amax == 0) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < 256; ++j) y[b].qs[j] = static_cast<int8_t>(std::min(127, static_cast<int>(std::nearbyint(iscale * x[j]))));
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += y[b].qs[16 * j + i];
      y[b].bsums[j] = static_cast<int16_t>(s);
    }
    y[b].d = 1 / iscale;
  }
}

struct LowBitType {
  TensorType t;
  GemmFn scalar;
  size_t block_bytes;
};

const LowBitType kTypes[] = {
    {TensorType::Q2_K, gemm_q2_K_scalar, sizeof(BlockQ2_K)},
    {TensorType::Q3_K, gemm_q3_K_scalar, sizeof(BlockQ3_K)},
    {TensorType::IQ4_XS, gemm_iq4_xs_scalar, sizeof(BlockIQ4_XS)},
};

struct SimdSet {
  const char* name;
  Isa isa;
  GemmFn fn[3];  // in kTypes order
};

std::vector<SimdSet> simd_sets() {
  std::vector<SimdSet> out;
#if defined(__x86_64__)
  if (isa_supported(Isa::Avx2)) out.push_back({"avx2", Isa::Avx2, {gemm_q2_K_avx2, gemm_q3_K_avx2, gemm_iq4_xs_avx2}});
  if (isa_supported(Isa::Avx512))
    out.push_back({"avx512", Isa::Avx512, {gemm_q2_K_avx512, gemm_q3_K_avx512, gemm_iq4_xs_avx512}});
#endif
#if defined(__aarch64__)
  if (isa_supported(Isa::Neon)) out.push_back({"neon", Isa::Neon, {gemm_q2_K_neon, gemm_q3_K_neon, gemm_iq4_xs_neon}});
#endif
  return out;
}

struct Problem {
  int64_t n_in, n_out, n_tokens, ldy;
  size_t w_row_bytes, x_row_bytes;
  std::vector<uint8_t> w;
  std::vector<float> w_deq;
  std::vector<BlockQ8_K> x;  // n_tokens rows of x_row_bytes (a multiple of 64 as in matmul.cpp)
  std::vector<float> x_deq;
};

Problem make_problem(const LowBitType& lt, int64_t n_in, int64_t n_out, int64_t n_tokens, uint32_t seed) {
  Problem p{n_in, n_out, n_tokens, n_out + 3, 0, 0, {}, {}, {}, {}};
  const int64_t nb = n_in / 256;
  p.w_row_bytes = lt.block_bytes * nb;
  p.x_row_bytes = (nb * sizeof(BlockQ8_K) + 63) / 64 * 64;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> row(n_in);
  p.w.resize(p.w_row_bytes * n_out + 1);  // + 1: rows start at an odd address (GGUF rows are unaligned)
  p.w_deq.resize(n_in * n_out);
  for (int64_t r = 0; r < n_out; ++r) {
    for (float& v : row) v = nd(rng);
    if (r % 5 == 2) for (int64_t i = 0; i < 256; ++i) row[i] = std::fabs(row[i]);  // Q2_K min 0
    uint8_t* dst = p.w.data() + 1 + r * p.w_row_bytes;
    float* deq = p.w_deq.data() + r * n_in;
    switch (lt.t) {
      case TensorType::Q2_K: {
        std::vector<BlockQ2_K> q(nb);
        quantize_row_q2_K_ref(row.data(), q.data(), n_in);
        dequantize_row_q2_K(q.data(), deq, n_in);
        std::memcpy(dst, q.data(), p.w_row_bytes);
        break;
      }
      case TensorType::Q3_K: {
        std::vector<BlockQ3_K> q(nb);
        quantize_row_q3_K_ref(row.data(), q.data(), n_in);
        dequantize_row_q3_K(q.data(), deq, n_in);
        std::memcpy(dst, q.data(), p.w_row_bytes);
        break;
      }
      default: {
        std::vector<BlockIQ4_XS> q(nb);
        quantize_row_iq4_xs_ref(row.data(), q.data(), n_in);
        dequantize_row_iq4_xs(q.data(), deq, n_in);
        std::memcpy(dst, q.data(), p.w_row_bytes);
        break;
      }
    }
  }
  p.x.resize(p.x_row_bytes * n_tokens / sizeof(BlockQ8_K) + 1);
  p.x_deq.resize(n_in * n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (float& v : row) v = nd(rng);
    if (t == 1) row[5] = 40.0f;  // an outlier: most values quantize to small levels
    BlockQ8_K* xb = reinterpret_cast<BlockQ8_K*>(reinterpret_cast<char*>(p.x.data()) + t * p.x_row_bytes);
    quantize_q8_k(row.data(), xb, n_in);
    for (int64_t i = 0; i < n_in; ++i) p.x_deq[t * n_in + i] = xb[i / 256].d * xb[i / 256].qs[i % 256];
  }
  return p;
}

std::vector<float> run(GemmFn fn, const Problem& p, int64_t row_begin, int64_t row_end) {
  std::vector<float> y(p.ldy * p.n_tokens, std::nanf(""));
  GemmArgs a{p.w.data() + 1, p.w_row_bytes, p.n_in, p.x.data(), p.x_row_bytes, p.n_tokens, y.data(), p.ldy,
             row_begin, row_end, 0};
  fn(a);
  return y;
}

double magnitude(const Problem& p, int64_t r, int64_t t) {
  double m = 0;
  for (int64_t i = 0; i < p.n_in; ++i) m += std::fabs(double(p.w_deq[r * p.n_in + i]) * p.x_deq[t * p.n_in + i]);
  return m;
}

TEST(MatmulLowBit, ScalarMatchesDequantizedDot) {
  for (const LowBitType& lt : kTypes) {
    const Problem p = make_problem(lt, 512, 7, 3, 11);
    const std::vector<float> y = run(lt.scalar, p, 0, p.n_out);
    for (int64_t t = 0; t < p.n_tokens; ++t)
      for (int64_t r = 0; r < p.n_out; ++r) {
        double s = 0;
        for (int64_t i = 0; i < p.n_in; ++i) s += double(p.w_deq[r * p.n_in + i]) * p.x_deq[t * p.n_in + i];
        // The dequantized weights round d * sc to float before the product; a few ulps of m.
        EXPECT_NEAR(y[t * p.ldy + r], s, 2e-6 * magnitude(p, r, t)) << type_name(lt.t) << " r=" << r << " t=" << t;
      }
  }
}

// SIMD kernels compute the same exact integer sums per super-block as the scalar twin; only the f32
// accumulation order across the n_in/256 super-blocks differs (and the FMA roundings), so the
// difference is bounded by ~(n_in/256 + 4) roundings of terms of size <= m.
TEST(MatmulLowBit, EveryIsaMatchesScalar) {
  const std::vector<SimdSet> sets = simd_sets();
  if (sets.empty()) GTEST_SKIP() << "no SIMD ISA supported on this machine";
  std::vector<int64_t> n_ins = {256, 768, 4096 + 256};
  if (sanitized()) n_ins.pop_back();
  uint32_t seed = 1;
  for (int k = 0; k < 3; ++k) {
    for (int64_t n_in : n_ins) {
      for (int64_t n_out : {1, 3, 17, 36}) {
        for (int64_t n_tokens : {1, 2, 3, 5, 7, 17}) {
          if (n_in > 1024 && (n_out > 3 || n_tokens > 5)) continue;  // keep the large case quick
          const Problem p = make_problem(kTypes[k], n_in, n_out, n_tokens, seed++);
          // A row range that starts past 0 when there are rows to skip (matmul splits rows in chunks).
          const int64_t r_begin = n_out > 3 ? 1 : 0;
          const std::vector<float> ref = run(kTypes[k].scalar, p, r_begin, n_out);
          for (const SimdSet& s : sets) {
            const std::vector<float> y = run(s.fn[k], p, r_begin, n_out);
            for (int64_t t = 0; t < n_tokens; ++t) {
              for (int64_t r = 0; r < p.ldy; ++r) {
                const float got = y[t * p.ldy + r], want = ref[t * p.ldy + r];
                if (r < r_begin || r >= n_out) {
                  ASSERT_TRUE(std::isnan(got)) << s.name << " wrote outside its row range, row " << r;
                  continue;
                }
                ASSERT_NEAR(got, want, 2e-7 * (n_in / 256.0 + 4) * magnitude(p, r, t) + 1e-30)
                    << s.name << " " << type_name(kTypes[k].t) << " n_in=" << n_in << " n_out=" << n_out
                    << " n_tokens=" << n_tokens << " row=" << r << " token=" << t;
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace kestrel::kernels
