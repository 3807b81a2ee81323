// NEON (AArch64 ASIMD) variants of the element-wise and attention kernels (scalar twins in
// kernels/scalar/ops_scalar.cpp define the results). Only base ASIMD instructions are used here (F16
// is widened with FCVTL), so these kernels need nothing beyond what isa_supported(Isa::Neon) checks.
// Everything but the exported table is in an anonymous namespace.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// exp(x) for 4 floats, within ~2 ulp of expf over the whole float range: x = n ln2 + r
// (Cody-Waite, |r| <= ln2/2), exp(r) by its degree-7 Taylor polynomial (truncation < 6e-9 relative),
// 2^n applied as two factors 2^(n/2) so denormal results (n down to -150) and n = 128 stay exact.
// FMAX/FMIN propagate NaN, so NaN input gives NaN output without a separate blend.
inline float32x4_t exp4(float32x4_t x) {
  const float32x4_t hi = vdupq_n_f32(88.72283935546875f);  // ln(FLT_MAX) rounded up: above is +inf
  const float32x4_t xc = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), hi);
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, 1.44269504088896341f));
  float32x4_t r = vfmsq_n_f32(xc, n, 0.693145751953125f);
  r = vfmsq_n_f32(r, n, 1.428606765330187045e-06f);
  float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  const int32x4_t ni = vcvtq_s32_f32(n);
  const int32x4_t n1 = vshrq_n_s32(ni, 1);
  const int32x4_t n2 = vsubq_s32(ni, n1);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
  const float32x4_t y = vmulq_f32(vmulq_f32(p, s1), s2);
  return vbslq_f32(vcgtq_f32(x, hi), vdupq_n_f32(__builtin_inff()), y);
}

inline float32x4_t silu4(float32x4_t x) {
  return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(x))));
}

// Applies a vector function to the last n % 4 elements through a padded buffer, so tails get the
// same arithmetic as the body.
template <class F>
inline void tail4(const float* x, float* out, int64_t n, F f) {
  float buf[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) buf[i] = x[i];
  vst1q_f32(buf, f(vld1q_f32(buf)));
  for (int64_t i = 0; i < n; ++i) out[i] = buf[i];
}

// Adds 4 floats to two double accumulators.
inline void add_to_f64(float64x2_t& a0, float64x2_t& a1, float32x4_t v) {
  a0 = vaddq_f64(a0, vcvt_f64_f32(vget_low_f32(v)));
  a1 = vaddq_f64(a1, vcvt_high_f64_f32(v));
}

void rmsnorm_neon(const float* x, const float* w, float* out, int64_t n, float eps) {
  // Squares in float, sum in double, like the scalar twin.
  float64x2_t a0 = vdupq_n_f64(0.0), a1 = vdupq_n_f64(0.0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    add_to_f64(a0, a1, vmulq_f32(v, v));
  }
  double sum = vaddvq_f64(vaddq_f64(a0, a1));
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float s = 1.0f / __builtin_sqrtf(mean + eps);
  i = 0;
  if (w) {
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), s), vld1q_f32(w + i)));
    for (; i < n; ++i) out[i] = (x[i] * s) * w[i];
  } else {
    for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vmulq_n_f32(vld1q_f32(x + i), s));
    for (; i < n; ++i) out[i] = x[i] * s;
  }
}

void softmax_neon(float* x, int64_t n) {
  float32x4_t vmax = vdupq_n_f32(-__builtin_inff());
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
  float mx = vmaxvq_f32(vmax);
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const float32x4_t vm = vdupq_n_f32(mx);
  float64x2_t a0 = vdupq_n_f64(0.0), a1 = vdupq_n_f64(0.0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vm));
    vst1q_f32(x + i, e);
    add_to_f64(a0, a1, e);
  }
  double sum = vaddvq_f64(vaddq_f64(a0, a1));
  if (i < n) {
    tail4(x + i, x + i, n - i, [&](float32x4_t v) { return exp4(vsubq_f32(v, vm)); });
    for (; i < n; ++i) sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
  for (; i < n; ++i) x[i] *= inv;
}

void silu_neon(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, silu4(vld1q_f32(x + i)));
  if (i < n) tail4(x + i, x + i, n - i, silu4);
}

void swiglu_neon(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vmulq_f32(silu4(vld1q_f32(gate + i)), vld1q_f32(up + i)));
  if (i < n) {  // through buffers: out may alias gate or up
    float g[4] = {0, 0, 0, 0}, u[4] = {0, 0, 0, 0};
    for (int64_t j = 0; j < n - i; ++j) g[j] = gate[i + j], u[j] = up[i + j];
    vst1q_f32(g, vmulq_f32(silu4(vld1q_f32(g)), vld1q_f32(u)));
    for (int64_t j = 0; j < n - i; ++j) out[i + j] = g[j];
  }
}

void add_neon(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_neon(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vmulq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
  for (; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_neon(float* x, float s, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), s));
  for (; i < n; ++i) x[i] *= s;
}

inline float32x4_t load4_f16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

inline float32x4_t load4(const float* p) { return vld1q_f32(p); }
inline float32x4_t load4(const uint16_t* p) { return load4_f16(p); }
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return fp16_to_fp32(*p); }

struct NeonPrims {
  static float dot_f32(const float* q, const float* k, int64_t n) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      a0 = vfmaq_f32(a0, vld1q_f32(q + i), vld1q_f32(k + i));
      a1 = vfmaq_f32(a1, vld1q_f32(q + i + 4), vld1q_f32(k + i + 4));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(q + i), vld1q_f32(k + i));
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; ++i) s += q[i] * k[i];
    return s;
  }
  static float dot_f16(const float* q, const uint16_t* k, int64_t n) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      a0 = vfmaq_f32(a0, vld1q_f32(q + i), load4_f16(k + i));
      a1 = vfmaq_f32(a1, vld1q_f32(q + i + 4), load4_f16(k + i + 4));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(q + i), load4_f16(k + i));
    float s = vaddvq_f32(vaddq_f32(a0, a1));
    for (; i < n; ++i) s += q[i] * fp16_to_fp32(k[i]);
    return s;
  }
  // Four rows at a time: q is loaded once per four rows and the four FMA chains run in parallel.
  template <class T>
  static void dot_rows(const float* q, const T* k, int64_t stride, int nb, int64_t n, float* out) {
    int j = 0;
    for (; j + 4 <= nb; j += 4) {
      const T* r0 = k + j * stride;
      const T* r1 = r0 + stride;
      const T* r2 = r1 + stride;
      const T* r3 = r2 + stride;
      float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0), a3 = vdupq_n_f32(0);
      int64_t i = 0;
      for (; i + 4 <= n; i += 4) {
        const float32x4_t qv = vld1q_f32(q + i);
        a0 = vfmaq_f32(a0, qv, load4(r0 + i));
        a1 = vfmaq_f32(a1, qv, load4(r1 + i));
        a2 = vfmaq_f32(a2, qv, load4(r2 + i));
        a3 = vfmaq_f32(a3, qv, load4(r3 + i));
      }
      float s0 = vaddvq_f32(a0), s1 = vaddvq_f32(a1), s2 = vaddvq_f32(a2), s3 = vaddvq_f32(a3);
      for (; i < n; ++i) {
        s0 += q[i] * load1(r0 + i);
        s1 += q[i] * load1(r1 + i);
        s2 += q[i] * load1(r2 + i);
        s3 += q[i] * load1(r3 + i);
      }
      out[j] = s0, out[j + 1] = s1, out[j + 2] = s2, out[j + 3] = s3;
    }
    for (; j < nb; ++j) {
      if constexpr (sizeof(T) == 2) out[j] = dot_f16(q, k + j * stride, n);
      else out[j] = dot_f32(q, k + j * stride, n);
    }
  }
  static void dot_rows_f32(const float* q, const float* k, int64_t stride, int nb, int64_t n, float* out) {
    dot_rows(q, k, stride, nb, n, out);
  }
  static void dot_rows_f16(const float* q, const uint16_t* k, int64_t stride, int nb, int64_t n, float* out) {
    dot_rows(q, k, stride, nb, n, out);
  }
  static void round_to_f16(const float* x, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; ++i) dst[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
  }
  // acc += sum_j p[j] * row_j, 16 floats of acc held in registers across all rows.
  template <class Load, class LoadOne>
  static void axpy_rows(float* acc, const float* p, int nb, int64_t n, Load load, LoadOne load_one) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      float32x4_t a0 = vld1q_f32(acc + i), a1 = vld1q_f32(acc + i + 4);
      float32x4_t a2 = vld1q_f32(acc + i + 8), a3 = vld1q_f32(acc + i + 12);
      for (int j = 0; j < nb; ++j) {
        a0 = vfmaq_n_f32(a0, load(j, i), p[j]);
        a1 = vfmaq_n_f32(a1, load(j, i + 4), p[j]);
        a2 = vfmaq_n_f32(a2, load(j, i + 8), p[j]);
        a3 = vfmaq_n_f32(a3, load(j, i + 12), p[j]);
      }
      vst1q_f32(acc + i, a0);
      vst1q_f32(acc + i + 4, a1);
      vst1q_f32(acc + i + 8, a2);
      vst1q_f32(acc + i + 12, a3);
    }
    for (; i + 4 <= n; i += 4) {
      float32x4_t a = vld1q_f32(acc + i);
      for (int j = 0; j < nb; ++j) a = vfmaq_n_f32(a, load(j, i), p[j]);
      vst1q_f32(acc + i, a);
    }
    for (; i < n; ++i) {
      float a = acc[i];
      for (int j = 0; j < nb; ++j) a = __builtin_fmaf(p[j], load_one(j, i), a);
      acc[i] = a;
    }
  }
  static void axpy_rows_f32(float* acc, const float* p, const float* v, int64_t stride, int nb, int64_t n) {
    axpy_rows(acc, p, nb, n, [=](int j, int64_t i) { return vld1q_f32(v + j * stride + i); },
              [=](int j, int64_t i) { return v[j * stride + i]; });
  }
  static void axpy_rows_f16(float* acc, const float* p, const uint16_t* v, int64_t stride, int nb, int64_t n) {
    axpy_rows(acc, p, nb, n, [=](int j, int64_t i) { return load4_f16(v + j * stride + i); },
              [=](int j, int64_t i) { return fp16_to_fp32(v[j * stride + i]); });
  }
  static void scale(float* acc, float c, int64_t n) { scale_neon(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float m) {
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t acc = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const float32x4_t e = exp4(vsubq_f32(vld1q_f32(s + i), vm));
      vst1q_f32(s + i, e);
      acc = vaddq_f32(acc, e);
    }
    float sum = vaddvq_f32(acc);
    if (i < n) {
      tail4(s + i, s + i, n - i, [&](float32x4_t v) { return exp4(vsubq_f32(v, vm)); });
      for (; i < n; ++i) sum += s[i];
    }
    return sum;
  }
};

void attend_head_f32_neon(const AttendHeadArgs& a) { attention_detail::attend_head<NeonPrims, false>(a); }
void attend_head_f16_neon(const AttendHeadArgs& a) { attention_detail::attend_head<NeonPrims, true>(a); }

}  // namespace

const OpsKernels& neon_ops_kernels() {
  static const OpsKernels k = {
      "neon",     rmsnorm_neon, softmax_neon, silu_neon, /*gelu: scalar*/ nullptr, swiglu_neon,
      add_neon,   mul_neon,     scale_neon,   attend_head_f32_neon,               attend_head_f16_neon,
  };
  return k;
}

}  // namespace kestrel::kernels
