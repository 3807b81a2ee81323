// AVX-512 (F+BW+VL+VNNI) K-quant kernels: Q4_K, Q5_K, Q6_K weights x Q8_K activations, and the Q8_K
// activation converter. The twins are kernels/scalar/matmul_kquants_scalar.cpp.
//
// Per super-block (256 values) a weight row is "prepared" once into registers and reused by up to 4
// tokens:
//   q[c]  c = 0..3: 64 unsigned values (0..15 / 0..31 / 0..63) in natural order. A 32-byte chunk of
//         Q4_K/Q5_K nibbles holds values 64c..64c+31 (low) and 64c+32..64c+63 (high): broadcast to both
//         256-bit halves, VPSRLVW by [0 | 4] and mask -> natural order with 3 instructions. The Q5_K
//         fifth bit and the Q6_K high 2 bits are moved into place the same way from a broadcast qh.
//   s[c]  the sub-block scales as int16 lanes matching VPMADDUBSW's output: VPMADDUBSW (u8 x s8 ->
//         pairs of s16, no saturation: |pair| <= 2 * 63 * 127) then VPDPWSSD with s[c] multiplies by
//         the scale and adds into 16 int32 lanes, so a super-block's scaled integer sum is 2
//         instructions per 64 values per token.
//   sub   16 int16 factors for the activation block sums (bsums): Q4_K/Q5_K: the mins m_j (each twice,
//         one per bsum of 16); Q6_K: the scales (the -32 offset). VPMADDWD(bsums, sub) gives the
//         correction, scaled by dsub = dmin (K4) or 32 * d (Q6_K).
// Per token: acc += cvt(isum) * (d * dx), accm += cvt(madd(bsums, sub)) * (dsub * dx); the output is
// sum(acc) - sum(accm).
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "kernels/avx512/kquant_packed_avx512.h"
#include "kernels/avx512/kquant_panel_avx512.h"
#include "kernels/avx512/q4k_gemm_x86_order_avx512.h"
#include "kernels/avx512/transpose_avx512.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// The per-super-block helpers must be inlined into the tile loops: a call there costs a VZEROUPPER
// and sends the prepared registers through the stack.
#define KQ_INLINE __attribute__((always_inline)) inline

// h2f (fp16 -> f32 of a stored scale): gemm_tile_avx512.h.

// ---------------------------------------------------------------- Q8_K activation converter

// ggml's nearest_int (adding 1.5 * 2^23 and reading the mantissa) is round-to-nearest-even of the
// float product, which is what VCVTPS2DQ with RNE does for |v| < 2^22; the product is one explicit
// multiply (VCVTPS2DQ cannot be fused with it), so the bits are the reference's.
__m512i nearest_int16(__m512 v) { return _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

void quantize_row_q8_K_avx512(const float* x, void* dst, int64_t n) {
  BlockQ8_K* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    // The signed value of largest magnitude; on equal magnitudes the first one wins (the reference
    // keeps the first strictly larger |x|), so find amax, then the first index holding it.
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)));
    const float amax = _mm512_reduce_max_ps(m);
    if (!amax) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0;
    for (int i = 0; i < 16; ++i) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (hit) {
        max = x[16 * i + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int i = 0; i < 16; ++i) {
      __m512i q = nearest_int16(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * i)));
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * i), _mm512_cvtepi32_epi8(q));
      // bsums[i]: the 16 values of this group.
      y[b].bsums[i] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    y[b].d = 1 / iscale;
  }
}

// ---------------------------------------------------------------- prepared super-blocks

struct Prepared {
  __m512i q[4];
  __m512i s[4];
  __m256i sub;
  float d, dsub;
};


// The 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K/Q5_K block's packed scales[12], in the
// xmm domain (no general-purpose round trip): sc_j = b[j] & 63 and m_j = b[j + 4] & 63 for j < 4;
// sc_j = (b[j + 4] & 15) | (b[j - 4] >> 6) << 4 and m_j = (b[j + 4] >> 4) | (b[j] >> 6) << 4 for j >= 4.
// Reads 16 bytes (the 4 after scales[12] are the block's first quants, unused).
KQ_INLINE __m128i k4_scales_mins(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const char z = static_cast<char>(0x80);
  const __m128i lo6 = _mm_and_si128(v, _mm_set1_epi8(0x3F));
  const __m128i hi2 = _mm_and_si128(_mm_srli_epi16(v, 2), _mm_set1_epi8(0x30));   // (b >> 6) << 4
  const __m128i nl = _mm_and_si128(v, _mm_set1_epi8(0x0F));
  const __m128i nh = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
  const __m128i a = _mm_shuffle_epi8(lo6, _mm_setr_epi8(0, 1, 2, 3, z, z, z, z, 4, 5, 6, 7, z, z, z, z));
  const __m128i b = _mm_shuffle_epi8(hi2, _mm_setr_epi8(z, z, z, z, 0, 1, 2, 3, z, z, z, z, 4, 5, 6, 7));
  const __m128i c = _mm_shuffle_epi8(nl, _mm_setr_epi8(z, z, z, z, 8, 9, 10, 11, z, z, z, z, z, z, z, z));
  const __m128i d = _mm_shuffle_epi8(nh, _mm_setr_epi8(z, z, z, z, z, z, z, z, z, z, z, z, 8, 9, 10, 11));
  return _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d));
}

// int16 scale vector for a zmm of values whose lower 256 bits belong to sub-block j0 and upper 256
// bits to j1: VPSHUFB of the 16 scale/min bytes (broadcast to every lane) with zero high bytes.
KQ_INLINE __m512i k4_scale_vector(__m512i sm4, int j0, int j1) {
  const char a = static_cast<char>(j0), b = static_cast<char>(j1), z = static_cast<char>(0x80);
  const __m512i ctl = _mm512_set_epi8(z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b, z, b,
                                      z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a, z, a);
  return _mm512_shuffle_epi8(sm4, ctl);
}

// Scale vectors for q[c] whose halves are sub-blocks pairs[c][0] | pairs[c][1]; mins (each twice,
// one per bsum of 16) as 16 int16.
KQ_INLINE void k4_scales(const uint8_t* packed, const int (&pairs)[4][2], Prepared* p) {
  const __m128i sm = k4_scales_mins(packed);
  const __m512i sm4 = _mm512_broadcast_i32x4(sm);
  for (int c = 0; c < 4; ++c) p->s[c] = k4_scale_vector(sm4, pairs[c][0], pairs[c][1]);
  const char z = static_cast<char>(0x80);
  const __m256i dup = _mm256_setr_epi8(8, z, 8, z, 9, z, 9, z, 10, z, 10, z, 11, z, 11, z,
                                       12, z, 12, z, 13, z, 13, z, 14, z, 14, z, 15, z, 15, z);
  p->sub = _mm256_shuffle_epi8(_mm512_castsi512_si256(sm4), dup);
}
constexpr int kNaturalPairs[4][2] = {{0, 1}, {2, 3}, {4, 5}, {6, 7}};
// The decode order (see prepare_q4_K_decode): q[0] = [sub-block 0 | 2], q[1] = [1 | 3], ...
constexpr int kDecodePairs[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};

// Broadcast 32 bytes of nibbles, low nibbles to the lower half and high nibbles to the upper half.
KQ_INLINE __m512i nibbles64(const uint8_t* q) {
  const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
  const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  return _mm512_and_si512(_mm512_srlv_epi16(v, shift), _mm512_set1_epi8(0x0F));
}

KQ_INLINE void prepare_q4_K(const char* row, int64_t b, Prepared* p) {
  const BlockQ4_K* blk = reinterpret_cast<const BlockQ4_K*>(row) + b;
  for (int c = 0; c < 4; ++c) p->q[c] = nibbles64(blk->qs + 32 * c);
  k4_scales(blk->scales, kNaturalPairs, p);
  p->d = h2f(&blk->d);
  p->dsub = h2f(&blk->dmin);
}

// Shifts per 16-bit lane, [lower half | upper half]; negative = right.
KQ_INLINE __m512i shift_halves(__m512i v, int lo, int hi) {
  if (lo >= 0 && hi >= 0)
    return _mm512_sllv_epi16(v, _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(lo)), _mm256_set1_epi16(static_cast<short>(hi)), 1));
  return _mm512_srlv_epi16(v, _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(-lo)), _mm256_set1_epi16(static_cast<short>(-hi)), 1));
}

KQ_INLINE void prepare_q5_K(const char* row, int64_t b, Prepared* p) {
  const BlockQ5_K* blk = reinterpret_cast<const BlockQ5_K*>(row) + b;
  const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh)));
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  // Chunk c's values take bit 2c (lower half) and 2c + 1 (upper half) of qh: move them to bit 4.
  const __m512i h[4] = {shift_halves(qh, 4, 3), shift_halves(qh, 2, 1), shift_halves(qh, 0, -1), shift_halves(qh, -2, -3)};
  for (int c = 0; c < 4; ++c) p->q[c] = _mm512_ternarylogic_epi32(nibbles64(blk->qs + 32 * c), h[c], bit4, 0xF8);  // a | (b & c)
  k4_scales(blk->scales, kNaturalPairs, p);
  p->d = h2f(&blk->d);
  p->dsub = h2f(&blk->dmin);
}

// Decode order for Q4_K/Q5_K: two full 64-byte loads of nibbles, low and high nibbles split in place:
// q[0] = [values 0-31 | 64-95], q[1] = [32-63 | 96-127], q[2] = [128-159 | 192-223],
// q[3] = [160-191 | 224-255]. The activations are permuted to match once per call (decode_x), which
// saves the broadcast and variable shift per 64 values of the natural order.
KQ_INLINE void k4_decode_nibbles(const uint8_t* qs, Prepared* p) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i lo = _mm512_loadu_si512(qs), hi = _mm512_loadu_si512(qs + 64);
  p->q[0] = _mm512_and_si512(lo, m4);
  p->q[1] = _mm512_and_si512(_mm512_srli_epi16(lo, 4), m4);
  p->q[2] = _mm512_and_si512(hi, m4);
  p->q[3] = _mm512_and_si512(_mm512_srli_epi16(hi, 4), m4);
}

KQ_INLINE void prepare_q4_K_decode(const char* row, int64_t b, Prepared* p) {
  const BlockQ4_K* blk = reinterpret_cast<const BlockQ4_K*>(row) + b;
  k4_decode_nibbles(blk->qs, p);
  k4_scales(blk->scales, kDecodePairs, p);
  p->d = h2f(&blk->d);
  p->dsub = h2f(&blk->dmin);
}

KQ_INLINE void prepare_q5_K_decode(const char* row, int64_t b, Prepared* p) {
  const BlockQ5_K* blk = reinterpret_cast<const BlockQ5_K*>(row) + b;
  k4_decode_nibbles(blk->qs, p);
  const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh)));
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  // q[c]'s halves take bits (0|2), (1|3), (4|6), (5|7) of qh: move them to bit 4.
  const __m512i h[4] = {shift_halves(qh, 4, 2), shift_halves(qh, 3, 1), shift_halves(qh, 0, -2), shift_halves(qh, -1, -3)};
  for (int c = 0; c < 4; ++c) p->q[c] = _mm512_ternarylogic_epi32(p->q[c], h[c], bit4, 0xF8);  // a | (b & c)
  k4_scales(blk->scales, kDecodePairs, p);
  p->d = h2f(&blk->d);
  p->dsub = h2f(&blk->dmin);
}

KQ_INLINE void prepare_q6_K(const char* row, int64_t b, Prepared* p) {
  const BlockQ6_K* blk = reinterpret_cast<const BlockQ6_K*>(row) + b;
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    // ql[64h..64h+63]: low nibbles are values 128h + 0..63 in order, high nibbles 128h + 64..127.
    const __m512i l = _mm512_loadu_si512(blk->ql + 64 * h);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * h)));
    const __m512i hi_a = _mm512_and_si512(shift_halves(qh, 4, 2), m30);    // bits 0-1 | 2-3 -> 4-5
    const __m512i hi_b = _mm512_and_si512(shift_halves(qh, 0, -2), m30);   // bits 4-5 | 6-7 -> 4-5
    p->q[2 * h] = _mm512_ternarylogic_epi32(l, m4, hi_a, 0xEA);             // (a & b) | c
    p->q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), m4, hi_b, 0xEA);
  }
  // Sub-block i (16 values = 8 int16 = one 128-bit lane of VPMADDUBSW output): chunk c lane k is
  // sub-block 4c + k. Scales are signed: widen to int16 once, then spread with a permute.
  const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales)));
  const __m512i sc = _mm512_castsi256_si512(sc16);
  for (int c = 0; c < 4; ++c) {
    const __m512i idx = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(static_cast<short>(4 * c))),
                                                       _mm_set1_epi16(static_cast<short>(4 * c + 1)), 1)),
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(static_cast<short>(4 * c + 2))),
                                _mm_set1_epi16(static_cast<short>(4 * c + 3)), 1),
        1);
    p->s[c] = _mm512_permutexvar_epi16(idx, sc);
  }
  p->sub = sc16;
  p->d = h2f(&blk->d);
  p->dsub = 32.0f * p->d;
}

// ---------------------------------------------------------------- tiles

using PrepareFn = void (*)(const char*, int64_t, Prepared*);

// One weight row against T tokens (1..4).
// Activations of the job's tokens with each super-block's 256 values in the Q4_K/Q5_K decode order
// ([0-31, 64-95, 32-63, 96-127, 128-159, 192-223, 160-191, 224-255]), 256 bytes per super-block;
// built once per call and thread (GemmArgs::call_id).
thread_local AlignedBuffer t_xperm;
struct XpermKey {
  uint64_t call_id = 0;
  const void* x = nullptr;
  int64_t n_tokens = 0, nb = 0;
};
thread_local XpermKey t_xperm_key;

const uint8_t* decode_x(const GemmArgs& a) {
  const int64_t nb = a.n_in / kQK_K;
  uint8_t* out = static_cast<uint8_t*>(t_xperm.get(static_cast<size_t>(nb * a.n_tokens) * kQK_K));
  XpermKey& k = t_xperm_key;
  if (a.call_id != 0 && a.call_id == k.call_id && a.x == k.x && a.n_tokens == k.n_tokens && nb == k.nb) return out;
  static constexpr int kOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};  // source 32-value group of each output group
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + t * a.x_row_bytes);
    for (int64_t b = 0; b < nb; ++b)
      for (int g = 0; g < 8; ++g)
        std::memcpy(out + (t * nb + b) * kQK_K + 32 * g, x[b].qs + 32 * kOrder[g], 32);
  }
  k = XpermKey{a.call_id, a.x, a.n_tokens, nb};
  return out;
}

template <PrepareFn Prepare, bool kIntOffset, int64_t kBlockBytes, bool kPermutedX, int T>
void row_tile(const GemmArgs& a, int64_t r, int64_t t0, const uint8_t* xperm) {
  const char* w = static_cast<const char*>(a.w) + r * a.w_row_bytes;
  const BlockQ8_K* x[T];
  for (int t = 0; t < T; ++t) x[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes);
  __m512 acc[T];
  __m256 accm[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps(), accm[t] = _mm256_setzero_ps();
  const int64_t nb = a.n_in / kQK_K;
  for (int64_t b = 0; b < nb; ++b) {
    // The next row's bytes at this position: the hardware prefetchers lose track of row switches.
    const char* next = w + a.w_row_bytes + b * kBlockBytes;
    for (int64_t off = 0; off < kBlockBytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
    Prepared p;
    Prepare(w, b, &p);
    for (int t = 0; t < T; ++t) {
      const BlockQ8_K& xb = x[t][b];
      __m512i isum = _mm512_setzero_si512();
      const int8_t* xq_base = kPermutedX ? reinterpret_cast<const int8_t*>(xperm + ((t0 + t) * nb + b) * kQK_K) : xb.qs;
      for (int c = 0; c < 4; ++c) {
        const __m512i xq = _mm512_loadu_si512(xq_base + 64 * c);
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(p.q[c], xq), p.s[c]);
      }
      const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums)), p.sub);
      if constexpr (kIntOffset) {
        // Q6_K: the -32 offset in integers (exact): the two terms are ~30x the result, so combining
        // them in float would lose ~5 bits.
        isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
      } else {
        accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr), _mm256_set1_ps(p.dsub * xb.d), accm[t]);
      }
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(p.d * xb.d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    const __m256 m = accm[t];
    __m128 m4 = _mm_add_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_add_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_add_ss(m4, _mm_movehdup_ps(m4));
    a.y[(t0 + t) * a.ldy + r] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(m4);
  }
}

// ---------------------------------------------------------------- prompt batches (kquant_panel_avx512.h)

// Stores the 16x16 dword transpose of rows in[0..15]: column k (dword k of every row) at out + 64 k.
void transpose16(const __m512i in[16], uint8_t* out) {
  __m512i t[16];
  transpose16x16_epi32(in, t);
  for (int k = 0; k < 16; ++k) _mm512_store_si512(out + 64 * k, t[k]);
}

// A panel from ggml blocks: each row's super-block prepared (natural order), 16 rows transposed;
// row_tail(r, row, b, p, tail) writes panel row r's part of super-block b's tail (tail = the bytes after
// the weights; row == nullptr and p == nullptr for the zero rows past `rows`).
template <int Block, PrepareFn Prepare, class RowTail>
void pack_panel_rows(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel, RowTail row_tail) {
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* ps = panel + b * sb_bytes(Block);
    for (int g = 0; g < 2; ++g) {
      __m512i v[4][16];  // [dword block m][row]
      for (int l = 0; l < 16; ++l) {
        const int r = 16 * g + l;
        if (r < rows) {
          Prepared p;
          const char* row = static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes;
          Prepare(row, b, &p);
          for (int q = 0; q < 4; ++q) v[q][l] = p.q[q];
          row_tail(r, row, b, &p, ps + kSbWeightBytes);
        } else {
          for (int q = 0; q < 4; ++q) v[q][l] = _mm512_setzero_si512();
          row_tail(r, nullptr, b, nullptr, ps + kSbWeightBytes);
        }
      }
      for (int q = 0; q < 4; ++q) transpose16(v[q], ps + (g * 64 + 16 * q) * 64);
    }
  }
}

// The tail of gemm_packed: per block j the float factors scales(row, b, p, s, m) gives, [j][row].
template <int Block, PrepareFn Prepare, class Scales>
void pack_panel(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel, Scales scales) {
  constexpr int nblk = kQK_K / Block;
  pack_panel_rows<Block, Prepare>(a, r0, rows, nb, panel, [&](int r, const char* row, int64_t b, const Prepared* p, uint8_t* tail) {
    float s[nblk], m[nblk];
    if (row) scales(row, b, *p, s, m);
    else
      for (int j = 0; j < nblk; ++j) s[j] = m[j] = 0.0f;
    float* dsc = reinterpret_cast<float*>(tail);
    float* dm = dsc + nblk * kPanelRows;
    for (int j = 0; j < nblk; ++j) dsc[j * kPanelRows + r] = s[j], dm[j * kPanelRows + r] = m[j];
  });
}

// The tail of gemm_q4_K_x86_order (q4k_gemm_x86_order_avx512.h) from a Q4_K block.
void q4_K_x86_order_tail(int r, const char* row, int64_t b, const Prepared* p, uint8_t* tail) {
  uint8_t sc[8] = {}, m[8] = {};
  if (row) unpack_scales_mins_k4(reinterpret_cast<const BlockQ4_K*>(row)[b].scales, sc, m);
  uint8_t* t = tail + (r / 16) * kQ4TailGroup;
  const int l = r % 16;
  for (int j = 0; j < 8; ++j) reinterpret_cast<int32_t*>(t + kQ4TailSc)[16 * j + l] = sc[j];
  for (int q = 0; q < 4; ++q) reinterpret_cast<int32_t*>(t + kQ4TailMp)[16 * q + l] = m[2 * q] | m[2 * q + 1] << 16;
  reinterpret_cast<float*>(t + kQ4TailD)[l] = p ? p->d : 0.0f;
  reinterpret_cast<float*>(t + kQ4TailDmin)[l] = p ? p->dsub : 0.0f;
}

// The prompt GEMM on ggml blocks: each job packs its panels with pack_panel.
template <int Block, PrepareFn Prepare, bool kChainOffset, class Scales>
void gemm_packed_ggml(const GemmArgs& a, Scales scales) {
  gemm_packed<Block, kChainOffset>(a, [&](int64_t r0, int rows, int64_t nb, uint8_t* panel) {
    pack_panel<Block, Prepare>(a, r0, rows, nb, panel, scales);
  });
}

void k4_block_scales(const uint8_t* packed, float d, float dmin, float* s, float* m) {
  uint8_t sc[8], mn[8];
  unpack_scales_mins_k4(packed, sc, mn);
  for (int j = 0; j < 8; ++j) s[j] = d * sc[j], m[j] = dmin * mn[j];
}




template <PrepareFn Prepare, int64_t kBlockBytes, bool kIntOffset, bool kPermutedX>
void gemm_decode(const GemmArgs& a) {
  const uint8_t* xperm = kPermutedX ? decode_x(a) : nullptr;
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += 4) {
    const int64_t nt = a.n_tokens - t0 < 4 ? a.n_tokens - t0 : 4;
    for (int64_t r = a.row_begin; r < a.row_end; ++r) {
      switch (nt) {
        case 4: row_tile<Prepare, kIntOffset, kBlockBytes, kPermutedX, 4>(a, r, t0, xperm); break;
        case 3: row_tile<Prepare, kIntOffset, kBlockBytes, kPermutedX, 3>(a, r, t0, xperm); break;
        case 2: row_tile<Prepare, kIntOffset, kBlockBytes, kPermutedX, 2>(a, r, t0, xperm); break;
        default: row_tile<Prepare, kIntOffset, kBlockBytes, kPermutedX, 1>(a, r, t0, xperm); break;
      }
    }
  }
}

void gemm_q4_K(const GemmArgs& a) {
  if (a.n_tokens < kPackedMinTokens) return gemm_decode<prepare_q4_K_decode, sizeof(BlockQ4_K), false, true>(a);
  if (!batch_uses_amx(a))  // llama.cpp's order (kernels/kquant_x86_order.h); else gemm_packed's AMX tiles
    return gemm_q4_K_x86_order(a, [&](int64_t r0, int rows, int64_t nb, uint8_t* panel) {
      pack_panel_rows<32, prepare_q4_K>(a, r0, rows, nb, panel, q4_K_x86_order_tail);
    });
  gemm_packed_ggml<32, prepare_q4_K, false>(a, [](const char* row, int64_t b, const Prepared& p, float* s, float* m) {
    k4_block_scales(reinterpret_cast<const BlockQ4_K*>(row)[b].scales, p.d, p.dsub, s, m);
  });
}
void gemm_q5_K(const GemmArgs& a) {
  if (a.n_tokens < kPackedMinTokens) return gemm_decode<prepare_q5_K_decode, sizeof(BlockQ5_K), false, true>(a);
  gemm_packed_ggml<32, prepare_q5_K, false>(a, [](const char* row, int64_t b, const Prepared& p, float* s, float* m) {
    k4_block_scales(reinterpret_cast<const BlockQ5_K*>(row)[b].scales, p.d, p.dsub, s, m);
  });
}
void gemm_q6_K(const GemmArgs& a) {
  if (a.n_tokens < kPackedMinTokens) return gemm_decode<prepare_q6_K, sizeof(BlockQ6_K), true, false>(a);
  gemm_packed_ggml<16, prepare_q6_K, true>(a, [](const char* row, int64_t b, const Prepared& p, float* s, float* m) {
    const int8_t* sc = reinterpret_cast<const BlockQ6_K*>(row)[b].scales;
    for (int j = 0; j < 16; ++j) s[j] = p.d * sc[j], m[j] = p.dsub * sc[j];
  });
}

// Adapter for gemm_packed_external_avx512: the preparer is a run-time pointer (kept per thread, each
// job runs on one thread), read back from a 256-byte buffer.
thread_local PackedPrepareFn t_external_prepare = nullptr;
void prepare_external(const char* row, int64_t b, Prepared* p) {
  alignas(64) uint8_t q[kQK_K];
  t_external_prepare(row, b, q);
  for (int c = 0; c < 4; ++c) p->q[c] = _mm512_load_si512(q + 64 * c);
}

}  // namespace

int64_t packed_gemm_min_tokens_avx512() { return kPackedMinTokens; }

void gemm_packed_external_avx512(const GemmArgs& a, int block, PackedPrepareFn prepare, PackedScalesFn scales) {
  t_external_prepare = prepare;
  auto sc = [scales](const char* row, int64_t b, const Prepared&, float* s, float* m) { scales(row, b, s, m); };
  if (block == 16) gemm_packed_ggml<16, prepare_external, false>(a, sc);
  else gemm_packed_ggml<32, prepare_external, false>(a, sc);
}

void set_kquant_kernels_avx512(MatmulKernels& k) {
  k.quantize_row_q8_K = quantize_row_q8_K_avx512;
  k.gemm_q4_K = gemm_q4_K;
  k.gemm_q5_K = gemm_q5_K;
  k.gemm_q6_K = gemm_q6_K;
}

}  // namespace kestrel::kernels
