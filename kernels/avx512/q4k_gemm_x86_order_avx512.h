#pragma once
// Internal, AVX-512 K-quant translation units only: the Q4_K prompt GEMM in llama.cpp's x86 float
// order (kernels/kquant_x86_order.h; twin gemm_q4_K_x86_ref), over the 32-row panels of the packed
// K-quant GEMM (kquant_panel_avx512.h): the same weight bytes ([group][dword k][16 rows][4 bytes], so
// both panel sources keep their weight packers), another per-super-block tail (below). Who fills the
// tail is a parameter, as for the panels: matmul_kquants_avx512.cpp from ggml blocks,
// matmul_kquants_x16_avx512.cpp from the x16 layout.
//
// Per 16 rows x token tile (32 rows x 4 tokens; T = n_tokens % 4 for the last tile, which are exactly
// the tokens llama.cpp sends through gemv, so T == 4 takes gemm's order and T < 4 gemv's):
//   minima: VPMADDWD of the rows' (m_2p, m_2p+1) int16 pairs with the token's (bsum_2p, bsum_2p+1)
//           is the pair's integer min sum; convert, FMA with dmin * dx into totm;
//   scales: per sub-block a VPDPBUSD chain (8 dwords, exact), VPMULLD by the rows' sc_j, added over the
//           pair (gemv: over the super-block), convert, FMA with d * dx into tot;
//   y = tot - totm.
// The minima run as their own pass over the tile before the quant loop: they need no weights, and
// with their 8 accumulators out of the way the quant loop keeps 8 chains, 8 scaled sums and 8 totals
// of 2 groups x 4 tokens in registers. Against the per-block float FMA of the generic panel kernel this
// adds ~1 VPMULLD and ~0.5 integer adds per sub-block per 16 rows and token (docs/KERNELS.md).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/aligned_buffer.h"
#include "kernels/avx512/kquant_panel_avx512.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"

namespace kestrel::kernels {
namespace {

// The tail of a panel super-block (at kSbWeightBytes, within sb_bytes(32)), per 16-row group g at
// g * kQ4TailGroup: int32 sc[8][16] (sub-block scale j of row r), int32 mp[4][16] (m_2p | m_2p+1 << 16),
// f32 d[16], f32 dmin[16] (the f16 scales converted). Padding rows: all zero.
constexpr size_t kQ4TailSc = 0, kQ4TailMp = 512, kQ4TailD = 768, kQ4TailDmin = 832, kQ4TailGroup = 896;

// Per job: dx[b * n + t] and the bsum pairs bsp[(4 b + p) * n + t] = bsum_2p | bsum_2p+1 << 16 (int16
// halves: |bsum| <= 32 * 127), kept per thread across the jobs of one call like the generic tables.
thread_local AlignedBuffer t_q4x86_tables;
thread_local TablesKey t_q4x86_key;

void build_q4x86_tables(const GemmArgs& a, int64_t nb, float* dx, int32_t* bsp) {
  const int64_t n = a.n_tokens;
  for (int64_t t = 0; t < n; ++t) {
    const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + t * a.x_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      dx[b * n + t] = x[b].d;
      for (int p = 0; p < 4; ++p) {
        const int lo = x[b].bsums[4 * p] + x[b].bsums[4 * p + 1], hi = x[b].bsums[4 * p + 2] + x[b].bsums[4 * p + 3];
        bsp[(4 * b + p) * n + t] = static_cast<int32_t>(static_cast<uint32_t>(lo & 0xFFFF) | static_cast<uint32_t>(hi) << 16);
      }
    }
  }
}

template <int T>
void q4x86_tile(const GemmArgs& a, const uint8_t* panel, int64_t nb, const float* dx, const int32_t* bsp, int64_t r0,
                int rows, int64_t t0) {
  constexpr bool kPairs = T == 4;
  const int64_t n = a.n_tokens;
  const uint8_t* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = reinterpret_cast<const uint8_t*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes) + offsetof(BlockQ8_K, qs);
  const size_t sbb = sb_bytes(32);

  __m512 totm[2][T];
  for (int g = 0; g < 2; ++g)
    for (int t = 0; t < T; ++t) totm[g][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* tail = panel + b * sbb + kSbWeightBytes;
    __m512 dm[2][T];
    __m512i im[2][T];
    for (int g = 0; g < 2; ++g)
      for (int t = 0; t < T; ++t) {
        dm[g][t] = _mm512_mul_ps(_mm512_load_ps(tail + g * kQ4TailGroup + kQ4TailDmin), _mm512_set1_ps(dx[b * n + t0 + t]));
        im[g][t] = _mm512_setzero_si512();
      }
    for (int p = 0; p < 4; ++p)
      for (int g = 0; g < 2; ++g) {
        const __m512i mp = _mm512_load_si512(tail + g * kQ4TailGroup + kQ4TailMp + 64 * p);
        for (int t = 0; t < T; ++t) {
          const __m512i v = _mm512_madd_epi16(mp, _mm512_set1_epi32(bsp[(4 * b + p) * n + t0 + t]));
          if constexpr (kPairs) totm[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), dm[g][t], totm[g][t]);
          else im[g][t] = _mm512_add_epi32(im[g][t], v);
        }
      }
    if constexpr (!kPairs)
      for (int g = 0; g < 2; ++g)
        for (int t = 0; t < T; ++t) totm[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(im[g][t]), dm[g][t], totm[g][t]);
  }

  __m512 tot[2][T];
  for (int g = 0; g < 2; ++g)
    for (int t = 0; t < T; ++t) tot[g][t] = _mm512_setzero_ps();
  alignas(64) float dd[2][T][16];  // d * dx per super-block: FMA memory operands, no register held
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* ps = panel + b * sbb;
    const uint8_t* tail = ps + kSbWeightBytes;
    const int64_t xo = b * static_cast<int64_t>(sizeof(BlockQ8_K));
    for (int g = 0; g < 2; ++g)
      for (int t = 0; t < T; ++t)
        _mm512_store_ps(dd[g][t], _mm512_mul_ps(_mm512_load_ps(tail + g * kQ4TailGroup + kQ4TailD), _mm512_set1_ps(dx[b * n + t0 + t])));
    __m512i is[2][T];
    for (int j = 0; j < 8; ++j) {
      __m512i c[2][T];
      for (int g = 0; g < 2; ++g)
        for (int t = 0; t < T; ++t) c[g][t] = _mm512_setzero_si512();
      for (int kk = 0; kk < 8; ++kk) {
        const int k = 8 * j + kk;
        const __m512i w0 = _mm512_load_si512(ps + k * 64), w1 = _mm512_load_si512(ps + (64 + k) * 64);
        for (int t = 0; t < T; ++t) {
          int32_t x4;
          std::memcpy(&x4, xr[t] + xo + 4 * k, 4);
          const __m512i xb = _mm512_set1_epi32(x4);
          c[0][t] = _mm512_dpbusd_epi32(c[0][t], w0, xb);
          c[1][t] = _mm512_dpbusd_epi32(c[1][t], w1, xb);
        }
      }
      const bool first = kPairs ? j % 2 == 0 : j == 0;
      for (int g = 0; g < 2; ++g) {
        const __m512i sc = _mm512_load_si512(tail + g * kQ4TailGroup + kQ4TailSc + 64 * j);
        for (int t = 0; t < T; ++t) {
          const __m512i s = _mm512_mullo_epi32(c[g][t], sc);
          is[g][t] = first ? s : _mm512_add_epi32(is[g][t], s);
        }
      }
      if (kPairs ? j % 2 == 1 : j == 7)
        for (int g = 0; g < 2; ++g)
          for (int t = 0; t < T; ++t) tot[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[g][t]), _mm512_load_ps(dd[g][t]), tot[g][t]);
    }
  }
  const __mmask16 m0 = rows >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << rows) - 1);
  const __mmask16 m1 = rows >= 32 ? 0xFFFF : rows <= 16 ? 0 : static_cast<__mmask16>((1u << (rows - 16)) - 1);
  for (int t = 0; t < T; ++t) {
    float* yt = a.y + (t0 + t) * a.ldy + r0;
    _mm512_mask_storeu_ps(yt, m0, _mm512_sub_ps(tot[0][t], totm[0][t]));
    _mm512_mask_storeu_ps(yt + 16, m1, _mm512_sub_ps(tot[1][t], totm[1][t]));
  }
}

// The whole job: per 32-row panel, pack(r0, rows, nb, panel) fills the weights (as for gemm_packed)
// and the tails above, then every token tile of the job runs against it.
template <class Packer>
void gemm_q4_K_x86_order(const GemmArgs& a, Packer pack) {
  const int64_t nb = a.n_in / kQK_K;
  uint8_t* panel = static_cast<uint8_t*>(t_panel.get(static_cast<size_t>(nb) * sb_bytes(32)));
  float* dx = static_cast<float*>(t_q4x86_tables.get(static_cast<size_t>(nb * a.n_tokens) * 5 * sizeof(float)));
  int32_t* bsp = reinterpret_cast<int32_t*>(dx + nb * a.n_tokens);
  TablesKey& k = t_q4x86_key;
  if (a.call_id == 0 || a.call_id != k.call_id || a.x != k.x || a.n_tokens != k.n_tokens || nb != k.nb) {
    build_q4x86_tables(a, nb, dx, bsp);
    k = TablesKey{a.call_id, a.x, a.n_tokens, nb, 32};
  }
  for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kPanelRows) {
    const int rows = static_cast<int>(a.row_end - r0 < kPanelRows ? a.row_end - r0 : kPanelRows);
    pack(r0, rows, nb, panel);
    token_tiles<kPackedTokens>(a.n_tokens, [&]<int T>(int64_t t0) { q4x86_tile<T>(a, panel, nb, dx, bsp, r0, rows, t0); });
  }
}

}  // namespace
}  // namespace kestrel::kernels
