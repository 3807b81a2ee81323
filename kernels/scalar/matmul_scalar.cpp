// Scalar matmul kernels: the twins that define what every SIMD kernel must compute. Plain loops, one
// output at a time. Float paths accumulate in double so SIMD results can be judged against a value
// that is more exact than either; integer paths follow ggml's per-block formula
// sum_b (d_w[b] * d_x[b]) * isum_b accumulated in float.
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/matmul_q32.h"
#include "kernels/quant.h"
#include "kernels/quant_act.h"
#include "kernels/quant_q32.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// Activations round like llama.cpp's SIMD build for this machine (kernels/quant_act.h), not like the
// reference weight quantizer.
void quantize_row_q8_0_scalar(const float* x, void* dst, int64_t n) {
  quantize_row_q8_0_act(x, static_cast<BlockQ8_0*>(dst), n, kHostActRule);
}
void fp32_to_fp16_row_scalar(const float* x, void* dst, int64_t n) {
  fp32_to_fp16_row_ref(x, static_cast<uint16_t*>(dst), n);
}
void fp32_to_bf16_row_scalar(const float* x, void* dst, int64_t n) {
  fp32_to_bf16_row_ref(x, static_cast<uint16_t*>(dst), n);
}
void quantize_row_q8_1_scalar(const float* x, void* dst, int64_t n) {
  quantize_row_q8_1_act(x, static_cast<BlockQ8_1*>(dst), n, kHostActRule);
}

const char* wrow(const GemmArgs& a, int64_t r) { return static_cast<const char*>(a.w) + r * a.w_row_bytes; }
const char* xrow(const GemmArgs& a, int64_t t) { return static_cast<const char*>(a.x) + t * a.x_row_bytes; }

// Runs dot(row, token) over the rectangle.
template <class Dot>
void for_each_output(const GemmArgs& a, Dot dot) {
  for (int64_t t = 0; t < a.n_tokens; ++t)
    for (int64_t r = a.row_begin; r < a.row_end; ++r) a.y[t * a.ldy + r] = dot(wrow(a, r), xrow(a, t), a.n_in);
}

float dot_f32(const char* w, const char* x, int64_t n) {
  const float* wf = reinterpret_cast<const float*>(w);
  const float* xf = reinterpret_cast<const float*>(x);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(wf[i]) * xf[i];
  return static_cast<float>(s);
}

float dot_f16(const char* w, const char* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t wh, xh;
    std::memcpy(&wh, w + 2 * i, 2);  // GGUF rows need not be 2-byte aligned in theory
    std::memcpy(&xh, x + 2 * i, 2);
    s += static_cast<double>(fp16_to_fp32(wh)) * fp16_to_fp32(xh);
  }
  return static_cast<float>(s);
}

float dot_bf16(const char* w, const char* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t wh, xh;
    std::memcpy(&wh, w + 2 * i, 2);
    std::memcpy(&xh, x + 2 * i, 2);
    s += static_cast<double>(bf16_to_fp32(wh)) * bf16_to_fp32(xh);
  }
  return static_cast<float>(s);
}

float dot_q8_0(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    BlockQ8_0 wb, xb;
    std::memcpy(&wb, w + b * sizeof(BlockQ8_0), sizeof wb);
    std::memcpy(&xb, x + b * sizeof(BlockQ8_0), sizeof xb);
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += static_cast<int32_t>(wb.qs[j]) * xb.qs[j];
    s += static_cast<float>(isum) * (fp16_to_fp32(wb.d) * fp16_to_fp32(xb.d));
  }
  return s;
}

float dot_q4_0(const char* w, const char* x, int64_t n) {
  float s = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    BlockQ4_0 wb;
    BlockQ8_0 xb;
    std::memcpy(&wb, w + b * sizeof(BlockQ4_0), sizeof wb);
    std::memcpy(&xb, x + b * sizeof(BlockQ8_0), sizeof xb);
    int32_t isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      isum += ((wb.qs[j] & 0x0F) - 8) * static_cast<int32_t>(xb.qs[j]);
      isum += ((wb.qs[j] >> 4) - 8) * static_cast<int32_t>(xb.qs[j + kQK / 2]);
    }
    s += static_cast<float>(isum) * (fp16_to_fp32(wb.d) * fp16_to_fp32(xb.d));
  }
  return s;
}

void gemm_f32_scalar(const GemmArgs& a) { for_each_output(a, dot_f32); }
void gemm_f16_scalar(const GemmArgs& a) { for_each_output(a, dot_f16); }
void gemm_bf16_scalar(const GemmArgs& a) { for_each_output(a, dot_bf16); }
void gemm_q8_0_scalar(const GemmArgs& a) { for_each_output(a, dot_q8_0); }
void gemm_q4_0_scalar(const GemmArgs& a) { for_each_output(a, dot_q4_0); }
void gemm_q4_1_scalar(const GemmArgs& a) { for_each_output(a, dot_q4_1_scalar); }
void gemm_q5_0_scalar(const GemmArgs& a) { for_each_output(a, dot_q5_0_scalar); }
void gemm_q5_1_scalar(const GemmArgs& a) { for_each_output(a, dot_q5_1_scalar); }
void gemm_iq4_nl_scalar(const GemmArgs& a) { for_each_output(a, dot_iq4_nl_scalar); }

MatmulKernels make_table() {
  MatmulKernels k{};
  k.name = "scalar";
  k.quantize_row_q8_0 = quantize_row_q8_0_scalar;
  k.fp32_to_fp16_row = fp32_to_fp16_row_scalar;
  k.fp32_to_bf16_row = fp32_to_bf16_row_scalar;
  k.gemm_f32 = gemm_f32_scalar;
  k.gemm_f16 = gemm_f16_scalar;
  k.gemm_bf16 = gemm_bf16_scalar;
  k.gemm_q8_0 = gemm_q8_0_scalar;
  k.gemm_q4_0 = gemm_q4_0_scalar;
  k.quantize_row_q8_1 = quantize_row_q8_1_scalar;
  k.gemm_q4_1 = gemm_q4_1_scalar;
  k.gemm_q5_0 = gemm_q5_0_scalar;
  k.gemm_q5_1 = gemm_q5_1_scalar;
  k.gemm_iq4_nl = gemm_iq4_nl_scalar;
  set_kquant_kernels_scalar(k);
  set_lowbit_kernels_scalar(k);
  return k;
}

}  // namespace

const MatmulKernels* scalar_matmul_kernels() {
  static const MatmulKernels k = make_table();
  return &k;
}

}  // namespace kestrel::kernels
