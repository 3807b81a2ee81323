// AVX2 + FMA + F16C variants of the element-wise and attention kernels (scalar twins in
// kernels/scalar/ops_scalar.cpp define the results). Everything but the exported table is in an
// anonymous namespace so no function compiled with these flags can be shared with the baseline code.
#include <immintrin.h>

#include <cstdint>

#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// exp(x) for 8 floats, within ~2 ulp of expf over the whole float range (including denormal
// results, +inf above ln(FLT_MAX) and NaN passing through):
// x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 split in two so n*ln2_hi is exact), exp(r) by its
// degree-7 Taylor polynomial (truncation error < 6e-9 relative on that interval), then 2^n applied as
// two factors 2^(n/2) so that n down to -150 (denormal results) and up to 128 stay representable.
inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.72283935546875f);  // ln(FLT_MAX) rounded up: above is +inf
  const __m256 lo = _mm256_set1_ps(-104.0f);             // exp(-104) < FLT_TRUE_MIN/2: below is 0
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));  // NaN in, NaN out
}

inline __m256 silu8(__m256 x) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline double hsum4d(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// Applies a vector function to the last n % 8 elements through a padded buffer, so tails get the
// same arithmetic as the body.
template <class F>
inline void tail8(const float* x, float* out, int64_t n, F f) {
  alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) buf[i] = x[i];
  _mm256_store_ps(buf, f(_mm256_load_ps(buf)));
  for (int64_t i = 0; i < n; ++i) out[i] = buf[i];
}

void rmsnorm_avx2(const float* x, const float* w, float* out, int64_t n, float eps) {
  // Squares in float, sum in double, like the scalar twin.
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 sq = _mm256_mul_ps(v, v);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
  }
  double sum = hsum4d(_mm256_add_pd(acc0, acc1));
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float s = 1.0f / __builtin_sqrtf(mean + eps);
  const __m256 vs = _mm256_set1_ps(s);
  i = 0;
  if (w) {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
    for (; i < n; ++i) out[i] = (x[i] * s) * w[i];
  } else {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; ++i) out[i] = x[i] * s;
  }
}

void softmax_avx2(float* x, int64_t n) {
  __m256 vmax = _mm256_set1_ps(-__builtin_inff());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float mx = _mm_cvtss_f32(m4);
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;

  const __m256 vm = _mm256_set1_ps(mx);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double sum = hsum4d(_mm256_add_pd(acc0, acc1));
  if (i < n) {
    tail8(x + i, x + i, n - i, [&](__m256 v) { return exp8(_mm256_sub_ps(v, vm)); });
    for (; i < n; ++i) sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

void silu_avx2(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, silu8(_mm256_loadu_ps(x + i)));
  if (i < n) tail8(x + i, x + i, n - i, silu8);
}

void swiglu_avx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
  if (i < n) {  // through buffers: out may alias gate or up
    alignas(32) float g[8] = {0, 0, 0, 0, 0, 0, 0, 0}, u[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < n - i; ++j) g[j] = gate[i + j], u[j] = up[i + j];
    _mm256_store_ps(g, _mm256_mul_ps(silu8(_mm256_load_ps(g)), _mm256_load_ps(u)));
    for (int64_t j = 0; j < n - i; ++j) out[i + j] = g[j];
  }
}

void add_avx2(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_avx2(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_avx2(float* x, float s, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
  for (; i < n; ++i) x[i] *= s;
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
  static void scale(float* acc, float c, int64_t n) { scale_avx2(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
      _mm256_storeu_ps(s + i, e);
      acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum8(acc);
    if (i < n) {
      tail8(s + i, s + i, n - i, [&](__m256 v) { return exp8(_mm256_sub_ps(v, vm)); });
      for (; i < n; ++i) sum += s[i];
    }
    return sum;
  }
};

void attend_head_f32_avx2(const AttendHeadArgs& a) { attention_detail::attend_head<Avx2Prims, false>(a); }
void attend_head_f16_avx2(const AttendHeadArgs& a) { attention_detail::attend_head<Avx2Prims, true>(a); }

}  // namespace

const OpsKernels& avx2_ops_kernels() {
  static const OpsKernels k = {
      "avx2",     rmsnorm_avx2, softmax_avx2, silu_avx2, /*gelu: scalar*/ nullptr, swiglu_avx2,
      add_avx2,   mul_avx2,     scale_avx2,   attend_head_f32_avx2,               attend_head_f16_avx2,
  };
  return k;
}

}  // namespace kestrel::kernels
