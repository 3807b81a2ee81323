// Scalar twins of the Q2_K / Q3_K / IQ4_XS x Q8_K kernels (kernels/<isa>/matmul_lowbit_<isa>.cpp):
// they define the result. Per super-block every ISA computes the same exact integer sums
//   Q2_K:   out += (d_x * d) * sum_j sc_j * <q_j, x_j>  -  (d_x * dmin) * sum_j m_j * bsum_j
//   Q3_K:   out += (d_w * d_x) * sum_j (sc_j - 32) * <q_j - 4 * !h_j, x_j>
//   IQ4_XS: out += (d_w * d_x) * sum_i (ls_i - 32) * <grid[q_i], x_i>
// (j over 16 sub-blocks of 16, i over 8 sub-blocks of 32; bsum_j = the Q8_K block's sum of x_j; this
// is ggml's formula), so they differ only in the order of the f32 accumulation across super-blocks.
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// Element e of a 2-bit qs array (the Q2_K / Q3_K layout).
int level2(const uint8_t* qs, int e) { return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

float dot_q2_K(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    BlockQ2_K wb;
    BlockQ8_K xb;
    std::memcpy(&wb, w + b * sizeof wb, sizeof wb);  // GGUF rows are not aligned
    std::memcpy(&xb, x + b * sizeof xb, sizeof xb);
    int32_t isum = 0, summs = 0;
    for (int e = 0; e < kQK_K; ++e) isum += (wb.scales[e / 16] & 0xF) * level2(wb.qs, e) * xb.qs[e];
    for (int j = 0; j < 16; ++j) summs += xb.bsums[j] * (wb.scales[j] >> 4);
    const float dall = xb.d * fp16_to_fp32(wb.d);
    const float dmin = xb.d * fp16_to_fp32(wb.dmin);
    s += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return s;
}

float dot_q3_K(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    BlockQ3_K wb;
    BlockQ8_K xb;
    std::memcpy(&wb, w + b * sizeof wb, sizeof wb);
    std::memcpy(&xb, x + b * sizeof xb, sizeof xb);
    int8_t sc[16];
    q3_K_scales(&wb, sc);
    int32_t isum = 0;
    for (int e = 0; e < kQK_K; ++e) {
      const int q = level2(wb.qs, e) - (((wb.hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
      isum += sc[e / 16] * q * xb.qs[e];
    }
    s += (fp16_to_fp32(wb.d) * xb.d) * static_cast<float>(isum);
  }
  return s;
}

float dot_iq4_xs(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    BlockIQ4_XS wb;
    BlockQ8_K xb;
    std::memcpy(&wb, w + b * sizeof wb, sizeof wb);
    std::memcpy(&xb, x + b * sizeof xb, sizeof xb);
    int8_t sc[8];
    iq4_xs_scales(&wb, sc);
    int32_t isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      int32_t sub = 0;
      for (int j = 0; j < 16; ++j) {
        sub += kIq4nlValues[wb.qs[16 * ib + j] & 0xF] * xb.qs[32 * ib + j];
        sub += kIq4nlValues[wb.qs[16 * ib + j] >> 4] * xb.qs[32 * ib + j + 16];
      }
      isum += sc[ib] * sub;
    }
    s += (fp16_to_fp32(wb.d) * xb.d) * static_cast<float>(isum);
  }
  return s;
}

template <float (*Dot)(const char*, const char*, int64_t)>
void for_each_output(const GemmArgs& a) {
  for (int64_t t = 0; t < a.n_tokens; ++t)
    for (int64_t r = a.row_begin; r < a.row_end; ++r)
      a.y[t * a.ldy + r] = Dot(static_cast<const char*>(a.w) + r * a.w_row_bytes,
                               static_cast<const char*>(a.x) + t * a.x_row_bytes, a.n_in);
}

}  // namespace

void set_lowbit_kernels_scalar(MatmulKernels& k) {
  k.gemm_q2_K = for_each_output<dot_q2_K>;
  k.gemm_q3_K = for_each_output<dot_q3_K>;
  k.gemm_iq4_xs = for_each_output<dot_iq4_xs>;
}

}  // namespace kestrel::kernels
