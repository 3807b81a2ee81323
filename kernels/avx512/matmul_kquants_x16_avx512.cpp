// AVX-512 VNNI kernels on the x16 layouts of Q4_K and Q6_K (kernels/kquant_x16.h); twins:
// gemm_q4_K_x16_scalar / gemm_q6_K_x16_scalar.
//
// Decode (n_tokens < kPackedMinTokens; Q6_K: every n_tokens): one zmm lane per row of a 16-row group,
// outer-product form. Per 64-byte quant vector, VPDPBUSD of its (masked) bytes against 4 activation
// bytes broadcast straight from the Q8_K row (embedded broadcast, a load-port uop) advances 16 rows'
// sums (Q6_K: VPMADDUBSW + VPDPWSSD, in llama.cpp's order, see q6_K_group); per sub-block an integer
// multiply-add applies the scale (Q4_K, in llama.cpp's order, see q4_K_group). Uops per 16 rows x 256
// values, one token (the budget docs/KERNELS.md tracks):
//   Q4_K: 32 loads + 64 AND + 64 VPDPBUSD; per sub-block (8) shift/add of the high-nibble chain,
//         a scale widen and multiply-add; per pair of sub-blocks (4) one VPDPWSSD of the two minimums
//         (an interleave of them, then both products at once: 8 multiplies and adds fewer per super-
//         block, +12% on L2-resident weights on Zen 4); 2 converts, 2 FMA; scales/mins decode 10 ops;
//         ~210 vector uops per 2304 bytes (~13 per row super-block; the ggml-layout kernel needs ~45).
//   Q6_K: 48 loads + per sub-block (16) 3 shifts, 4 AND, 2 ternary-logic (shared by the tile's
//         tokens), per token 4 broadcasts, 4 VPMADDUBSW, 4 VPDPWSSD; per super-block 16 scale-pair
//         widens, 16 shuffles, 8 VPMULLW, per token 8 VPDPWSSD (the -32 term), 8 converts + 8 FMA;
//         ~480 vector uops per 3360 bytes for one token (~30 per row), ~290 of them per extra token.
// Q4_K's high nibble is used in place (v & 0xF0 = 16 q): its own VPDPBUSD chain, shifted right by 4
// once per sub-block (exact: the chain is a multiple of 16).
//
// Prompt batches take the shared packed GEMM (kquant_panel_avx512.h) with panels cut from this layout:
// a quant vector masked / shifted is already a panel dword column (two per vector), and the scales come
// out of the same vector decode, so packing is ~3 ops per 64 panel bytes instead of a per-row prepare
// and 16x16 transposes. Q4_K without AMX takes llama.cpp's order (q4k_gemm_x86_order_avx512.h) on the
// same panel weights. The panel equals the one packed from ggml blocks, byte for byte, so prompt
// outputs are identical with and without repacking.
// Q6_K prompt batches run the decode tiles, 4 tokens at a time per 16-row group (the group's tiles
// stay in L2): ggml's order at every batch size, as llama.cpp's AVX-512 builds; with AMX on (llama.cpp
// then has its own Q6_K kernels) batches of >= kAmxMinTokens take the panel GEMM like Q4_K's, panels
// cut from the layout.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/kquant_panel_avx512.h"
#include "kernels/avx512/q4k_gemm_x86_order_avx512.h"
#include "kernels/decode_streams.h"
#include "kernels/kquant_x16.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"

namespace kestrel::kernels {
namespace {

#define X16_INLINE __attribute__((always_inline)) inline

constexpr int kTileTokens = 4;

// Q4_K's software prefetch distance (bytes ahead in each group's sequential stream) per CPU vendor,
// decode_stream_prefetch (isa.cpp); the hint and the groups read side by side are taken per job in
// gemm_q4_K_x16_avx512, since tests change the stream count. With the hardware prefetchers alone the Q6_K kernel read its (L3-resident) weights at half the rate
// of the ggml-layout kernel; for Q4_K 8 KiB ahead measured best of 2-16 KiB on Zen 4 (bench_matmul
// --decode --in-cache, 1 thread: 1.5 -> 1.2 ms CPU, loaded machine), 2 KiB with 2 groups on the Xeon.
const StreamPrefetch& q4_K_pacing() {
  static const StreamPrefetch pf = decode_stream_prefetch(StreamLayout::kQ4KX16);
  return pf;
}
// Q6_K's tiles are read in two passes (even sub-blocks, then odd), not front to back; on Zen 4 its
// T0 prefetches 8 KiB ahead left the kernel at 14.8-15.9 GB/s from DRAM (2048x128256, 1 thread, 43.6
// in L3) and the ggml-row kernel at ~20: into L2 (T1) 32 KiB ahead it reads 18.3-21.5 (16 KiB: 18.2-19.4;
// T0 16 KiB / 4 KiB no better; Zen 4, 2026-12-02; Q4_K showed no clear change). On the Xeon (2026-12-04)
// T1 32 KiB stayed best of T1 4-64 KiB and T0 2-4 KiB (docs/KERNELS.md "Issue #13 on the Xeon").
constexpr int64_t kAheadQ6 = 32768;
// Line `line` of the tile `ahead` bytes ahead, into L1 or (kL2) L2 (Q4_K: per CPU vendor, decode_stream_prefetch; Q6_K: L2),
// issued after `dep` (a vector just loaded) exists: in a fully unrolled tile loop GCC otherwise hoists
// all of a tile's prefetches into one burst at its start (Q4_K x16 from DRAM: 80-85% of the read beside
// it with the burst, see docs/KERNELS.md). The empty asm only makes the address depend on dep; it emits
// nothing. Prefetches never fault, so addresses past the tensor's end are harmless (and kept as integers).
template <bool kL2>
X16_INLINE void prefetch_after(const uint8_t* tile, int64_t ahead, int line, const __m512i& dep) {
  uintptr_t p = reinterpret_cast<uintptr_t>(tile) + ahead + 64 * line;
  asm("" : "+r"(p) : "v"(dep));
  _mm_prefetch(reinterpret_cast<const char*>(p), kL2 ? _MM_HINT_T1 : _MM_HINT_T0);
}

X16_INLINE __m512i bcast32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The 8 scales and 8 mins of 16 rows from the transposed packed bytes (tile + 2048): sc[0] holds
// sc_0..sc_3 ([j][row] bytes), sc[1] sc_4..sc_7, m[0], m[1] likewise (layout: quant_k.h).
struct K4Scales {
  __m512i sc[2], m[2];
};
X16_INLINE K4Scales k4_scales16(const uint8_t* tile) {
  const __m512i z0 = _mm512_load_si512(tile + 2048), z1 = _mm512_load_si512(tile + 2112), z2 = _mm512_load_si512(tile + 2176);
  const __m512i m63 = _mm512_set1_epi8(0x3F), m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  K4Scales s;
  s.sc[0] = _mm512_and_si512(z0, m63);
  s.m[0] = _mm512_and_si512(z1, m63);
  // (c ? a : b) with c = 0x0F: low 4 bits from z2, bits 4-5 from (z0 >> 6) << 4 (bits 6-7 are 0 there).
  s.sc[1] = _mm512_ternarylogic_epi32(z2, _mm512_and_si512(_mm512_srli_epi16(z0, 2), m30), m0f, 0xE4);
  s.m[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(z2, 4), _mm512_and_si512(_mm512_srli_epi16(z1, 2), m30), m0f, 0xE4);
  return s;
}
// Sub-block j (0..7) of K4Scales::sc or ::m as 16 int32 (j is a constant once the loops unroll).
X16_INLINE __m512i k4_lane_i(const __m512i (&v)[2], int j) {
  const __m512i h = v[j >> 2];
  __m128i b;
  switch (j & 3) {
    case 0: b = _mm512_castsi512_si128(h); break;
    case 1: b = _mm512_extracti32x4_epi32(h, 1); break;
    case 2: b = _mm512_extracti32x4_epi32(h, 2); break;
    default: b = _mm512_extracti32x4_epi32(h, 3); break;
  }
  return _mm512_cvtepu8_epi32(b);
}
// Minimums 2i and 2i+1 (i = 0..3) of K4Scales::m as 16 dwords of two int16 (m_2i, m_2i+1): VPDPWSSD
// against a (bsum_2i, bsum_2i+1) pair adds both products of a pair of sub-blocks in one instruction.
X16_INLINE __m512i k4_min_pair(const __m512i (&m)[2], int i) {
  const __m512i h = m[i >> 1];
  const __m256i bytes = (i & 1) ? _mm512_extracti64x4_epi64(h, 1) : _mm512_castsi512_si256(h);
  // words r = m_2i of row r, 16 + r = m_2i+1 of row r -> dword r = (word r, word 16 + r)
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                               23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, _mm512_cvtepu8_epi16(bytes));
}
// The same as 16 floats.
X16_INLINE __m512 k4_lane(const __m512i (&v)[2], int j) { return _mm512_cvtepi32_ps(k4_lane_i(v, j)); }

X16_INLINE __m512 f16x16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p))); }

// The 6-bit values of Q6_K sub-block j of 16 rows: q[s] = dword k = 4j + s of every row (layout:
// kquant_x16.h). Dword 3 is spread over the top 2 bits of the other three: (c ? a : b) selects bits
// 0-1 from a >> 6, 2-3 from b >> 4, 4-7 from c >> 2 (the 16-bit shifts pull the neighbour byte's bits
// into bits 6-7 only, cleared by the AND).
X16_INLINE void q6_values(const uint8_t* tile, int j, __m512i q[4]) {
  const __m512i m63 = _mm512_set1_epi8(0x3F);
  const __m512i a = _mm512_load_si512(tile + 192 * j), b = _mm512_load_si512(tile + 192 * j + 64), c = _mm512_load_si512(tile + 192 * j + 128);
  q[0] = _mm512_and_si512(a, m63), q[1] = _mm512_and_si512(b, m63), q[2] = _mm512_and_si512(c, m63);
  const __m512i lo4 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(a, 6), _mm512_srli_epi16(b, 4), _mm512_set1_epi8(0x03), 0xE4);
  q[3] = _mm512_and_si512(_mm512_ternarylogic_epi32(lo4, _mm512_srli_epi16(c, 2), _mm512_set1_epi8(0x0F), 0xE4), m63);
}

// ---------------------------------------------------------------- per-job activation tables

thread_local AlignedBuffer t_x16_tables;

// Per token t of the job and super-block b: dx[t * nb + b]; Q4_K: per pair i of 32-value sub-blocks
// their bsums as two int16 (|bsum| <= 32 * 128), k[(t * nb + b) * 4 + i] = bsum_2i | bsum_2i+1 << 16,
// VPDPWSSD's word pair (Q6_K reads its bsum pairs from the Q8_K rows).
struct X16Tables {
  const float* dx;
  const void* k;
};

template <bool kQ6>
X16Tables x16_tables(const GemmArgs& a, int64_t nb) {
  constexpr int per = kQ6 ? 0 : 4;
  const size_t n = static_cast<size_t>(nb * a.n_tokens);
  float* dx = static_cast<float*>(t_x16_tables.get(n * (1 + per) * sizeof(float)));
  float* kf = dx + n;
  uint32_t* ki = reinterpret_cast<uint32_t*>(kf);
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + t * a.x_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t i = t * nb + b;
      dx[i] = x[b].d;
      for (int p = 0; p < per; ++p) {
        const int j = 2 * p;
        const auto lo = static_cast<uint16_t>(x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
        const auto hi = static_cast<uint16_t>(x[b].bsums[2 * j + 2] + x[b].bsums[2 * j + 3]);
        ki[i * per + p] = lo | static_cast<uint32_t>(hi) << 16;
      }
    }
  }
  return {dx, kf};
}

// ---------------------------------------------------------------- decode tiles (16 rows x T tokens)

// S groups side by side (S > 1 only with T = 1: a one-token decode job, each group its own stream
// through memory, see decode_streams.h; every group's sums in the same order as with S = 1).
template <int S, int T, bool kL2>
void q4_K_groups(const GemmArgs& a, const uint8_t* const* groups, int64_t nb, int64_t t0, const X16Tables& tab, float* const* ys,
                 const __mmask16* masks) {
  static_assert(S == 1 || T == 1, "side-by-side groups are for one-token jobs");
  const int8_t* xq[T];
  for (int t = 0; t < T; ++t) xq[t] = reinterpret_cast<const int8_t*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes) + offsetof(BlockQ8_K, qs);
  // llama.cpp's order (its x86 builds repack Q4_K to q4_K_8x8 and run ggml_gemm_q4_K_8x8_q8_K on each
  // full group of 4 tokens of a batch, ggml_gemv_q4_K_8x8_q8_K on the n % 4 others): exact integer sums
  // sum_j sc_j * dot_j and sum_j m_j * bsum_j, then one FMA each into a scale and a minimum accumulator,
  // tot = fma(dot, d_w * d_x, tot), totm = fma(mins, dmin_w * d_x, totm), per super-block (gemv) or
  // per pair of sub-blocks (gemm); the output is tot - totm. Full tiles (T = 4) are exactly the batch's
  // groups of 4 (gemm_decode_x16 tiles from token 0), so T = 4 takes gemm's order, T < 4 gemv's.
  constexpr bool kPairs = T == 4;
  const uint32_t* bs = static_cast<const uint32_t*>(tab.k);
  const int64_t ahead = q4_K_pacing().ahead;
  __m512 tot[S][T], totm[S][T];
  for (int g = 0; g < S; ++g)
    for (int t = 0; t < T; ++t) tot[g][t] = totm[g][t] = _mm512_setzero_ps();
  const __m512i m0f = _mm512_set1_epi8(0x0F), mf0 = _mm512_set1_epi8(static_cast<char>(0xF0));
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* tile[S];
    K4Scales s[S];
    __m512 d[S], dmin[S];
    __m512i sb[S][T], mn[S][T];
    for (int g = 0; g < S; ++g) {
      tile[g] = groups[g] + b * kQ4KX16TileBytes;
      s[g] = k4_scales16(tile[g]);
      d[g] = f16x16(tile[g] + 2240), dmin[g] = f16x16(tile[g] + 2272);
      for (int t = 0; t < T; ++t) sb[g][t] = mn[g][t] = _mm512_setzero_si512();
    }
    auto flush = [&](int64_t bb) __attribute__((always_inline)) {  // the FMAs, then the integer sums start again
      for (int t = 0; t < T; ++t) {
        const __m512 dx = _mm512_set1_ps(tab.dx[(t0 + t) * nb + bb]);
        for (int g = 0; g < S; ++g) {
          tot[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb[g][t]), _mm512_mul_ps(d[g], dx), tot[g][t]);
          totm[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mn[g][t]), _mm512_mul_ps(dmin[g], dx), totm[g][t]);
          sb[g][t] = mn[g][t] = _mm512_setzero_si512();
        }
      }
    };
    const int64_t xo = b * static_cast<int64_t>(sizeof(BlockQ8_K));
#pragma GCC unroll 8  // k4_lane's byte-lane choice then folds to constants
    for (int j = 0; j < 8; ++j) {
      for (int g = 0; g < S; ++g) {
        __m512i lo[T], hi[T];
        for (int t = 0; t < T; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
        for (int pp = 0; pp < 4; ++pp) {
          const int p = 4 * j + pp;
          const __m512i v = _mm512_load_si512(tile[g] + 64 * p);
          // The tile's 36 lines: one per quant vector, the 4 scale lines with the first 4.
          prefetch_after<kL2>(tile[g], ahead, p, v);
          if (p < 4) prefetch_after<kL2>(tile[g], ahead, 32 + p, v);
          const __m512i l = _mm512_and_si512(v, m0f), h = _mm512_and_si512(v, mf0);
          for (int t = 0; t < T; ++t) {
            lo[t] = _mm512_dpbusd_epi32(lo[t], l, bcast32(xq[t] + xo + 8 * p));
            hi[t] = _mm512_dpbusd_epi32(hi[t], h, bcast32(xq[t] + xo + 8 * p + 4));
          }
        }
        const __m512i sci = k4_lane_i(s[g].sc, j);
        for (int t = 0; t < T; ++t) {
          const __m512i isum = _mm512_add_epi32(lo[t], _mm512_srai_epi32(hi[t], 4));
          sb[g][t] = _mm512_add_epi32(sb[g][t], _mm512_mullo_epi32(isum, sci));
        }
        if (j & 1) {  // the minimums of sub-blocks j - 1 and j (an exact integer either way)
          const __m512i mp = k4_min_pair(s[g].m, j >> 1);
          for (int t = 0; t < T; ++t)
            mn[g][t] = _mm512_dpwssd_epi32(mn[g][t], mp, _mm512_set1_epi32(static_cast<int32_t>(bs[((t0 + t) * nb + b) * 4 + (j >> 1)])));
        }
      }
      if (kPairs && (j & 1)) flush(b);
    }
    if (!kPairs) flush(b);
  }
  for (int g = 0; g < S; ++g)
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(ys[g] + (t0 + t) * a.ldy, masks[g], _mm512_sub_ps(tot[g][t], totm[g][t]));
}

template <int T, bool kL2>
void q4_K_group(const GemmArgs& a, const uint8_t* group, int64_t nb, int64_t t0, const X16Tables& tab, float* y, __mmask16 mask) {
  q4_K_groups<1, T, kL2>(a, &group, nb, t0, tab, &y, &mask);
}

// Scale pair vector i (0..7) of a Q6_K tile: int16 words (sc_2i, sc_2i+1) of row r in dword r.
X16_INLINE __m512i q6_scale_pairs(const uint8_t* tile, int i) {
  return _mm512_cvtepi8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(tile + 3072 + 32 * i)));
}

template <int T>
void q6_K_group(const GemmArgs& a, const uint8_t* group, int64_t nb, int64_t t0, const X16Tables& tab, float* y, __mmask16 mask) {
  const int8_t* xq[T];
  const int8_t* xs[T];  // the token's bsums (int16, 16 per super-block)
  for (int t = 0; t < T; ++t) {
    const int8_t* x = reinterpret_cast<const int8_t*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes);
    xq[t] = x + offsetof(BlockQ8_K, qs), xs[t] = x + offsetof(BlockQ8_K, bsums);
  }
  const uint8_t* dvec = group + nb * kQ6KX16TileBytes;
  // The d vectors sit after the group's tiles, outside the stream the tile prefetches run ahead in:
  // fetch them all now, or each pair of super-blocks would wait for one of their lines.
  for (int64_t off = 0; off < 32 * nb; off += 64) _mm_prefetch(reinterpret_cast<const char*>(dvec + off), _MM_HINT_T0);
  // llama.cpp's order (ggml_vec_dot_q6_K_q8_K's AVX2 code, which its x86 builds run for Q6_K at every
  // batch size): 8 float lanes per row; per super-block lane i is an exact integer, the elements
  // 4i..4i+3 of every 32 (sub-block j, dword s: lane 4 (j & 1) + s) times their sub-block's scale,
  // minus 32 (bsum_2i sc_2i + bsum_2i+1 sc_2i+1); lane_i = fma(d_x d_w, float(lane), lane_i); the
  // output is hsum_float_8's tree. As ggml: VPMADDUBSW (q, x) gives int16 pairs (|sum| <= 2 * 63 * 128,
  // no saturation) and one VPDPWSSD with (sc_j, sc_j) adds them into the lane; the -32 term is one
  // VPDPWSSD of (-32 sc_2i, -32 sc_2i+1) with the bsum pair (a dword of the Q8_K row), the lane's start.
  // The odd sub-blocks feed lanes 4..7 only, so the even ones run first: 4 integer lanes per token live
  // (no spills at 4 tokens; with the loop not unrolled the lane index must not depend on k).
  constexpr int kPasses = 2, kLanes = 8 / kPasses, kSubs = 16 / kPasses;
  __m512 tot[T][8];
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 8; ++i) tot[t][i] = _mm512_setzero_ps();
  // VPSHUFB indices (per 128-bit lane) repeating word h of each dword: (sc_2i, sc_2i+1) -> (sc_j, sc_j).
  auto dup_word = [](int h) {
    auto w = [h](int k) { const int b0 = 4 * k + 2 * h, b1 = b0 + 1; return b0 | b1 << 8 | b0 << 16 | b1 << 24; };
    return _mm512_set4_epi32(w(3), w(2), w(1), w(0));
  };
  const __m512i dup[2] = {dup_word(0), dup_word(1)};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* tile = group + b * kQ6KX16TileBytes;
    const int64_t xo = b * static_cast<int64_t>(sizeof(BlockQ8_K));
    const __m512 d = f16x16(dvec + 32 * b);
#pragma GCC unroll 2
    for (int h = 0; h < kPasses; ++h) {
      __m512i li[T][kLanes];
      for (int l = 0; l < kLanes; ++l) {
        const __m512i off = _mm512_mullo_epi16(q6_scale_pairs(tile, kLanes * h + l), _mm512_set1_epi16(-32));
        for (int t = 0; t < T; ++t) li[t][l] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), off, bcast32(xs[t] + xo + 4 * (kLanes * h + l)));
      }
      // Not unrolled: unrolled, GCC hoists the tile's prefetches into one burst at its start (1.5x slower
      // from DRAM); with them pinned by volatile asm the unrolled loop ran 85 GB/s on L3-resident weights
      // and 30-31 from DRAM, this loop ~100 and 37-38 (2048x2048 / 4096x14336, 1 thread). Unrolled by 2
      // with prefetch_after it was no faster on the Xeon (2026-12-04).
#pragma GCC unroll 1
      for (int k = 0; k < kSubs; ++k) {
        const int j = 2 * k + h;
        __m512i q[4];
        q6_values(tile, j, q);
        // 4 lines per sub-block: 64 per 52-line tile, the last 12 again in the next tile (cheaper than
        // per-line bounds here, where the loop is not unrolled). Each issued after one of the sub-block's
        // loads (prefetch_after), not before them: on the Xeon (2026-12-04, bench_matmul --decode
        // --repacked, interleaved rounds, medians) 2048x128256 went 12.8-13.3 -> 11.7-12.3 ms at 1 thread
        // and 6.2-6.5 -> 6.0-6.3 at 2; the 1B Q6_K file's tg128 16.1 -> 16.3-16.8 (-t 1), 31.3 -> 31.8-32.0.
        for (int l = 0; l < 4; ++l) prefetch_after<true>(tile, kAheadQ6 + 256 * (kSubs * h + k), l, q[l < 3 ? l : 2]);
        const __m512i scp = _mm512_shuffle_epi8(q6_scale_pairs(tile, j >> 1), dup[j & 1]);
        for (int t = 0; t < T; ++t)
          for (int s = 0; s < 4; ++s) {
            li[t][s] = _mm512_dpwssd_epi32(li[t][s], _mm512_maddubs_epi16(q[s], bcast32(xq[t] + xo + 16 * j + 4 * s)), scp);
          }
      }
      for (int t = 0; t < T; ++t) {
        const __m512 dd = _mm512_mul_ps(_mm512_set1_ps(tab.dx[(t0 + t) * nb + b]), d);
        for (int l = 0; l < kLanes; ++l) tot[t][kLanes * h + l] = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(li[t][l]), tot[t][kLanes * h + l]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    const __m512* l = tot[t];
    const __m512 s0 = _mm512_add_ps(l[4], l[0]), s1 = _mm512_add_ps(l[5], l[1]);
    const __m512 s2 = _mm512_add_ps(l[6], l[2]), s3 = _mm512_add_ps(l[7], l[3]);
    _mm512_mask_storeu_ps(y + (t0 + t) * a.ldy, mask, _mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3)));
  }
}

using GroupFn = void (*)(const GemmArgs&, const uint8_t*, int64_t, int64_t, const X16Tables&, float*, __mmask16);

// No side-by-side groups (gemm_decode_x16's default).
struct OneStream {
  template <int G>
  void operator()(const GemmArgs&, const uint8_t* const*, int64_t, const X16Tables&, float* const*, const __mmask16*) const {}
};

// Rows [row_begin, row_end) x every token, group by group (lanes outside the range masked off). A
// one-token job with S > 1 reads S groups side by side (decode_streams.h order) through
// side.operator()<G>(a, groups, nb, tab, ys, masks), G = S or 1.
template <bool kQ6, GroupFn G1, GroupFn G2, GroupFn G3, GroupFn G4, int S = 1, class Side = OneStream>
void gemm_decode_x16(const GemmArgs& a, size_t group_bytes, Side side = {}) {
  const int64_t nb = a.n_in / kQK_K;
  const X16Tables tab = x16_tables<kQ6>(a, nb);
  const int64_t g_begin = a.row_begin / kX16Rows, g_end = (a.row_end + kX16Rows - 1) / kX16Rows;
  auto group_at = [&](int64_t g, const uint8_t** group, float** y, __mmask16* mask) __attribute__((always_inline)) {
    const int64_t r0 = g * kX16Rows;
    const int lo = static_cast<int>(std::max<int64_t>(a.row_begin - r0, 0));
    const int hi = static_cast<int>(std::min<int64_t>(a.row_end - r0, kX16Rows));
    *mask = static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
    *group = static_cast<const uint8_t*>(a.w) + g * group_bytes;
    *y = a.y + r0;
  };
  if constexpr (S > 1) {
    if (a.n_tokens == 1) {
      stream_rounds<S>(g_end - g_begin, [&]<int G>(const int64_t* idx) {
        const uint8_t* groups[G];
        float* ys[G];
        __mmask16 masks[G];
        for (int k = 0; k < G; ++k) group_at(g_begin + idx[k], &groups[k], &ys[k], &masks[k]);
        side.template operator()<G>(a, groups, nb, tab, ys, masks);
      });
      return;
    }
  }
  for (int64_t g = g_begin; g < g_end; ++g) {
    const uint8_t* group;
    float* y;
    __mmask16 mask;
    group_at(g, &group, &y, &mask);
    int64_t t0 = 0;
    for (; t0 + kTileTokens <= a.n_tokens; t0 += kTileTokens) G4(a, group, nb, t0, tab, y, mask);
    switch (a.n_tokens - t0) {
      case 1: G1(a, group, nb, t0, tab, y, mask); break;
      case 2: G2(a, group, nb, t0, tab, y, mask); break;
      case 3: G3(a, group, nb, t0, tab, y, mask); break;
      default: break;
    }
  }
}

// ---------------------------------------------------------------- prompt panels from the layout

// Super-block panel `ps`, group g (0 or 1): its 64 weight dword vectors zeroed (the group is absent).
X16_INLINE void zero_group_weights(uint8_t* ps, int g) {
  for (int k = 0; k < 64; ++k) _mm512_store_si512(ps + (g * 64 + k) * 64, _mm512_setzero_si512());
}

// Panel rows r0 .. r0 + rows (r0 a multiple of 16) = groups r0 / 16 and r0 / 16 + 1. The tail after
// each super-block's weights: the float dsc/dm of gemm_packed (AMX tiles), or with kX86Order the
// integer scales, min pairs and d/dmin of gemm_q4_K_x86_order (q4k_gemm_x86_order_avx512.h).
template <bool kX86Order>
void pack_panel_q4_K_x16(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel) {
  const size_t gb = q4_K_x16_group_bytes(a.n_in);
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  for (int g = 0; g < 2; ++g) {
    const uint8_t* group = static_cast<const uint8_t*>(a.w) + (r0 / kX16Rows + g) * gb;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* ps = panel + b * sb_bytes(32);
      float* dsc = reinterpret_cast<float*>(ps + kSbWeightBytes) + 16 * g;
      float* dm = dsc + 8 * kPanelRows;
      uint8_t* q4t = ps + kSbWeightBytes + g * kQ4TailGroup;
      if (16 * g >= rows) {  // no second group: zero weights and scales (the VNNI tile reads both groups)
        zero_group_weights(ps, g);
        if constexpr (kX86Order) {
          for (size_t o = 0; o < kQ4TailGroup; o += 64) _mm512_store_si512(q4t + o, _mm512_setzero_si512());
        } else {
          for (int j = 0; j < 8; ++j) _mm512_store_ps(dsc + j * kPanelRows, _mm512_setzero_ps()), _mm512_store_ps(dm + j * kPanelRows, _mm512_setzero_ps());
        }
        continue;
      }
      const uint8_t* tile = group + b * kQ4KX16TileBytes;
      for (int p = 0; p < 32; ++p) {
        const __m512i v = _mm512_load_si512(tile + 64 * p);
        _mm512_store_si512(ps + (g * 64 + 2 * p) * 64, _mm512_and_si512(v, m0f));
        _mm512_store_si512(ps + (g * 64 + 2 * p + 1) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f));
      }
      const K4Scales s = k4_scales16(tile);
      const __m512 d = f16x16(tile + 2240), dmin = f16x16(tile + 2272);
      if constexpr (kX86Order) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) _mm512_store_si512(q4t + kQ4TailSc + 64 * j, k4_lane_i(s.sc, j));
#pragma GCC unroll 4
        for (int p = 0; p < 4; ++p)
          _mm512_store_si512(q4t + kQ4TailMp + 64 * p, _mm512_or_si512(k4_lane_i(s.m, 2 * p), _mm512_slli_epi32(k4_lane_i(s.m, 2 * p + 1), 16)));
        _mm512_store_ps(q4t + kQ4TailD, d);
        _mm512_store_ps(q4t + kQ4TailDmin, dmin);
      } else {
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          _mm512_store_ps(dsc + j * kPanelRows, _mm512_mul_ps(d, k4_lane(s.sc, j)));
          _mm512_store_ps(dm + j * kPanelRows, _mm512_mul_ps(dmin, k4_lane(s.m, j)));
        }
      }
    }
  }
}

// The same for Q6_K (gemm_packed<16, true>: Q6_K's -32 enters as each chain's start, so only dsc is
// read; dm is kept as d * 32 * sc like the ggml-block packer's). Scales are stored in pairs per row
// (int16 word r of pair vector i = (sc_2i, sc_2i+1), kquant_x16.h): sign-extended out of the dword.
void pack_panel_q6_K_x16(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel) {
  const size_t gb = q6_K_x16_group_bytes(a.n_in);
  for (int g = 0; g < 2; ++g) {
    const uint8_t* group = static_cast<const uint8_t*>(a.w) + (r0 / kX16Rows + g) * gb;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* ps = panel + b * sb_bytes(16);
      float* dsc = reinterpret_cast<float*>(ps + kSbWeightBytes) + 16 * g;
      float* dm = dsc + 16 * kPanelRows;
      if (16 * g >= rows) {  // no second group: zero weights and scales (the VNNI tile reads both groups)
        zero_group_weights(ps, g);
        for (int j = 0; j < 16; ++j) _mm512_store_ps(dsc + j * kPanelRows, _mm512_setzero_ps()), _mm512_store_ps(dm + j * kPanelRows, _mm512_setzero_ps());
        continue;
      }
      const uint8_t* tile = group + b * kQ6KX16TileBytes;
      const __m512 d = f16x16(group + nb * kQ6KX16TileBytes + 32 * b);
      const __m512 d32 = _mm512_mul_ps(_mm512_set1_ps(32.0f), d);
#pragma GCC unroll 2
      for (int j = 0; j < 16; ++j) {
        __m512i q[4];
        q6_values(tile, j, q);
        for (int s = 0; s < 4; ++s) _mm512_store_si512(ps + (g * 64 + 4 * j + s) * 64, q[s]);
        const __m512i pair = q6_scale_pairs(tile, j / 2);
        const __m512i sci = (j & 1) ? _mm512_srai_epi32(pair, 16) : _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16);
        const __m512 sc = _mm512_cvtepi32_ps(sci);
        _mm512_store_ps(dsc + j * kPanelRows, _mm512_mul_ps(d, sc));
        _mm512_store_ps(dm + j * kPanelRows, _mm512_mul_ps(d32, sc));
      }
    }
  }
}

// Rows before the first multiple of 16 go through the decode tiles (any n_tokens); the rest by size
// (prompt(a) for the rows from the first multiple of 16 on).
template <bool kQ6, GroupFn G1, GroupFn G2, GroupFn G3, GroupFn G4, class Prompt, int S = 1, class Side = OneStream>
void gemm_x16(const GemmArgs& a0, size_t group_bytes, Prompt prompt, Side side = {}) {
  GemmArgs a = a0;
  const int64_t head_end = std::min<int64_t>(a.row_end, (a.row_begin + kX16Rows - 1) / kX16Rows * kX16Rows);
  if (a.n_tokens < kPackedMinTokens || head_end == a.row_end) return gemm_decode_x16<kQ6, G1, G2, G3, G4, S>(a, group_bytes, side);
  if (a.row_begin < head_end) {
    GemmArgs h = a;
    h.row_end = head_end;
    gemm_decode_x16<kQ6, G1, G2, G3, G4>(h, group_bytes);
    a.row_begin = head_end;
  }
  prompt(a);
}

}  // namespace

namespace {
template <bool kL2, int S>
void gemm_q4_K_x16(const GemmArgs& a) {
  auto prompt = [](const GemmArgs& p) {
    if (batch_uses_amx(p))
      gemm_packed<32, false>(p, [&](int64_t r0, int rows, int64_t nb, uint8_t* panel) { pack_panel_q4_K_x16<false>(p, r0, rows, nb, panel); });
    else
      gemm_q4_K_x86_order(p, [&](int64_t r0, int rows, int64_t nb, uint8_t* panel) { pack_panel_q4_K_x16<true>(p, r0, rows, nb, panel); });
  };
  auto side = []<int G>(const GemmArgs& p, const uint8_t* const* groups, int64_t nb, const X16Tables& tab, float* const* ys,
                        const __mmask16* masks) { q4_K_groups<G, 1, kL2>(p, groups, nb, 0, tab, ys, masks); };
  gemm_x16<false, q4_K_group<1, kL2>, q4_K_group<2, kL2>, q4_K_group<3, kL2>, q4_K_group<4, kL2>, decltype(prompt), S>(
      a, q4_K_x16_group_bytes(a.n_in), prompt, side);
}
}  // namespace

// The decode tiles' prefetch hint and side-by-side groups per CPU vendor (q4_K_pacing).
void gemm_q4_K_x16_avx512(const GemmArgs& a) {
  const StreamPrefetch pf = decode_stream_prefetch(StreamLayout::kQ4KX16);  // per job: tests vary the streams
  with_streams(std::min(pf.streams, 2), [&]<int S>() {  // 3 and 4 groups' state does not fit the registers
    if (pf.l2) gemm_q4_K_x16<true, S>(a);
    else gemm_q4_K_x16<false, S>(a);
  });
}

// Q6_K through the decode tiles, so prompts add in ggml's order too (llama.cpp's AVX-512 builds have no
// other Q6_K path): group after group, every token tile against the group's L2-resident tiles. Where
// AMX is on, llama.cpp takes its AMX buffer's own Q6_K kernels instead (another order, which Kestrel
// does not follow), so batches of kAmxMinTokens and more run the 1.8x faster one-chain panel GEMM
// (pp512 of the 1B Q6_K file on the Xeon, 2 threads: 295 vs 167 tok/s), as Q4_K's AMX threshold;
// shorter ones keep ggml's order, which measured closer to llama.cpp's tokens on Gemma 3 (a 13-token
// prompt: 128 of 128 greedy tokens identical, 12 with the panels).
void gemm_q6_K_x16_avx512(const GemmArgs& a) {
  const size_t gb = q6_K_x16_group_bytes(a.n_in);
  if (!batch_uses_amx(a)) return gemm_decode_x16<true, q6_K_group<1>, q6_K_group<2>, q6_K_group<3>, q6_K_group<4>>(a, gb);
  gemm_x16<true, q6_K_group<1>, q6_K_group<2>, q6_K_group<3>, q6_K_group<4>>(a, gb, [](const GemmArgs& p) {
    gemm_packed<16, true>(p, [&](int64_t r0, int rows, int64_t nb, uint8_t* panel) { pack_panel_q6_K_x16(p, r0, rows, nb, panel); });
  });
}

}  // namespace kestrel::kernels
