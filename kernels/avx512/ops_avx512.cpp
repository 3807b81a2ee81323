// AVX-512 (F/BW/VL/DQ) kernels of the ops table (scalar twins in kernels/scalar/ops_scalar.cpp define
// the results): the float element-wise ops are kernels/ops_simd.h instantiated for xsimd::avx512bw; the
// attention primitives below are hand-written, with masked loads and stores for tails. Everything but
// the exported table is in an anonymous namespace so no function compiled with these flags can be
// shared with the baseline code.
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_* helpers (a
// known false positive) wherever a masked intrinsic is inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/attention_fa_impl.h"
#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"
#include "kernels/ops_simd.h"

namespace kestrel::kernels {
namespace {

using Simd = ElementwiseSimd<xsimd::avx512bw>;

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }  // n < 16

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
  static void scale(float* acc, float c, int64_t n) { Simd::scale(acc, c, n); }
  static float exp_sub_sum(float* s, int64_t n, float m) { return Simd::exp_sub_sum(s, n, m); }

  // C[m x n] += A[m x k] B[k x n] for the F16 tiled attention (attention_fa_impl.h): every C element is
  // one FMA chain over k ascending, as fa_order::gemm_acc; R rows x 64 columns of C stay in registers.
  template <int R>
  static void fa_gemm_tile(float* c, const float* a, const float* b, int64_t k, int64_t n, int64_t w) {
    __mmask16 mk[4];
    for (int v = 0; v < 4; ++v) {
      const int64_t left = w - 16 * v;
      mk[v] = left >= 16 ? static_cast<__mmask16>(0xffff) : left > 0 ? tail_mask(left) : static_cast<__mmask16>(0);
    }
    __m512 acc[R][4];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_maskz_loadu_ps(mk[v], c + r * n + 16 * v);
    for (int64_t kk = 0; kk < k; ++kk) {
      __m512 bv[4];
      for (int v = 0; v < 4; ++v) bv[v] = _mm512_maskz_loadu_ps(mk[v], b + kk * n + 16 * v);
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(a[r * k + kk]);
        for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < 4; ++v) _mm512_mask_storeu_ps(c + r * n + 16 * v, mk[v], acc[r][v]);
  }
  // ggml_v_expf (ggml-cpu/vec.h, AVX-512) of e - m, stored back; returns their _mm512_reduce_add_ps.
  static float fa_exp_tree16(float* e, float m) {
    const __m512 x = _mm512_sub_ps(_mm512_loadu_ps(e), _mm512_set1_ps(m));
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    __m512 res = _mm512_scalef_ps(j, n);
    if (big) {
      const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ), _mm512_set1_ps(INFINITY),
                                              _mm512_setzero_ps());
      res = _mm512_mask_blend_ps(big, res, alt);
    }
    _mm512_storeu_ps(e, res);
    return _mm512_reduce_add_ps(res);
  }
  static void fa_gemm_acc(float* c, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
    for (int64_t j = 0; j < n; j += 64) {
      const int64_t w = n - j < 64 ? n - j : 64;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) fa_gemm_tile<4>(c + i * n + j, a + i * k, b + j, k, n, w);
      for (; i < m; ++i) fa_gemm_tile<1>(c + i * n + j, a + i * k, b + j, k, n, w);
    }
  }
};

void attend_head_f32_avx512(const AttendHeadArgs& a) { attention_detail::attend_head<Avx512Prims, false>(a); }
void attend_head_f16_avx512(const AttendHeadArgs& a) { attention_detail::attend_head<Avx512Prims, true>(a); }
void attend_block_f16_avx512(const AttendBlockArgs& a) { attention_detail::attend_block_fa<Avx512Prims>(a); }

}  // namespace
const OpsKernels& avx512_ops_kernels() {
  // gelu and geglu are a table lookup per element (ggml's F16 table): no entry, the scalar twin runs.
  static const OpsKernels k = {
      .name = "avx512",
      .rmsnorm = Simd::rmsnorm,
      .softmax = Simd::softmax,
      .silu = Simd::silu,
      .swiglu = Simd::swiglu,
      .layernorm = Simd::layernorm,
      .softcap = Simd::softcap,
      .add = Simd::add,
      .mul = Simd::mul,
      .scale = Simd::scale,
      .attend_head_f32 = attend_head_f32_avx512,
      .attend_head_f16 = attend_head_f16_avx512,
      .attend_block_f16 = attend_block_f16_avx512,
  };
  return k;
}

}  // namespace kestrel::kernels
