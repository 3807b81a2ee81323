// Scalar twins of the element-wise and attention kernels: they define what every SIMD variant must
// compute. Formulas follow ggml's CPU reference so results stay close to llama.cpp:
//   rmsnorm: sum of squares in double, scale = 1/sqrtf(mean + eps), out = (x * scale) * w
//   softmax: exp(x - max) summed in double, then multiplied by 1/sum
//   silu:    x / (1 + expf(-x))
//   gelu:    0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))  (ggml's tanh form, computed directly
//            rather than through ggml's fp16 lookup table)
#include <cmath>
#include <cstdint>

#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

void rmsnorm_scalar(const float* x, const float* w, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float s = 1.0f / std::sqrt(mean + eps);
  if (w) {
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * s) * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
  }
}

void softmax_scalar(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

inline float silu1(float x) { return x / (1.0f + std::exp(-x)); }

void silu_scalar(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = silu1(x[i]);
}

void gelu_scalar(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoefA = 0.044715f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoefA * v * v)));
  }
}

void swiglu_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu1(gate[i]) * up[i];
}

void add_scalar(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_scalar(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_scalar(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

// Attention primitives. Dots accumulate left to right in float with a multiply and an add per term
// (baseline x86-64 has no FMA instruction and std::fma would be a library call per element).
struct ScalarPrims {
  static float dot_f32(const float* q, const float* k, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += q[i] * k[i];
    return s;
  }
  static float dot_f16(const float* q, const uint16_t* k, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += q[i] * fp16_to_fp32(k[i]);
    return s;
  }
  static void dot_rows_f32(const float* q, const float* k, int64_t stride, int nb, int64_t n, float* out) {
    for (int j = 0; j < nb; ++j) out[j] = dot_f32(q, k + j * stride, n);
  }
  static void dot_rows_f16(const float* q, const uint16_t* k, int64_t stride, int nb, int64_t n, float* out) {
    for (int j = 0; j < nb; ++j) out[j] = dot_f16(q, k + j * stride, n);
  }
  static void round_to_f16(const float* x, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
  }
  static void axpy_rows_f32(float* acc, const float* p, const float* v, int64_t stride, int nb, int64_t n) {
    for (int j = 0; j < nb; ++j)
      for (int64_t i = 0; i < n; ++i) acc[i] += p[j] * v[j * stride + i];
  }
  static void axpy_rows_f16(float* acc, const float* p, const uint16_t* v, int64_t stride, int nb, int64_t n) {
    for (int j = 0; j < nb; ++j)
      for (int64_t i = 0; i < n; ++i) acc[i] += p[j] * fp16_to_fp32(v[j * stride + i]);
  }
  static void scale(float* acc, float c, int64_t n) { scale_scalar(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float m) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      s[i] = std::exp(s[i] - m);
      sum += s[i];
    }
    return sum;
  }
};

void attend_head_f32_scalar(const AttendHeadArgs& a) {
  attention_detail::attend_head<ScalarPrims, false>(a);
}
void attend_head_f16_scalar(const AttendHeadArgs& a) {
  attention_detail::attend_head<ScalarPrims, true>(a);
}

}  // namespace

const OpsKernels& scalar_ops_kernels() {
  static const OpsKernels k = {
      "scalar",       rmsnorm_scalar, softmax_scalar, silu_scalar,
      gelu_scalar,    swiglu_scalar,  add_scalar,     mul_scalar,
      scale_scalar,   attend_head_f32_scalar,         attend_head_f16_scalar,
  };
  return k;
}

}  // namespace kestrel::kernels
