// AVX2 Q2_K / Q3_K / IQ4_XS x Q8_K kernels (twins: kernels/scalar/matmul_lowbit_scalar.cpp).
//
// A tile of R weight rows x T tokens walks the row one super-block (256 values) at a time. Each row's
// super-block is unpacked once into 8 vectors of 32 unsigned bytes plus the sub-block scales as int16
// (the weight work is shared by the T tokens); then per (row, token) each 32-value group costs
// VPMADDUBSW (u8 x s8 -> s16 pairs) + VPMADDWD with the scales (-> s32) + VPADDD:
//   Q2_K:   levels 0..3 (pair sums <= 2*3*127, no saturation); the min term sum_j m_j * bsum_j is one
//           VPMADDWD of the Q8_K block's bsums with the mins.
//   Q3_K:   levels + 4 in 0..7 (pairs <= 1778); the -4 offset is sum_j sc_j * 4 * bsum_j, again one
//           VPMADDWD with the bsums.
//   IQ4_XS: grid values by VPSHUFB from the 16-entry table, signed; ggml's |w| x sign(x, w) form keeps
//           pairs <= 2*127*127 = 32258, no saturation.
// The s32 sums are exact; one FMA per (row, token, super-block) scales them into an f32 vector.
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/matmul_isa.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"

namespace kestrel::kernels {
namespace {

float h2f(const char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

__m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
__m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// int16 vector [s[2g] x 8 | s[2g+1] x 8] from 16 scale bytes (signed or unsigned widening).
template <bool kSigned>
__m256i pair_scales(__m128i s8, int g) {
  const __m128i ctrl = _mm_set_epi8(char(2 * g + 1), char(2 * g + 1), char(2 * g + 1), char(2 * g + 1),
                                    char(2 * g + 1), char(2 * g + 1), char(2 * g + 1), char(2 * g + 1),
                                    char(2 * g), char(2 * g), char(2 * g), char(2 * g), char(2 * g),
                                    char(2 * g), char(2 * g), char(2 * g));
  const __m128i b = _mm_shuffle_epi8(s8, ctrl);
  return kSigned ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
}

// The 2-bit levels of one Q2_K/Q3_K qs array: group g = 4h + s holds elements 32g..32g+31.
void unpack_2bit(const char* qs, __m256i* q) {
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int h = 0; h < 2; ++h) {
    const __m256i v = loadu256(qs + 32 * h);
    q[4 * h + 0] = _mm256_and_si256(v, m3);
    q[4 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
    q[4 * h + 2] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
    q[4 * h + 3] = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
  }
}

// The 16 Q3_K sub-block scales minus 32 as bytes, from the 12 packed bytes (layout in
// quant_q2k_q3k_iq4xs.h; same result as q3_K_scales, kept in registers: a round trip through memory
// would stall on store forwarding).
__m128i q3_scales(const char* blk) {
  const char* s = blk + offsetof(BlockQ3_K, scales);
  int32_t h;
  std::memcpy(&h, s + 8, 4);
  const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(a, m4), _mm_and_si128(_mm_srli_epi16(a, 4), m4));
  // Scale j's high bits: byte j % 4 of h at bit 2 * (j / 4).
  const __m128i hb = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(h), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
  return _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hb, 4)), _mm_set1_epi8(32));
}

// The 8 IQ4_XS sub-block scales minus 32 as int16 lanes (same result as iq4_xs_scales, in registers):
// low nibbles from scales_l (sub-block 2i in the low nibble of byte i), high 2 bits from scales_h.
__m128i iq4_scales16(const char* blk) {
  int32_t l;
  uint16_t h;
  std::memcpy(&l, blk + offsetof(BlockIQ4_XS, scales_l), 4);
  std::memcpy(&h, blk + offsetof(BlockIQ4_XS, scales_h), 2);
  const __m128i x = _mm_cvtsi32_si128(l);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(x, m4), _mm_and_si128(_mm_srli_epi16(x, 4), m4)));
  // Sub-block i's high bits: (h >> 2i) & 3, in 32-bit lanes, then packed to 16 bits.
  const __m256i hb32 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                        _mm256_set1_epi32(3));
  const __m128i hi = _mm_slli_epi16(_mm_packs_epi32(_mm256_castsi256_si128(hb32), _mm256_extracti128_si256(hb32, 1)), 4);
  return _mm_sub_epi16(_mm_or_si128(lo, hi), _mm_set1_epi16(32));
}

const BlockQ8_K* xblock(const char* row, int64_t b) { return reinterpret_cast<const BlockQ8_K*>(row) + b; }

struct KQ2 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ2_K);
  struct Row {
    __m256i q[8], sc[8], mins;
    float d, dmin;
  };
  static void load(const char* blk, Row& w) {
    unpack_2bit(blk + offsetof(BlockQ2_K, qs), w.q);
    const __m128i s8 = loadu128(blk + offsetof(BlockQ2_K, scales));
    const __m128i lo = _mm_and_si128(s8, _mm_set1_epi8(0x0F));
    for (int g = 0; g < 8; ++g) w.sc[g] = pair_scales<false>(lo, g);
    w.mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
    w.d = h2f(blk + offsetof(BlockQ2_K, d));
    w.dmin = h2f(blk + offsetof(BlockQ2_K, dmin));
  }
  static __m256 madd(__m256 acc, const Row& w, const BlockQ8_K* x) {
    __m256i isum = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g)
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(w.q[g], loadu256(x->qs + 32 * g)), w.sc[g]));
    const __m256i summs = _mm256_madd_epi16(loadu256(x->bsums), w.mins);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(x->d * w.d), acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(summs), _mm256_set1_ps(x->d * w.dmin), acc);
  }
};

struct KQ3 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ3_K);
  struct Row {
    __m256i q[8], sc[8], sc_all;
    float d;
  };
  static void load(const char* blk, Row& w) {
    unpack_2bit(blk + offsetof(BlockQ3_K, qs), w.q);
    const __m256i hm = loadu256(blk + offsetof(BlockQ3_K, hmask));
    const __m256i one = _mm256_set1_epi8(1);
    for (int g = 0; g < 8; ++g) {
      // Element 32g + l has its high bit at hmask[l] bit g; level + 4 = low bits + 4 * high bit.
      const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(g)), one);
      w.q[g] = _mm256_or_si256(w.q[g], _mm256_slli_epi16(hb, 2));
    }
    const __m128i s8 = q3_scales(blk);
    for (int g = 0; g < 8; ++g) w.sc[g] = pair_scales<true>(s8, g);
    w.sc_all = _mm256_cvtepi8_epi16(s8);
    w.d = h2f(blk + offsetof(BlockQ3_K, d));
  }
  static __m256 madd(__m256 acc, const Row& w, const BlockQ8_K* x) {
    __m256i isum = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g)
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(w.q[g], loadu256(x->qs + 32 * g)), w.sc[g]));
    const __m256i corr = _mm256_madd_epi16(loadu256(x->bsums), w.sc_all);
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(corr, 2));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(w.d * x->d), acc);
  }
};

struct KIQ4XS {
  static constexpr size_t kBlockBytes = sizeof(BlockIQ4_XS);
  struct Row {
    __m256i v[8], absv[8], sc[8];
    float d;
  };
  static void load(const char* blk, Row& w) {
    const __m256i table = _mm256_broadcastsi128_si256(loadu128(kIq4nlValues));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const char* qs = blk + offsetof(BlockIQ4_XS, qs);
    alignas(16) int16_t sc[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(sc), iq4_scales16(blk));
    for (int ib = 0; ib < 8; ++ib) {
      const __m128i q = loadu128(qs + 16 * ib);
      const __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
      w.v[ib] = _mm256_shuffle_epi8(table, idx);
      w.absv[ib] = _mm256_abs_epi8(w.v[ib]);
      w.sc[ib] = _mm256_set1_epi16(sc[ib]);
    }
    w.d = h2f(blk + offsetof(BlockIQ4_XS, d));
  }
  static __m256 madd(__m256 acc, const Row& w, const BlockQ8_K* x) {
    __m256i isum = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
      const __m256i xs = _mm256_sign_epi8(loadu256(x->qs + 32 * ib), w.v[ib]);
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(w.absv[ib], xs), w.sc[ib]));
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(w.d * x->d), acc);
  }
};

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class K, int R, int T>
void tile(const GemmArgs& a, int64_t r0, int64_t t0) {
  const char* wr[R];
  const char* xr[T];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes;
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes;
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const int64_t nb = a.n_in / kQK_K;
  for (int64_t b = 0; b < nb; ++b) {
    typename K::Row w[R];
    for (int r = 0; r < R; ++r) {
      // The next row tile's block at this position (every cache line of it: blocks are 84-136 bytes),
      // so DRAM streaming overlaps the arithmetic.
      const char* next = wr[r] + b * K::kBlockBytes + R * static_cast<int64_t>(a.w_row_bytes);
      for (size_t off = 0; off < K::kBlockBytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
      K::load(wr[r] + b * K::kBlockBytes, w[r]);
    }
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K* x = xblock(xr[t], b);
      for (int r = 0; r < R; ++r) acc[r][t] = K::madd(acc[r][t], w[r], x);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.ldy + r0 + r] = hsum(acc[r][t]);
}

template <class K, int R, int T>
void row_tile(const GemmArgs& a, int64_t r0) {
  int64_t t0 = 0;
  for (; t0 + T <= a.n_tokens; t0 += T) tile<K, R, T>(a, r0, t0);
  switch (a.n_tokens - t0) {
    case 1: tile<K, R, 1>(a, r0, t0); break;
    case 2: if constexpr (T > 2) tile<K, R, 2>(a, r0, t0); break;
    case 3: if constexpr (T > 3) tile<K, R, 3>(a, r0, t0); break;
    default: break;
  }
}

template <class K>
void gemm(const GemmArgs& a) {
  constexpr int R = 2, T = 4;
  int64_t r0 = a.row_begin;
  for (; r0 + R <= a.row_end; r0 += R) row_tile<K, R, T>(a, r0);
  for (; r0 < a.row_end; ++r0) row_tile<K, 1, T>(a, r0);
}

}  // namespace

void set_lowbit_kernels_avx2(MatmulKernels& k) {
  k.gemm_q2_K = gemm<KQ2>;
  k.gemm_q3_K = gemm<KQ3>;
  k.gemm_iq4_xs = gemm<KIQ4XS>;
}

}  // namespace kestrel::kernels
