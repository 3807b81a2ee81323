// Scalar twins of the element-wise and attention kernels: they define what every SIMD variant must
// compute. Formulas follow ggml's CPU reference so results stay close to llama.cpp:
//   rmsnorm: sum of squares in double, scale = 1/sqrtf(mean + eps), out = (x * scale) * w
//   softmax: exp(x - max) summed in double, then multiplied by 1/sum
//   silu:    x / (1 + expf(-x))
//   layernorm: ggml_norm: mean = float(double sum of x) / n, variance = double sum of float
//            (x - mean)^2 / n, out = ((x - mean) * 1/sqrtf(var + eps)) * w + b
//   gelu:    ggml's f32 GELU (GGML_GELU_FP16): x <= -10 -> 0, x >= 10 -> x, otherwise a 65536-entry table
//            indexed by F16(x) holding F16(0.5 f (1 + tanhf(sqrt(2/pi) f (1 + 0.044715 f^2)))), built the
//            way ggml builds it, so results are llama.cpp's bit for bit (and carry F16 precision)
//   softcap: cap * tanhf(x * (1/cap)) (llama.cpp's scale, tanh, scale)
// gelu/geglu are a table lookup per element and have no SIMD entries; every ISA uses these.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/attention_fa_impl.h"
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

void layernorm_scalar(const float* x, const float* w, const float* b, float* out, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const float mean = static_cast<float>(sum) / static_cast<float>(n);
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    out[i] = d;
    sq += static_cast<double>(d * d);
  }
  const float variance = static_cast<float>(sq / static_cast<double>(n));
  const float s = 1.0f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) {
    float y = out[i] * s;
    if (w) y *= w[i];
    if (b) y += b[i];
    out[i] = y;
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

// F16 bits of gelu_tanh(f) for every F16 bit pattern f (128 KB, built once, thread-safe).
const uint16_t* gelu_f16_table() {
  static const std::vector<uint16_t> table = [] {
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    std::vector<uint16_t> t(1u << 16);
    for (uint32_t i = 0; i < t.size(); ++i) {
      const float f = fp16_to_fp32(static_cast<uint16_t>(i));
      // llama.cpp's builds for FMA targets (its x86 variants from haswell up, ARM) contract ggml_gelu_f32's
      // 1.0f + GELU_COEF_A*x*x into fma(GELU_COEF_A*x, x, 1.0f) (-ffp-contract=fast, GCC's default for
      // its gnu11 C); unfused, the entry of x = -0x1.ffcp+0 (F16 0xbfff) is one F16 ulp off theirs
      // (0xa9d2 instead of 0xa9d3), the only entry that depends on it. Measured on Gemma 3 270M: a
      // decode step that hit it made the greedy continuations part after 18 tokens.
      t[i] = fp32_to_fp16(0.5f * f * (1.0f + std::tanh(kSqrt2OverPi * f * std::fma(kCoefA * f, f, 1.0f))));
    }
    return t;
  }();
  return table.data();
}

inline float gelu1(float x, const uint16_t* table) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return fp16_to_fp32(table[fp32_to_fp16(x)]);
}

void gelu_scalar(float* x, int64_t n) {
  const uint16_t* t = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) x[i] = gelu1(x[i], t);
}

void geglu_scalar(const float* gate, const float* up, float* out, int64_t n) {
  const uint16_t* t = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) out[i] = gelu1(gate[i], t) * up[i];
}

void softcap_scalar(float* x, float cap, int64_t n) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
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
void attend_block_f16_scalar(const AttendBlockArgs& a) { attention_detail::attend_block_fa<ScalarPrims>(a); }

}  // namespace

const OpsKernels& scalar_ops_kernels() {
  static const OpsKernels k = {
      .name = "scalar",
      .rmsnorm = rmsnorm_scalar,
      .softmax = softmax_scalar,
      .silu = silu_scalar,
      .gelu = gelu_scalar,
      .swiglu = swiglu_scalar,
      .geglu = geglu_scalar,
      .layernorm = layernorm_scalar,
      .softcap = softcap_scalar,
      .add = add_scalar,
      .mul = mul_scalar,
      .scale = scale_scalar,
      .attend_head_f32 = attend_head_f32_scalar,
      .attend_head_f16 = attend_head_f16_scalar,
      .attend_block_f16 = attend_block_f16_scalar,
  };
  return k;
}

}  // namespace kestrel::kernels
