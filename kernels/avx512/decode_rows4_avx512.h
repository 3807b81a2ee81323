#pragma once
// Decode (few tokens) of the 32-value block types on AVX-512 VNNI: Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL.
// Included only by kernels/avx512/*.cpp (anonymous namespace: each TU keeps its own copy).
//
// One zmm holds the same block of 4 weight rows, one 128-bit lane per row: `lo` has elements 0-15 of
// each row's block and `hi` elements 16-31, as unsigned bytes u = w + off. The activation block's two
// halves are broadcast to all four lanes, so per 4 rows and token a block costs 2 VPDPBUSD, one convert
// and one FMA (the generic dot-product tile pays the unpacking, two fp16 scales and the scale
// broadcasts per row). The offset enters as the VPDPBUSD chain's start value -off * (partial sums of
// x), precomputed per (token, block); the Q4_1/Q5_1 minimum adds m_w * s_x in lane 0 of each row's lane
// (one FMA per block, 4 rows and token). The 4 rows' fp16 scales (and minimums) are gathered into one
// register and converted together. Each output is the same sum of ggml's per-block terms as the
// scalar twin, in another f32 order.
//
// The types without a minimum (Q4_0, Q5_0, IQ4_NL) add in the order of llama.cpp's x86 kernels for them
// (ggml_vec_dot_{q4_0,q5_0}_q8_0 and llamafile's tinyBLAS_Q0_AVX, which agree; IQ4_NL's vec_dot
// alternates two accumulators over even and odd blocks, its tinyBLAS does this): 8 f32 lanes per
// output, lane i the integer sum of elements 4i..4i+3 of every block, lane_i = fma(d_w * d_x, lane_sum,
// lane_i) block after block, then hsum_float_8's tree ((l4+l0)+(l6+l2)) + ((l5+l1)+(l7+l3)). Here `lo`
// chains give lanes 0-3 and `hi` chains lanes 4-7 of each row (separate accumulators, each with its
// own -off * partial-sum start), and the reduction adds hi + lo, then the 64-bit halves, then pairs.
// Same cost as one chain but for one more convert and FMA per block; bit-identical to llama.cpp's
// results on x86 (Q4_1 / Q5_1 keep one chain: their x86 kernels add the minimum term apart).
//
// An unpacker U provides kBlockBytes, kOff (the unsigned offset), kMin (has a minimum m), XBlock (the
// activation block type: BlockQ8_0, or BlockQ8_1 for the types with a minimum) and
//   load(w[4], off, &lo, &hi, &d, &m): the block at byte offset off of the 4 rows; d and m are the
//   row scales / minimums spread over each row's lane (m only in the lane's first dword).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant.h"
#include "kernels/quant_q32.h"

namespace kestrel::kernels {
namespace {

inline uint64_t load_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint64_t load_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// 16 bytes at offset off of each row, row r in lane r.
inline __m512i rows4_load16(const char* const w[4], int64_t off) {
  __m512i v = _mm512_zextsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[0] + off)));
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[1] + off)), 1);
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[2] + off)), 2);
  return _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[3] + off)), 3);
}

// The fp16 value at offset off of each row, as f32 spread over the row's lane.
inline __m512 rows4_scales(const char* const w[4], int64_t off) {
  const uint64_t d4 = load_u16(w[0] + off) | load_u16(w[1] + off) << 16 | load_u16(w[2] + off) << 32 |
                      load_u16(w[3] + off) << 48;
  const __m512 d = _mm512_zextps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(d4))));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), d);
}

// The fp16 pair (d, m) at offset off of each row: d spread over the row's lane, m in its first dword.
inline void rows4_scales_mins(const char* const w[4], int64_t off, __m512* d, __m512* m) {
  const __m128i dm = _mm_insert_epi64(_mm_cvtsi64_si128(static_cast<long long>(load_u32(w[0] + off) | load_u32(w[1] + off) << 32)),
                                      static_cast<long long>(load_u32(w[2] + off) | load_u32(w[3] + off) << 32), 1);
  const __m512 f = _mm512_zextps256_ps512(_mm256_cvtph_ps(dm));  // d0 m0 d1 m1 d2 m2 d3 m3
  *d = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6), f);
  *m = _mm512_maskz_permutexvar_ps(0x1111, _mm512_setr_epi32(1, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0), f);
}

// Low and high nibbles of the 16 bytes at offset off of each row.
inline void rows4_nibbles(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi) {
  const __m512i v = rows4_load16(w, off);
  const __m512i m = _mm512_set1_epi8(0x0F);
  *lo = _mm512_and_si512(v, m);
  *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
}

// Adds 16 to the bytes whose fifth bit is set: bit j of the row's 32-bit qh (at offset off) is element j.
inline void rows4_fifth_bits(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi) {
  const uint64_t h0 = load_u32(w[0] + off), h1 = load_u32(w[1] + off), h2 = load_u32(w[2] + off), h3 = load_u32(w[3] + off);
  const uint64_t mlo = (h0 & 0xFFFF) | (h1 & 0xFFFF) << 16 | (h2 & 0xFFFF) << 32 | (h3 & 0xFFFF) << 48;
  const uint64_t mhi = (h0 >> 16) | (h1 >> 16) << 16 | (h2 >> 16) << 32 | (h3 >> 16) << 48;
  const __m512i sixteen = _mm512_set1_epi8(0x10);
  *lo = _mm512_mask_add_epi8(*lo, _cvtu64_mask64(mlo), *lo, sixteen);
  *hi = _mm512_mask_add_epi8(*hi, _cvtu64_mask64(mhi), *hi, sixteen);
}

struct Rows4Q4_0 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  static constexpr int kOff = 8;
  static constexpr bool kMin = false;
  using XBlock = BlockQ8_0;
  static void load(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi, __m512* d, __m512*) {
    rows4_nibbles(w, off + offsetof(BlockQ4_0, qs), lo, hi);
    *d = rows4_scales(w, off + offsetof(BlockQ4_0, d));
  }
};

struct Rows4IQ4_NL {
  static constexpr size_t kBlockBytes = sizeof(BlockIQ4_NL);
  static constexpr int kOff = 128;
  static constexpr bool kMin = false;
  using XBlock = BlockQ8_0;
  static void load(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi, __m512* d, __m512*) {
    rows4_nibbles(w, off + offsetof(BlockIQ4_NL, qs), lo, hi);
    // The grid + 128 as unsigned bytes in every lane.
    const __m512i grid = _mm512_broadcast_i32x4(
        _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)), _mm_set1_epi8(static_cast<char>(0x80))));
    *lo = _mm512_shuffle_epi8(grid, *lo);
    *hi = _mm512_shuffle_epi8(grid, *hi);
    *d = rows4_scales(w, off + offsetof(BlockIQ4_NL, d));
  }
};

struct Rows4Q5_0 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_0);
  static constexpr int kOff = 16;
  static constexpr bool kMin = false;
  using XBlock = BlockQ8_0;
  static void load(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi, __m512* d, __m512*) {
    rows4_nibbles(w, off + offsetof(BlockQ5_0, qs), lo, hi);
    rows4_fifth_bits(w, off + offsetof(BlockQ5_0, qh), lo, hi);
    *d = rows4_scales(w, off + offsetof(BlockQ5_0, d));
  }
};

struct Rows4Q4_1 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_1);
  static constexpr int kOff = 0;
  static constexpr bool kMin = true;
  using XBlock = BlockQ8_1;
  static void load(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi, __m512* d, __m512* m) {
    rows4_nibbles(w, off + offsetof(BlockQ4_1, qs), lo, hi);
    rows4_scales_mins(w, off, d, m);
  }
};

struct Rows4Q5_1 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_1);
  static constexpr int kOff = 0;
  static constexpr bool kMin = true;
  using XBlock = BlockQ8_1;
  static void load(const char* const w[4], int64_t off, __m512i* lo, __m512i* hi, __m512* d, __m512* m) {
    rows4_nibbles(w, off + offsetof(BlockQ5_1, qs), lo, hi);
    rows4_fifth_bits(w, off + offsetof(BlockQ5_1, qh), lo, hi);
    rows4_scales_mins(w, off, d, m);
  }
};

// Per (token, block) activation terms, built once per job: the chain starts -off * partial sums (4
// dwords each, broadcast to the 4 row lanes: [2i] for elements 0-15, [2i+1] for 16-31), the f32 scale
// and, for Q8_1, the f32 s = d * sum(q).
struct Rows4Tables {
  const __m128i* negcorr;
  const float* dx;
  const float* sx;
};

template <class U, int T>
void rows4_tile(const GemmArgs& a, int64_t r0, int64_t t0, int64_t nb, const Rows4Tables& tab) {
  using XB = typename U::XBlock;
  const char* w[4];
  for (int r = 0; r < 4; ++r) w[r] = static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes;
  const char* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes + offsetof(XB, qs);
  constexpr bool kSplit = !U::kMin;  // llama.cpp's 8-lane order (see the header)
  static_assert(!kSplit || U::kOff != 0, "the split chains start at -off * partial sums");
  __m512 acc[T], acc_hi[T];
  for (int t = 0; t < T; ++t) acc[t] = acc_hi[t] = _mm512_setzero_ps();
  const int64_t ahead = 4 * static_cast<int64_t>(a.w_row_bytes);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t off = b * static_cast<int64_t>(U::kBlockBytes);
    // The hardware prefetchers do not run far enough ahead of 4 interleaved row streams: fetch the
    // next row group's bytes while this one computes, so DRAM and arithmetic overlap. Blocks of <= 32
    // bytes: every other block still touches every cache line.
    if (U::kBlockBytes > 32 || (b & 1) == 0)
      for (int r = 0; r < 4; ++r) _mm_prefetch(w[r] + off + ahead, _MM_HINT_T0);
    __m512i lo, hi;
    __m512 dw, mw;
    U::load(w, off, &lo, &hi, &dw, &mw);
    for (int t = 0; t < T; ++t) {
      const int64_t xb = (t0 + t) * nb + b;
      const char* xq = xr[t] + b * static_cast<int64_t>(sizeof(XB));
      const __m512i xlo = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq)));
      const __m512i xhi = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16)));
      const __m512 dd = _mm512_mul_ps(dw, _mm512_set1_ps(tab.dx[xb]));
      if constexpr (kSplit) {
        const __m512i ilo = _mm512_dpbusd_epi32(_mm512_broadcast_i32x4(tab.negcorr[2 * xb]), lo, xlo);
        const __m512i ihi = _mm512_dpbusd_epi32(_mm512_broadcast_i32x4(tab.negcorr[2 * xb + 1]), hi, xhi);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ilo), dd, acc[t]);
        acc_hi[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ihi), dd, acc_hi[t]);
      } else {
        __m512i isum;
        if constexpr (U::kOff != 0) isum = _mm512_dpbusd_epi32(_mm512_broadcast_i32x4(tab.negcorr[xb]), lo, xlo);
        else isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo);
        isum = _mm512_dpbusd_epi32(isum, hi, xhi);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dd, acc[t]);
        if constexpr (U::kMin) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(tab.sx[xb]), acc[t]);
      }
    }
  }
  const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int t = 0; t < T; ++t) {
    __m512 s;
    if constexpr (kSplit) {
      s = _mm512_add_ps(acc_hi[t], acc[t]);              // lanes i + 4 and i
      s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4E));  // 64-bit halves
      s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xB1));  // pairs: element 0 of each lane = its sum
    } else {
      s = _mm512_add_ps(acc[t], _mm512_permute_ps(acc[t], 0xB1));  // pairs within each lane
      s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4E));            // halves: every element = lane sum
    }
    _mm_storeu_ps(a.y + (t0 + t) * a.ldy + r0, _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, s)));
  }
}

thread_local AlignedBuffer t_rows4_tables;

// The job's rows in groups of 4; the last n_out % 4 rows of the job through the policy P's 1-row tile.
template <class U, class P>
void gemm_rows4(const GemmArgs& a) {
  using XB = typename U::XBlock;
  const int64_t nb = a.n_in / kQK;
  const size_t n = static_cast<size_t>(nb * a.n_tokens);
  char* mem = static_cast<char*>(t_rows4_tables.get(n * (32 + 4 + 4)));
  __m128i* negcorr = reinterpret_cast<__m128i*>(mem);
  float* dx = reinterpret_cast<float*>(mem + n * 32);
  float* sx = dx + n;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const XB* blk = reinterpret_cast<const XB*>(static_cast<const char*>(a.x) + t * a.x_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      if constexpr (U::kOff != 0) {
        const __m128i xlo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[b].qs));
        const __m128i xhi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[b].qs + 16));
        const __m128i off = _mm_set1_epi8(static_cast<char>(U::kOff));
        const __m128i clo = _mm_dpbusd_epi32(_mm_setzero_si128(), off, xlo);
        const __m128i chi = _mm_dpbusd_epi32(_mm_setzero_si128(), off, xhi);
        if constexpr (U::kMin) {
          _mm_store_si128(&negcorr[t * nb + b], _mm_sub_epi32(_mm_setzero_si128(), _mm_add_epi32(clo, chi)));
        } else {
          _mm_store_si128(&negcorr[2 * (t * nb + b)], _mm_sub_epi32(_mm_setzero_si128(), clo));
          _mm_store_si128(&negcorr[2 * (t * nb + b) + 1], _mm_sub_epi32(_mm_setzero_si128(), chi));
        }
      }
      dx[t * nb + b] = h2f(&blk[b].d);
      if constexpr (U::kMin) sx[t * nb + b] = h2f(&blk[b].s);
    }
  }
  const Rows4Tables tab{negcorr, dx, sx};
  int64_t r0 = a.row_begin;
  for (; r0 + 4 <= a.row_end; r0 += 4) {
    int64_t t0 = 0;
    for (; t0 + 4 <= a.n_tokens; t0 += 4) rows4_tile<U, 4>(a, r0, t0, nb, tab);
    switch (a.n_tokens - t0) {
      case 1: rows4_tile<U, 1>(a, r0, t0, nb, tab); break;
      case 2: rows4_tile<U, 2>(a, r0, t0, nb, tab); break;
      case 3: rows4_tile<U, 3>(a, r0, t0, nb, tab); break;
      default: break;
    }
  }
  for (; r0 < a.row_end; ++r0)
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += 4)
      tile_rows_of<P, 1, 4>(a, r0, t0, static_cast<int>(a.n_tokens - t0 < 4 ? a.n_tokens - t0 : 4));
}

}  // namespace
}  // namespace kestrel::kernels
