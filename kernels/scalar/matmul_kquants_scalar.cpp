// Scalar K-quant kernels: the twins that define what every SIMD K-quant kernel computes. Per
// super-block of 256 values and one Q8_K activation block (scale dx, int8 values, bsums):
//   Q4_K / Q5_K: isum = sum_j sc_j * sum_{32 values of sub-block j} q * xq          (q unsigned)
//                msum = sum_j m_j * (bsums[2j] + bsums[2j + 1])
//                s   += (dx * d) * isum - (dx * dmin) * msum
//   Q6_K:        isum = sum_i scales_i * sum_{16 values of sub-block i} (q - 32) * xq
//                s   += (dx * d) * isum
// Integer sums are exact (|isum| < 2^25); only the float accumulation order can differ between ISAs.
// This is ggml's formula (ggml_vec_dot_q4_K_q8_K etc.).
#include <cmath>
#include <cstring>

#include "kernels/kquant_x86_order.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

void quantize_row_q8_K_scalar(const float* x, void* dst, int64_t n) {
  quantize_row_q8_K_ref(x, static_cast<BlockQ8_K*>(dst), n);
}

template <class Block>
Block load(const char* p, int64_t b) {
  Block blk;
  std::memcpy(&blk, p + b * static_cast<int64_t>(sizeof(Block)), sizeof blk);  // GGUF rows: any alignment
  return blk;
}

// Value i (0..255) of a Q4_K/Q5_K block's 4-bit part: chunk i / 64, low nibble for the first 32.
int nibble_k4(const uint8_t* qs, int i) {
  const uint8_t byte = qs[32 * (i / 64) + i % 32];
  return (i % 64) < 32 ? byte & 0xF : byte >> 4;
}

// The (isum, msum) combination shared by Q4_K and Q5_K; Q(i) gives value i of the block.
template <class Q>
float k4_superblock(const uint8_t* packed_scales, uint16_t d, uint16_t dmin, const BlockQ8_K& xb, Q q) {
  uint8_t sc[8], m[8];
  unpack_scales_mins_k4(packed_scales, sc, m);
  int32_t isum = 0, msum = 0;
  for (int j = 0; j < 8; ++j) {
    int32_t dot = 0;
    for (int l = 0; l < 32; ++l) dot += q(32 * j + l) * static_cast<int32_t>(xb.qs[32 * j + l]);
    isum += sc[j] * dot;
    msum += m[j] * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
  }
  return (xb.d * fp16_to_fp32(d)) * static_cast<float>(isum) - (xb.d * fp16_to_fp32(dmin)) * static_cast<float>(msum);
}

float dot_q4_K(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ4_K wb = load<BlockQ4_K>(w, b);
    const BlockQ8_K xb = load<BlockQ8_K>(x, b);
    s += k4_superblock(wb.scales, wb.d, wb.dmin, xb, [&](int i) { return nibble_k4(wb.qs, i); });
  }
  return s;
}

float dot_q5_K(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ5_K wb = load<BlockQ5_K>(w, b);
    const BlockQ8_K xb = load<BlockQ8_K>(x, b);
    s += k4_superblock(wb.scales, wb.d, wb.dmin, xb, [&](int i) {
      // High bit of value i: bit 2 * (i / 64) + (i % 64 >= 32) of qh[i % 32].
      const int hbit = (wb.qh[i % 32] >> (2 * (i / 64) + (i % 64) / 32)) & 1;
      return nibble_k4(wb.qs, i) | (hbit << 4);
    });
  }
  return s;
}

float dot_q6_K(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K wb = load<BlockQ6_K>(w, b);
    const BlockQ8_K xb = load<BlockQ8_K>(x, b);
    int32_t isum = 0;
    for (int sub = 0; sub < 16; ++sub) {
      int32_t dot = 0;
      for (int l = 0; l < 16; ++l) {
        const int i = 16 * sub + l;             // value index in the block
        const int h = i / 128, r = i % 128;     // half, and position in it
        const int quarter = r / 32, p = r % 32; // which of the 4 value groups, position in it
        const uint8_t lo = wb.ql[64 * h + p + 32 * (quarter & 1)];
        const int low4 = quarter < 2 ? lo & 0xF : lo >> 4;
        const int high2 = (wb.qh[32 * h + p] >> (2 * quarter)) & 3;
        dot += ((low4 | (high2 << 4)) - 32) * static_cast<int32_t>(xb.qs[i]);
      }
      isum += wb.scales[sub] * dot;
    }
    s += (xb.d * fp16_to_fp32(wb.d)) * static_cast<float>(isum);
  }
  return s;
}

// One output in llama.cpp's x86 Q4_K order (kernels/kquant_x86_order.h): per pair of sub-blocks
// (pairs) or per super-block, one FMA into the scale and one into the minimum accumulator.
float dot_q4_K_x86(const char* w, const char* x, int64_t n, bool pairs) {
  float tot = 0, totm = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ4_K wb = load<BlockQ4_K>(w, b);
    const BlockQ8_K xb = load<BlockQ8_K>(x, b);
    uint8_t sc[8], m[8];
    unpack_scales_mins_k4(wb.scales, sc, m);
    const float dd = fp16_to_fp32(wb.d) * xb.d, dm = fp16_to_fp32(wb.dmin) * xb.d;
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) dot += nibble_k4(wb.qs, 32 * j + l) * static_cast<int32_t>(xb.qs[32 * j + l]);
      isum += sc[j] * dot;
      msum += m[j] * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
      if (pairs ? j % 2 == 1 : j == 7) {
        tot = std::fma(static_cast<float>(isum), dd, tot);
        totm = std::fma(static_cast<float>(msum), dm, totm);
        isum = msum = 0;
      }
    }
  }
  return tot - totm;
}

template <float (*Dot)(const char*, const char*, int64_t)>
void gemm(const GemmArgs& a) {
  for (int64_t t = 0; t < a.n_tokens; ++t)
    for (int64_t r = a.row_begin; r < a.row_end; ++r)
      a.y[t * a.ldy + r] = Dot(static_cast<const char*>(a.w) + r * a.w_row_bytes,
                               static_cast<const char*>(a.x) + t * a.x_row_bytes, a.n_in);
}

}  // namespace

void gemm_q4_K_x86_ref(const GemmArgs& a) {
  const int64_t n_gemm = a.n_tokens - a.n_tokens % 4;  // full groups of 4 tokens: gemm's order
  for (int64_t t = 0; t < a.n_tokens; ++t)
    for (int64_t r = a.row_begin; r < a.row_end; ++r)
      a.y[t * a.ldy + r] = dot_q4_K_x86(static_cast<const char*>(a.w) + r * a.w_row_bytes,
                                        static_cast<const char*>(a.x) + t * a.x_row_bytes, a.n_in, t < n_gemm);
}

void set_kquant_kernels_scalar(MatmulKernels& k) {
  k.quantize_row_q8_K = quantize_row_q8_K_scalar;
  k.gemm_q4_K = gemm<dot_q4_K>;
  k.gemm_q5_K = gemm<dot_q5_K>;
  k.gemm_q6_K = gemm<dot_q6_K>;
}

}  // namespace kestrel::kernels
