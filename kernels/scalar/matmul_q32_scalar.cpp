// Scalar twins of the Q4_1 / Q5_0 / Q5_1 / IQ4_NL kernels: ggml's per-block formulas, which every SIMD
// kernel must reproduce up to float summation order:
//   Q5_0, IQ4_NL (x Q8_0): sum_b (d_w * d_x) * sum_j w_j * x_j   (w_j = q - 16, or the IQ4_NL codebook)
//   Q4_1, Q5_1 (x Q8_1):   sum_b (d_w * d_x) * sum_j q_j * x_j + m_w * s_x   (s_x = d_x * sum_j x_j)
#include <cstring>

#include "kernels/matmul_q32.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"
#include "kernels/x86_lane_order.h"

namespace kestrel::kernels {
namespace {

// The 32 integer weight values of block b in element order.
void values_q4_1(const char* w, int64_t b, int32_t* v, float* d, float* m) {
  BlockQ4_1 blk;
  std::memcpy(&blk, w + b * sizeof blk, sizeof blk);
  for (int j = 0; j < 16; ++j) {
    v[j] = blk.qs[j] & 0x0F;
    v[j + 16] = blk.qs[j] >> 4;
  }
  *d = fp16_to_fp32(blk.d);
  *m = fp16_to_fp32(blk.m);
}
void values_q5_1(const char* w, int64_t b, int32_t* v, float* d, float* m) {
  BlockQ5_1 blk;
  std::memcpy(&blk, w + b * sizeof blk, sizeof blk);
  uint8_t q[kQK];
  unpack_q5_values(blk.qs, blk.qh, q);
  for (int j = 0; j < kQK; ++j) v[j] = q[j];
  *d = fp16_to_fp32(blk.d);
  *m = fp16_to_fp32(blk.m);
}
void values_q5_0(const char* w, int64_t b, int32_t* v, float* d) {
  BlockQ5_0 blk;
  std::memcpy(&blk, w + b * sizeof blk, sizeof blk);
  uint8_t q[kQK];
  unpack_q5_values(blk.qs, blk.qh, q);
  for (int j = 0; j < kQK; ++j) v[j] = q[j] - 16;
  *d = fp16_to_fp32(blk.d);
}
void values_iq4_nl(const char* w, int64_t b, int32_t* v, float* d) {
  BlockIQ4_NL blk;
  std::memcpy(&blk, w + b * sizeof blk, sizeof blk);
  for (int j = 0; j < 16; ++j) {
    v[j] = kIq4nlValues[blk.qs[j] & 0x0F];
    v[j + 16] = kIq4nlValues[blk.qs[j] >> 4];
  }
  *d = fp16_to_fp32(blk.d);
}

void values_q8_0(const char* w, int64_t b, int32_t* v, float* d) {
  BlockQ8_0 blk;
  std::memcpy(&blk, w + b * sizeof blk, sizeof blk);
  for (int j = 0; j < kQK; ++j) v[j] = blk.qs[j];
  *d = fp16_to_fp32(blk.d);
}

template <void (*Values)(const char*, int64_t, int32_t*, float*)>
void gemm_x86_order(const GemmArgs& a) {
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const char* x = static_cast<const char*>(a.x) + t * a.x_row_bytes;
    for (int64_t r = a.row_begin; r < a.row_end; ++r) {
      const char* w = static_cast<const char*>(a.w) + r * a.w_row_bytes;
      X86Lanes lanes;
      for (int64_t b = 0; b < a.n_in / kQK; ++b) {
        int32_t v[kQK];
        float dw;
        Values(w, b, v, &dw);
        BlockQ8_0 xb;
        std::memcpy(&xb, x + b * sizeof(BlockQ8_0), sizeof xb);
        lanes.add_block(dw * fp16_to_fp32(xb.d), v, xb.qs);
      }
      a.y[t * a.ldy + r] = lanes.sum();
    }
  }
}

template <void (*Values)(const char*, int64_t, int32_t*, float*)>
float dot_with_q8_0(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t v[kQK];
    float dw;
    Values(w, b, v, &dw);
    BlockQ8_0 xb;
    std::memcpy(&xb, x + b * sizeof(BlockQ8_0), sizeof xb);
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += v[j] * xb.qs[j];
    s += static_cast<float>(isum) * (dw * fp16_to_fp32(xb.d));
  }
  return s;
}

template <void (*Values)(const char*, int64_t, int32_t*, float*, float*)>
float dot_with_q8_1(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t v[kQK];
    float dw, mw;
    Values(w, b, v, &dw, &mw);
    BlockQ8_1 xb;
    std::memcpy(&xb, x + b * sizeof(BlockQ8_1), sizeof xb);
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += v[j] * xb.qs[j];
    s += static_cast<float>(isum) * (dw * fp16_to_fp32(xb.d)) + mw * fp16_to_fp32(xb.s);
  }
  return s;
}

}  // namespace

float dot_q4_1_scalar(const char* w, const char* x, int64_t n) { return dot_with_q8_1<values_q4_1>(w, x, n); }
float dot_q5_1_scalar(const char* w, const char* x, int64_t n) { return dot_with_q8_1<values_q5_1>(w, x, n); }
float dot_q5_0_scalar(const char* w, const char* x, int64_t n) { return dot_with_q8_0<values_q5_0>(w, x, n); }
float dot_iq4_nl_scalar(const char* w, const char* x, int64_t n) { return dot_with_q8_0<values_iq4_nl>(w, x, n); }

void gemm_q8_0_x86_ref(const GemmArgs& a) { gemm_x86_order<values_q8_0>(a); }
void gemm_q5_0_x86_ref(const GemmArgs& a) { gemm_x86_order<values_q5_0>(a); }

}  // namespace kestrel::kernels
