// NEON (AArch64 ASIMD) kernels of the ops table (scalar twins in kernels/scalar/ops_scalar.cpp define
// the results): the float element-wise ops are kernels/ops_simd.h instantiated for xsimd::neon64; the
// attention primitives below are hand-written. Only base ASIMD instructions are used (F16 is widened
// with FCVTL), so these kernels need nothing beyond what isa_supported(Isa::Neon) checks. Everything
// but the exported table is in an anonymous namespace.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/attention_fa_impl.h"
#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"
#include "kernels/ops_simd.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

using Simd = ElementwiseSimd<xsimd::neon64>;

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
  static void scale(float* acc, float c, int64_t n) { Simd::scale(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float m) { return Simd::exp_sub_sum(s, n, m); }
};

void attend_head_f32_neon(const AttendHeadArgs& a) { attention_detail::attend_head<NeonPrims, false>(a); }
void attend_head_f16_neon(const AttendHeadArgs& a) { attention_detail::attend_head<NeonPrims, true>(a); }
void attend_block_f16_neon(const AttendBlockArgs& a) { attention_detail::attend_block_fa<NeonPrims>(a); }

}  // namespace
const OpsKernels& neon_ops_kernels() {
  // gelu and geglu are a table lookup per element (ggml's F16 table): no entry, the scalar twin runs.
  static const OpsKernels k = {
      .name = "neon",
      .rmsnorm = Simd::rmsnorm,
      .softmax = Simd::softmax,
      .silu = Simd::silu,
      .swiglu = Simd::swiglu,
      .layernorm = Simd::layernorm,
      .softcap = Simd::softcap,
      .add = Simd::add,
      .mul = Simd::mul,
      .scale = Simd::scale,
      .attend_head_f32 = attend_head_f32_neon,
      .attend_head_f16 = attend_head_f16_neon,
      .attend_block_f16 = attend_block_f16_neon,
  };
  return k;
}

}  // namespace kestrel::kernels
