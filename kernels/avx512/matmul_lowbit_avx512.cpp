// AVX-512 (BW + VNNI) Q2_K / Q3_K / IQ4_XS x Q8_K kernels (twins: kernels/scalar/matmul_lowbit_scalar.cpp).
//
// Same scheme as the AVX2 kernels (matmul_lowbit_avx2.cpp) on 64-value vectors: a row's super-block
// is unpacked once into 4 vectors of bytes whose order matches the Q8_K activations (vector k = values
// 64k..64k+63), plus int16 scale vectors with one scale per 8 lanes (a 16-value sub-block per 128-bit
// lane after VPMADDUBSW). Per (row, token) and 64 values: VPMADDUBSW + VPDPWSSD (VNNI: the scale
// multiply and the s32 accumulation in one instruction).
//   Q2_K / Q3_K: the two 32-value groups of a vector come from one 32-byte half of qs at two shifts:
//     the half is broadcast to both 256-bit lanes and shifted per 16-bit lane (VPSRLVW).
//   IQ4_XS: VPSHUFB from the grid; |w| x sign(x, w) as in AVX2, with the sign applied by a masked
//     subtract whose mask (the weights' sign bits) is computed once per row.
// The min / -4 offset terms use the Q8_K bsums with one 256-bit VPMADDWD, as in AVX2.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/avx512/kquant_packed_avx512.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"

namespace kestrel::kernels {
namespace {

float h2f(const char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

__m512i loadu512(const void* p) { return _mm512_loadu_si512(p); }
__m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
__m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// int16 scale vectors for vector k: lanes 8i..8i+7 (i = 0..3) hold sub-block 4k + i's unsigned scale,
// from the 16 scale bytes by VPSHUFB (the byte to the low byte of each 16-bit lane, high byte zeroed).
// Signed scales (Q3_K) are widened once and spread with VPERMW (spread_scales16).
struct SpreadControl {
  alignas(64) int8_t lo[4][64];
  constexpr SpreadControl() : lo{} {
    for (int k = 0; k < 4; ++k)
      for (int i = 0; i < 32; ++i) lo[k][2 * i] = static_cast<int8_t>(4 * k + i / 8), lo[k][2 * i + 1] = -128;
  }
};
constexpr SpreadControl kSpread;

void spread_scales(__m128i s8, __m512i* out) {
  const __m512i b = _mm512_broadcast_i32x4(s8);
  for (int k = 0; k < 4; ++k) out[k] = _mm512_shuffle_epi8(b, _mm512_load_si512(kSpread.lo[k]));
}

// 2-bit levels: vector k holds groups 2k and 2k+1 (values 64k..64k+63), both from qs half k/2 at
// shifts 2 * (2k % 4) and 2 * (2k % 4) + 2.
void unpack_2bit(const char* qs, __m512i* q) {
  const __m512i m3 = _mm512_set1_epi8(3);
  const __m512i shift_lo = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);  // shifts 0 | 2
  const __m512i shift_hi = _mm512_add_epi16(shift_lo, _mm512_set1_epi16(4));                      // shifts 4 | 6
  for (int h = 0; h < 2; ++h) {
    const __m512i v = _mm512_broadcast_i64x4(loadu256(qs + 32 * h));
    q[2 * h + 0] = _mm512_and_si512(_mm512_srlv_epi16(v, shift_lo), m3);
    q[2 * h + 1] = _mm512_and_si512(_mm512_srlv_epi16(v, shift_hi), m3);
  }
}

__m512i zext(__m256i v) { return _mm512_inserti64x4(_mm512_setzero_si512(), v, 0); }

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

// Q3_K levels + 4 (0..7, unsigned) in natural order: the 2-bit part plus 4 where the hmask bit is
// set; vector k's lower / upper half tests bit 2k / 2k+1 of hmask[l] (hmask broadcast to both halves):
// one VPTESTMB and one masked add per 64 values.
void q3_levels(const char* blk, __m512i* q) {
  unpack_2bit(blk + offsetof(BlockQ3_K, qs), q);
  const __m512i hm = _mm512_broadcast_i64x4(loadu256(blk + offsetof(BlockQ3_K, hmask)));
  const __m512i four = _mm512_set1_epi8(4);
  for (int k = 0; k < 4; ++k) {
    const __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * k))),
                                           _mm256_set1_epi8(static_cast<char>(1 << (2 * k + 1))), 1);
    q[k] = _mm512_mask_add_epi8(q[k], _mm512_test_epi8_mask(hm, sel), q[k], four);
  }
}

// int16 scale vectors of 16 signed sub-block scales (sc16): vector k's lanes 8i..8i+7 get sub-block
// 4k + i, one VPERMW each.
void spread_scales16(__m256i sc16, __m512i* out) {
  const __m512i s = _mm512_castsi256_si512(sc16);
  for (int k = 0; k < 4; ++k) {
    const __m512i idx = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(static_cast<short>(4 * k))),
                                                       _mm_set1_epi16(static_cast<short>(4 * k + 1)), 1)),
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(static_cast<short>(4 * k + 2))),
                                _mm_set1_epi16(static_cast<short>(4 * k + 3)), 1),
        1);
    out[k] = _mm512_permutexvar_epi16(idx, s);
  }
}

// IQ4_XS grid values + 128 (unsigned) in natural order: vector k holds sub-blocks 2k, 2k+1 as
// 128-bit lanes [A, A, B, B] of their qs bytes, then low / high nibbles per lane.
void iq4_values_u(const char* blk, __m512i* u) {
  const __m512i table = _mm512_xor_si512(_mm512_broadcast_i32x4(loadu128(kIq4nlValues)), _mm512_set1_epi8(-128));
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i dup = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
  const __m512i nib = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
  const char* qs = blk + offsetof(BlockIQ4_XS, qs);
  for (int k = 0; k < 4; ++k) {
    const __m512i q = _mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(loadu256(qs + 32 * k)));
    u[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srlv_epi64(q, nib), m4));
  }
}

// sum over the 256 values of q * x * (int16 scale of the value's pair), in two VPDPWSSD chains (one
// chain of four serial VPDPWSSD was the critical path: 4 x 5 cycles per super-block and row).
__m512i scaled_dot256(const __m512i* q, const __m512i* sc, const int8_t* x) {
  __m512i a = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(q[0], loadu512(x)), sc[0]);
  __m512i b = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(q[1], loadu512(x + 64)), sc[1]);
  a = _mm512_dpwssd_epi32(a, _mm512_maddubs_epi16(q[2], loadu512(x + 128)), sc[2]);
  b = _mm512_dpwssd_epi32(b, _mm512_maddubs_epi16(q[3], loadu512(x + 192)), sc[3]);
  return _mm512_add_epi32(a, b);
}

struct KQ2 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ2_K);
  struct Row {
    __m512i q[4], sc[4];
    __m256i mins;
    float d, dmin;
  };
  static void load(const char* blk, Row& w) {
    unpack_2bit(blk + offsetof(BlockQ2_K, qs), w.q);
    const __m128i s8 = loadu128(blk + offsetof(BlockQ2_K, scales));
    spread_scales(_mm_and_si128(s8, _mm_set1_epi8(0x0F)), w.sc);
    w.mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
    w.d = h2f(blk + offsetof(BlockQ2_K, d));
    w.dmin = h2f(blk + offsetof(BlockQ2_K, dmin));
  }
  static __m512 madd(__m512 acc, const Row& w, const BlockQ8_K* x) {
    __m512i isum = scaled_dot256(w.q, w.sc, x->qs);
    const __m256i summs = _mm256_madd_epi16(loadu256(x->bsums), w.mins);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(x->d * w.d), acc);
    return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(zext(summs)), _mm512_set1_ps(x->d * w.dmin), acc);
  }
};

struct KQ3 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ3_K);
  struct Row {
    __m512i q[4], sc[4];
    __m256i sc_all;
    float d;
  };
  static void load(const char* blk, Row& w) {
    q3_levels(blk, w.q);
    w.sc_all = _mm256_cvtepi8_epi16(q3_scales(blk));
    spread_scales16(w.sc_all, w.sc);
    w.d = h2f(blk + offsetof(BlockQ3_K, d));
  }
  static __m512 madd(__m512 acc, const Row& w, const BlockQ8_K* x) {
    __m512i isum = scaled_dot256(w.q, w.sc, x->qs);
    const __m256i corr = _mm256_madd_epi16(loadu256(x->bsums), w.sc_all);
    isum = _mm512_sub_epi32(isum, zext(_mm256_slli_epi32(corr, 2)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(w.d * x->d), acc);
  }
};

struct KIQ4XS {
  static constexpr size_t kBlockBytes = sizeof(BlockIQ4_XS);
  struct Row {
    __m512i u[4];   // grid value + 128 (unsigned), vector k = values 64k..64k+63
    __m512i sc[4];  // int32 lanes: 0-7 scale of sub-block 2k, 8-15 of 2k+1
    __m256i sc_bsum;  // int16 lane j: scale of sub-block j / 2 (for the +128 offset, with the bsums)
    float d;
  };
  static void load(const char* blk, Row& w) {
    iq4_values_u(blk, w.u);
    const __m128i sc16 = iq4_scales16(blk);
    const __m512i sc32 = _mm512_castsi256_si512(_mm256_cvtepi16_epi32(sc16));
    for (int k = 0; k < 4; ++k) {
      const __m512i sel = _mm512_inserti64x4(_mm512_set1_epi32(2 * k), _mm256_set1_epi32(2 * k + 1), 1);
      w.sc[k] = _mm512_permutexvar_epi32(sel, sc32);
    }
    w.sc_bsum = _mm256_permutexvar_epi16(_mm256_setr_epi16(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
                                         _mm256_castsi128_si256(sc16));
    w.d = h2f(blk + offsetof(BlockIQ4_XS, d));
  }
  static __m512 madd(__m512 acc, const Row& w, const BlockQ8_K* x) {
    // sum (u - 128) * x = dpbusd(u, x) - 128 * sum x; VPDPBUSD does not saturate (4 * 241 * 127 < 2^31).
    __m512i p[4];
    for (int k = 0; k < 4; ++k) p[k] = _mm512_mullo_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w.u[k], loadu512(x->qs + 64 * k)), w.sc[k]);
    __m512i isum = _mm512_add_epi32(_mm512_add_epi32(p[0], p[1]), _mm512_add_epi32(p[2], p[3]));
    const __m256i corr = _mm256_madd_epi16(loadu256(x->bsums), w.sc_bsum);
    isum = _mm512_sub_epi32(isum, zext(_mm256_slli_epi32(corr, 7)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(w.d * x->d), acc);
  }
};

template <class K, int R, int T>
void tile(const GemmArgs& a, int64_t r0, int64_t t0) {
  const char* wr[R];
  const char* xr[T];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes;
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes;
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
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
    for (int r = 0; r < R; ++r) a.y[(t0 + t) * a.ldy + r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
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
  constexpr int R = 1, T = 4;
  int64_t r0 = a.row_begin;
  for (; r0 + R <= a.row_end; r0 += R) row_tile<K, R, T>(a, r0);
  for (; r0 < a.row_end; ++r0) row_tile<K, 1, T>(a, r0);
}

// ---- prompt batches: the K-quants' packed VNNI GEMM (kquant_packed_avx512.h) with unsigned values
// and per-block float factors: Q2_K (d sc_j, dmin m_j), Q3_K (levels + 4: d sc_j, 4 d sc_j), IQ4_XS
// (grid + 128: d ls_i, 128 d ls_i).

void store4(const __m512i* v, uint8_t* q) {
  for (int k = 0; k < 4; ++k) _mm512_store_si512(q + 64 * k, v[k]);
}

void prepare_q2_K(const char* row, int64_t b, uint8_t* q) {
  __m512i v[4];
  unpack_2bit(row + b * sizeof(BlockQ2_K) + offsetof(BlockQ2_K, qs), v);
  store4(v, q);
}
void scales_q2_K(const char* row, int64_t b, float* s, float* m) {
  const char* blk = row + b * sizeof(BlockQ2_K);
  const float d = h2f(blk + offsetof(BlockQ2_K, d)), dmin = h2f(blk + offsetof(BlockQ2_K, dmin));
  const uint8_t* sc = reinterpret_cast<const uint8_t*>(blk + offsetof(BlockQ2_K, scales));
  for (int j = 0; j < 16; ++j) s[j] = d * static_cast<float>(sc[j] & 0xF), m[j] = dmin * static_cast<float>(sc[j] >> 4);
}

void prepare_q3_K(const char* row, int64_t b, uint8_t* q) {
  __m512i v[4];
  q3_levels(row + b * sizeof(BlockQ3_K), v);
  store4(v, q);
}
void scales_q3_K(const char* row, int64_t b, float* s, float* m) {
  const char* blk = row + b * sizeof(BlockQ3_K);
  const float d = h2f(blk + offsetof(BlockQ3_K, d));
  int8_t sc[16];
  q3_K_scales(blk, sc);
  for (int j = 0; j < 16; ++j) s[j] = d * static_cast<float>(sc[j]), m[j] = 4.0f * s[j];
}

void prepare_iq4_xs(const char* row, int64_t b, uint8_t* q) {
  __m512i v[4];
  iq4_values_u(row + b * sizeof(BlockIQ4_XS), v);
  store4(v, q);
}
void scales_iq4_xs(const char* row, int64_t b, float* s, float* m) {
  const char* blk = row + b * sizeof(BlockIQ4_XS);
  const float d = h2f(blk + offsetof(BlockIQ4_XS, d));
  int8_t sc[8];
  iq4_xs_scales(blk, sc);
  for (int j = 0; j < 8; ++j) s[j] = d * static_cast<float>(sc[j]), m[j] = 128.0f * s[j];
}

template <class K, PackedPrepareFn Prepare, PackedScalesFn Scales, int Block>
void gemm_dispatch(const GemmArgs& a) {
  if (a.n_tokens >= packed_gemm_min_tokens_avx512()) gemm_packed_external_avx512(a, Block, Prepare, Scales);
  else gemm<K>(a);
}

}  // namespace

void set_lowbit_kernels_avx512(MatmulKernels& k) {
  k.gemm_q2_K = gemm_dispatch<KQ2, prepare_q2_K, scales_q2_K, 16>;
  k.gemm_q3_K = gemm_dispatch<KQ3, prepare_q3_K, scales_q3_K, 16>;
  k.gemm_iq4_xs = gemm_dispatch<KIQ4XS, prepare_iq4_xs, scales_iq4_xs, 32>;
}

}  // namespace kestrel::kernels
