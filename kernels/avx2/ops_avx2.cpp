// AVX2 + FMA + F16C kernels of the ops table (scalar twins in kernels/scalar/ops_scalar.cpp define the
// results): the float element-wise ops are kernels/ops_simd.h instantiated for xsimd::fma3<xsimd::avx2>;
// the attention primitives below are hand-written. Everything but the exported table is in an anonymous
// namespace so no function compiled with these flags can be shared with the baseline code.
#include <immintrin.h>

#include <cstdint>

#include "kernels/attention_fa_impl.h"
#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"
#include "kernels/ops_simd.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

using Simd = ElementwiseSimd<xsimd::fma3<xsimd::avx2>>;

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 load8_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return load8_f16(p); }
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return fp16_to_fp32(*p); }

struct Avx2Prims {
  static float dot_f32(const float* q, const float* k, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; ++i) s += q[i] * k[i];
    return s;
  }
  static float dot_f16(const float* q, const uint16_t* k, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8_f16(k + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8_f16(k + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8_f16(k + i), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
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
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(qv, load8(r0 + i), a0);
        a1 = _mm256_fmadd_ps(qv, load8(r1 + i), a1);
        a2 = _mm256_fmadd_ps(qv, load8(r2 + i), a2);
        a3 = _mm256_fmadd_ps(qv, load8(r3 + i), a3);
      }
      float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);
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
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i) dst[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
  }
  // acc += sum_j p[j] * row_j, 32 floats of acc held in registers across all rows.
  template <class Load, class LoadOne>
  static void axpy_rows(float* acc, const float* p, int nb, int64_t n, Load load, LoadOne load_one) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      __m256 a0 = _mm256_loadu_ps(acc + i), a1 = _mm256_loadu_ps(acc + i + 8);
      __m256 a2 = _mm256_loadu_ps(acc + i + 16), a3 = _mm256_loadu_ps(acc + i + 24);
      for (int j = 0; j < nb; ++j) {
        const __m256 pj = _mm256_set1_ps(p[j]);
        a0 = _mm256_fmadd_ps(pj, load(j, i), a0);
        a1 = _mm256_fmadd_ps(pj, load(j, i + 8), a1);
        a2 = _mm256_fmadd_ps(pj, load(j, i + 16), a2);
        a3 = _mm256_fmadd_ps(pj, load(j, i + 24), a3);
      }
      _mm256_storeu_ps(acc + i, a0);
      _mm256_storeu_ps(acc + i + 8, a1);
      _mm256_storeu_ps(acc + i + 16, a2);
      _mm256_storeu_ps(acc + i + 24, a3);
    }
    for (; i + 8 <= n; i += 8) {
      __m256 a = _mm256_loadu_ps(acc + i);
      for (int j = 0; j < nb; ++j) a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load(j, i), a);
      _mm256_storeu_ps(acc + i, a);
    }
    for (; i < n; ++i) {
      float a = acc[i];
      for (int j = 0; j < nb; ++j) a = __builtin_fmaf(p[j], load_one(j, i), a);
      acc[i] = a;
    }
  }
  static void axpy_rows_f32(float* acc, const float* p, const float* v, int64_t stride, int nb, int64_t n) {
    axpy_rows(acc, p, nb, n, [=](int j, int64_t i) { return _mm256_loadu_ps(v + j * stride + i); },
              [=](int j, int64_t i) { return v[j * stride + i]; });
  }
  static void axpy_rows_f16(float* acc, const float* p, const uint16_t* v, int64_t stride, int nb, int64_t n) {
    axpy_rows(acc, p, nb, n, [=](int j, int64_t i) { return load8_f16(v + j * stride + i); },
              [=](int j, int64_t i) { return fp16_to_fp32(v[j * stride + i]); });
  }
  static void scale(float* acc, float c, int64_t n) { Simd::scale(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float m) { return Simd::exp_sub_sum(s, n, m); }
};

void attend_head_f32_avx2(const AttendHeadArgs& a) { attention_detail::attend_head<Avx2Prims, false>(a); }
void attend_head_f16_avx2(const AttendHeadArgs& a) { attention_detail::attend_head<Avx2Prims, true>(a); }
void attend_block_f16_avx2(const AttendBlockArgs& a) { attention_detail::attend_block_fa<Avx2Prims>(a); }

}  // namespace
const OpsKernels& avx2_ops_kernels() {
  // gelu and geglu are a table lookup per element (ggml's F16 table): no entry, the scalar twin runs.
  static const OpsKernels k = {
      .name = "avx2",
      .rmsnorm = Simd::rmsnorm,
      .softmax = Simd::softmax,
      .silu = Simd::silu,
      .swiglu = Simd::swiglu,
      .layernorm = Simd::layernorm,
      .softcap = Simd::softcap,
      .add = Simd::add,
      .mul = Simd::mul,
      .scale = Simd::scale,
      .attend_head_f32 = attend_head_f32_avx2,
      .attend_head_f16 = attend_head_f16_avx2,
      .attend_block_f16 = attend_block_f16_avx2,
  };
  return k;
}

}  // namespace kestrel::kernels
