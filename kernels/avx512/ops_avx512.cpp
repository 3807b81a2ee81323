// AVX-512 (F/BW/VL/DQ) variants of the element-wise and attention kernels (scalar twins in
// kernels/scalar/ops_scalar.cpp define the results). Tails use masked loads and stores, so every
// element goes through the same vector arithmetic. Everything but the exported table is in an
// anonymous namespace so no function compiled with these flags can be shared with the baseline code.
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* helpers (a
// known false positive) wherever a masked intrinsic is inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"

namespace kestrel::kernels {
namespace {

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }  // n < 16

// exp(x) for 16 floats, within ~2 ulp of expf: x = n ln2 + r (Cody-Waite, |r| <= ln2/2), exp(r) by
// its degree-7 Taylor polynomial (truncation < 6e-9 relative), 2^n applied with vscalefps, which
// rounds denormal results correctly and overflows to +inf. The clamp keeps r finite for +-inf input.
inline __m512 exp16(__m512 x) {
  const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512 y = _mm512_scalef_ps(p, n);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);  // NaN in, NaN out
}

inline __m512 silu16(__m512 x) {
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

void rmsnorm_avx512(const float* x, const float* w, float* out, int64_t n, float eps) {
  // Squares in float, sum in double, like the scalar twin. Masked-off lanes load as 0.
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 sq = _mm512_mul_ps(v, v);
    acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(sq)));
    acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sq), 1))));
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const __m512 vs = _mm512_set1_ps(1.0f / __builtin_sqrtf(mean + eps));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
    if (w) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, w + i));
    _mm512_mask_storeu_ps(out + i, m, y);
  }
}

void softmax_avx512(float* x, int64_t n) {
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  __m512 vmax = ninf;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(ninf, m, x + i));
  }
  const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm)));
    _mm512_mask_storeu_ps(x + i, m, e);
    acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
  const __m512 vinv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vinv));
  }
}

void silu_avx512(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, silu16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void swiglu_avx512(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    const __m512 y = _mm512_mul_ps(silu16(_mm512_maskz_loadu_ps(m, gate + i)), _mm512_maskz_loadu_ps(m, up + i));
    _mm512_mask_storeu_ps(out + i, m, y);
  }
}

void add_avx512(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

void mul_avx512(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

void scale_avx512(float* x, float s, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
  }
}

inline __m512 load16_f16(__mmask16 m, const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

inline __m512 load16(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(__mmask16 m, const uint16_t* p) { return load16_f16(m, p); }

struct Avx512Prims {
  static float dot_f32(const float* q, const float* k, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + i), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(k + i + 16), a1);
    }
    for (; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, k + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  }
  static float dot_f16(const float* q, const uint16_t* k, int64_t n) {
    const __mmask16 all = 0xffff;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load16_f16(all, k + i), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load16_f16(all, k + i + 16), a1);
    }
    for (; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? all : tail_mask(n - i);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load16_f16(m, k + i), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
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
      __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
      for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
        const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
        a0 = _mm512_fmadd_ps(qv, load16(m, r0 + i), a0);
        a1 = _mm512_fmadd_ps(qv, load16(m, r1 + i), a1);
        a2 = _mm512_fmadd_ps(qv, load16(m, r2 + i), a2);
        a3 = _mm512_fmadd_ps(qv, load16(m, r3 + i), a3);
      }
      out[j] = _mm512_reduce_add_ps(a0);
      out[j + 1] = _mm512_reduce_add_ps(a1);
      out[j + 2] = _mm512_reduce_add_ps(a2);
      out[j + 3] = _mm512_reduce_add_ps(a3);
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
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT);
      _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(h));
    }
  }
  // acc += sum_j p[j] * row_j, 64 floats of acc held in registers across all rows.
  template <class Load>
  static void axpy_rows(float* acc, const float* p, int nb, int64_t n, Load load) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
      __m512 a0 = _mm512_loadu_ps(acc + i), a1 = _mm512_loadu_ps(acc + i + 16);
      __m512 a2 = _mm512_loadu_ps(acc + i + 32), a3 = _mm512_loadu_ps(acc + i + 48);
      for (int j = 0; j < nb; ++j) {
        const __m512 pj = _mm512_set1_ps(p[j]);
        a0 = _mm512_fmadd_ps(pj, load(j, i, 0xffff), a0);
        a1 = _mm512_fmadd_ps(pj, load(j, i + 16, 0xffff), a1);
        a2 = _mm512_fmadd_ps(pj, load(j, i + 32, 0xffff), a2);
        a3 = _mm512_fmadd_ps(pj, load(j, i + 48, 0xffff), a3);
      }
      _mm512_storeu_ps(acc + i, a0);
      _mm512_storeu_ps(acc + i + 16, a1);
      _mm512_storeu_ps(acc + i + 32, a2);
      _mm512_storeu_ps(acc + i + 48, a3);
    }
    for (; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      __m512 a = _mm512_maskz_loadu_ps(m, acc + i);
      for (int j = 0; j < nb; ++j) a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), load(j, i, m), a);
      _mm512_mask_storeu_ps(acc + i, m, a);
    }
  }
  static void axpy_rows_f32(float* acc, const float* p, const float* v, int64_t stride, int nb, int64_t n) {
    axpy_rows(acc, p, nb, n, [=](int j, int64_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, v + j * stride + i); });
  }
  static void axpy_rows_f16(float* acc, const float* p, const uint16_t* v, int64_t stride, int nb, int64_t n) {
    axpy_rows(acc, p, nb, n, [=](int j, int64_t i, __mmask16 m) { return load16_f16(m, v + j * stride + i); });
  }
  static void scale(float* acc, float c, int64_t n) { scale_avx512(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float mx) {
    const __m512 vm = _mm512_set1_ps(mx);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), vm)));
      _mm512_mask_storeu_ps(s + i, m, e);
      acc = _mm512_add_ps(acc, e);
    }
    return _mm512_reduce_add_ps(acc);
  }
};

void attend_head_f32_avx512(const AttendHeadArgs& a) { attention_detail::attend_head<Avx512Prims, false>(a); }
void attend_head_f16_avx512(const AttendHeadArgs& a) { attention_detail::attend_head<Avx512Prims, true>(a); }

}  // namespace

const OpsKernels& avx512_ops_kernels() {
  static const OpsKernels k = {
      "avx512",     rmsnorm_avx512, softmax_avx512, silu_avx512, /*gelu: scalar*/ nullptr, swiglu_avx512,
      add_avx512,   mul_avx512,     scale_avx512,   attend_head_f32_avx512,                attend_head_f16_avx512,
  };
  return k;
}

}  // namespace kestrel::kernels
