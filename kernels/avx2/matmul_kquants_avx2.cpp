// AVX2 + FMA K-quant kernels: Q4_K, Q5_K, Q6_K weights x Q8_K activations, and the Q8_K converter.
// The twins are kernels/scalar/matmul_kquants_scalar.cpp.
//
// A super-block is 8 chunks of 32 values. Chunk k of Q4_K/Q5_K is one 32-byte nibble chunk's low or
// high half (values 64(k/2) + 32(k%2) + 0..31, natural order); Q6_K's chunks come from ql/qh the same
// way. Per chunk: VPMADDUBSW (unsigned values x signed activations -> s16 pairs, no saturation:
// |pair| <= 2 * 63 * 127) then VPMADDWD with the chunk's int16 scale vector -> 8 int32 partial sums of
// the scaled super-block sum. The min (Q4_K/Q5_K) or -32 offset (Q6_K) correction is VPMADDWD of the
// activation bsums with 16 int16 factors (mins, each twice, or the 16 scales), 8 int32 lanes like the
// main sum, so per token and super-block: acc = fma(isum, d*dx, acc); acc = fnma(corr, dsub*dx, acc).
// The unpacked chunk is shared by up to 4 tokens.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

float h2f(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// ---------------------------------------------------------------- Q8_K activation converter

void quantize_row_q8_K_avx2(const float* x, void* dst, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 32; ++i) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8 * i), abs_mask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (!amax) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0;  // the first value whose magnitude is amax (the reference's choice), with its sign
    for (int i = 0; i < kQK_K; ++i)
      if (std::fabs(x[i]) == amax) {
        max = x[i];
        break;
      }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    for (int i = 0; i < 32; i += 4) {
      // nearest_int = round half to even of the product (VCVTPS2DQ in the default rounding mode).
      __m256i q[4];
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 8 * (i + j)))), _mm256_set1_epi32(127));
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + 8 * i),
                          _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    for (int k = 0; k < 16; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[b].qs + 16 * k));
      const __m128i w = _mm_madd_epi16(_mm_cvtepi8_epi16(v), _mm_set1_epi16(1));
      const __m128i w2 = _mm_madd_epi16(_mm_cvtepi8_epi16(_mm_srli_si128(v, 8)), _mm_set1_epi16(1));
      __m128i s = _mm_add_epi32(w, w2);
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
      y[b].bsums[k] = static_cast<int16_t>(_mm_cvtsi128_si32(s));
    }
    y[b].d = 1 / iscale;
  }
}

// ---------------------------------------------------------------- per-type super-block access

// The 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of packed Q4_K/Q5_K scales[12].
void k4_scales_mins(const uint8_t* p, uint8_t out[16]) {
  uint32_t u[4];
  std::memcpy(u, p, 12);
  const uint32_t sc_lo = u[0] & 0x3F3F3F3F, m_lo = u[1] & 0x3F3F3F3F;
  const uint32_t sc_hi = (u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4);
  u[0] = sc_lo, u[1] = sc_hi, u[2] = m_lo, u[3] = m_hi;
  std::memcpy(out, u, 16);
}

// Q4_K and Q5_K share scales/mins; Bits5 adds the fifth bit.
template <bool Bits5>
struct K4 {
  static constexpr bool kIntOffset = false;  // the min correction has its own scale dmin
  const uint8_t* qs;
  const uint8_t* qh;
  __m256i qh_v;
  uint8_t sm[16];
  float d, dsub;
  __m256i sub;
  void begin(const char* row, int64_t b) {
    if constexpr (Bits5) {
      const BlockQ5_K* blk = reinterpret_cast<const BlockQ5_K*>(row) + b;
      qs = blk->qs;
      qh_v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh));
      k4_scales_mins(blk->scales, sm);
      d = h2f(&blk->d), dsub = h2f(&blk->dmin);
    } else {
      const BlockQ4_K* blk = reinterpret_cast<const BlockQ4_K*>(row) + b;
      qs = blk->qs;
      k4_scales_mins(blk->scales, sm);
      d = h2f(&blk->d), dsub = h2f(&blk->dmin);
    }
    const __m128i m8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8));
    sub = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));  // each min twice
  }
  __m256i values(int k) const {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (k / 2)));
    __m256i q = _mm256_and_si256(k % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0F));
    if constexpr (Bits5) {
      // Bit k of qh[l] is the fifth bit of value 32k + l: move it to bit 4.
      const __m256i h = k <= 4 ? _mm256_slli_epi16(qh_v, 4 - k) : _mm256_srli_epi16(qh_v, k - 4);
      q = _mm256_or_si256(q, _mm256_and_si256(h, _mm256_set1_epi8(0x10)));
    }
    return q;
  }
  __m256i scale(int k) const { return _mm256_set1_epi16(sm[k]); }
};

struct Q6 {
  static constexpr bool kIntOffset = true;  // the -32 correction shares the scales: exact in int32
  const BlockQ6_K* blk;
  float d, dsub;
  __m256i sub;
  void begin(const char* row, int64_t b) {
    blk = reinterpret_cast<const BlockQ6_K*>(row) + b;
    d = h2f(&blk->d);
    dsub = 32.0f * d;
    sub = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales)));
  }
  // Chunk k = values 32k..32k+31: half k / 4, group g = k % 4 (see quant_k.h).
  __m256i values(int k) const {
    const int h = k / 4, g = k % 4;
    const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->ql + 64 * h + 32 * (g & 1)));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * h));
    const __m256i lo = _mm256_and_si256(g < 2 ? l : _mm256_srli_epi16(l, 4), _mm256_set1_epi8(0x0F));
    const __m256i hb = 2 * g <= 4 ? _mm256_slli_epi16(qh, 4 - 2 * g) : _mm256_srli_epi16(qh, 2 * g - 4);
    return _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
  }
  // Sub-blocks 2k (lower 128 bits) and 2k + 1 (upper).
  __m256i scale(int k) const {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(blk->scales[2 * k])),
                                   _mm_set1_epi16(blk->scales[2 * k + 1]), 1);
  }
};

// ---------------------------------------------------------------- tiles

template <class Type, int T>
void row_tile(const GemmArgs& a, int64_t r, int64_t t0) {
  const char* w = static_cast<const char*>(a.w) + r * a.w_row_bytes;
  const BlockQ8_K* x[T];
  for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  const int64_t nb = a.n_in / kQK_K;
  const int64_t block_bytes = static_cast<int64_t>(a.w_row_bytes) / nb;
  for (int64_t b = 0; b < nb; ++b) {
    const char* next = w + a.w_row_bytes + b * block_bytes;  // the next row, for the prefetchers
    for (int64_t off = 0; off < block_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
    Type q;
    q.begin(w, b);
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i v = q.values(k), s = q.scale(k);
      for (int t = 0; t < T; ++t) {
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t][b].qs + 32 * k));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(v, xq), s));
      }
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& xb = x[t][b];
      const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums)), q.sub);
      if constexpr (Type::kIntOffset) {
        // Q6_K: the -32 offset in integers (exact; both terms are ~30x the result).
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(isum[t], _mm256_slli_epi32(corr, 5))),
                                 _mm256_set1_ps(q.d * xb.d), acc[t]);
      } else {
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(q.d * xb.d), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(corr), _mm256_set1_ps(q.dsub * xb.d), acc[t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    a.y[(t0 + t) * a.ldy + r] = _mm_cvtss_f32(s);
  }
}

template <class Type>
void gemm(const GemmArgs& a) {
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += 4) {
    const int64_t nt = a.n_tokens - t0 < 4 ? a.n_tokens - t0 : 4;
    for (int64_t r = a.row_begin; r < a.row_end; ++r) {
      switch (nt) {
        case 4: row_tile<Type, 4>(a, r, t0); break;
        case 3: row_tile<Type, 3>(a, r, t0); break;
        case 2: row_tile<Type, 2>(a, r, t0); break;
        default: row_tile<Type, 1>(a, r, t0); break;
      }
    }
  }
}

}  // namespace

void set_kquant_kernels_avx2(MatmulKernels& k) {
  k.quantize_row_q8_K = quantize_row_q8_K_avx2;
  k.gemm_q4_K = gemm<K4<false>>;
  k.gemm_q5_K = gemm<K4<true>>;
  k.gemm_q6_K = gemm<Q6>;
}

}  // namespace kestrel::kernels
