#pragma once
// Internal, AVX-512 K-quant translation units only: the packed prompt GEMM of the super-block types
// (VNNI outer-product tiles, AMX tiles for the 32-value blocks) over a per-job weight panel. Who fills
// the panel is a parameter: matmul_kquants_avx512.cpp packs it from ggml blocks, and
// matmul_kquants_x16_avx512.cpp from the load-time 16-row layout (kernels/kquant_x16.h), which is
// nearly the panel's own form. Anonymous namespace: each TU keeps its own copy (see gemm_tile_avx512.h).
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/aligned_buffer.h"
#include "kernels/avx512/gemm_amx_avx512.h"
#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant_k.h"

namespace kestrel::kernels {
namespace {

// ---------------------------------------------------------------- packed GEMM (prompt batches)
//
// For n_tokens >= kPackedMinTokens a job repacks 32 weight rows into a panel (once, reused by every
// token of the job) in the outer-product form of the Q4_0/Q8_0 packed kernels (matmul_avx512.cpp): one
// zmm holds the same 4 consecutive unsigned values of 16 rows, 4 activation bytes are broadcast, and
// VPDPBUSD advances 16 rows' dot products. A block (32 values for Q4_K/Q5_K, 16 for Q6_K) has one
// float scale dsc = d * sc and one offset dm per row (dmin * m, or 32 * d * sc for Q6_K's -32):
//   acc_sb += cvt(block isum) * dsc                       (16 rows, per token)
//   acc    -= dm * (dx * bsum_block)                      (the table holds dx * bsum per token)
//   acc    += acc_sb * dx                                 (once per super-block)
constexpr int64_t kPackedMinTokens = 8;
constexpr int kPanelRows = 32;
constexpr int kPackedTokens = 4;
constexpr size_t kSbWeightBytes = 2 * 64 * 64;  // [group][dword k of 64][16 rows][4 bytes]

thread_local AlignedBuffer t_panel, t_tables;
struct TablesKey {
  uint64_t call_id = 0;
  const void* x = nullptr;
  int64_t n_tokens = 0, nb = 0;
  int block = 0;
};
thread_local TablesKey t_key;


// Per super-block of the panel: weights, then [block][row] dsc, then [block][row] dm (floats).
size_t sb_bytes(int block) { return kSbWeightBytes + 2 * (kQK_K / block) * kPanelRows * sizeof(float); }

// Tables per job: dx[sb][t], dx * bsum(block j)[sb * nblk + j][t] and -32 * bsum(block j) likewise.
void build_tables(const GemmArgs& a, int64_t nb, int block, float* dx, float* dxbsum, int32_t* chain_off) {
  const int nblk = kQK_K / block, per = block / 16;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const BlockQ8_K* x = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + t * a.x_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      dx[b * a.n_tokens + t] = x[b].d;
      for (int j = 0; j < nblk; ++j) {
        int s = 0;
        for (int i = 0; i < per; ++i) s += x[b].bsums[j * per + i];
        dxbsum[(b * nblk + j) * a.n_tokens + t] = x[b].d * static_cast<float>(s);
        chain_off[(b * nblk + j) * a.n_tokens + t] = -32 * s;
      }
    }
  }
}

template <int Block, bool kChainOffset, int T>
void packed_tile(const GemmArgs& a, const uint8_t* panel, int64_t nb, const float* dx, const float* dxbsum,
                 const int32_t* chain_off, int64_t r0, int rows, int64_t t0) {
  constexpr int nblk = kQK_K / Block, kpb = Block / 4;  // dwords per block
  const uint8_t* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = reinterpret_cast<const uint8_t*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes) + offsetof(BlockQ8_K, qs);
  __m512 acc[2][T];
  for (int g = 0; g < 2; ++g)
    for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* ps = panel + b * sb_bytes(Block);
    const float* dsc = reinterpret_cast<const float*>(ps + kSbWeightBytes);
    const float* dm = dsc + nblk * kPanelRows;
    __m512 sb[2][T];
    for (int g = 0; g < 2; ++g)
      for (int t = 0; t < T; ++t) sb[g][t] = _mm512_setzero_ps();
    for (int j = 0; j < nblk; ++j) {
      __m512i is0[T], is1[T];
      if constexpr (kChainOffset) {
        // Q6_K: sum((q - 32) x) = dpbusd chain started at -32 * bsum (exact, per token, every row).
        const int32_t* off = chain_off + (b * nblk + j) * a.n_tokens + t0;
        for (int t = 0; t < T; ++t) is0[t] = is1[t] = _mm512_set1_epi32(off[t]);
      } else {
        for (int t = 0; t < T; ++t) is0[t] = is1[t] = _mm512_setzero_si512();
      }
      for (int kk = 0; kk < kpb; ++kk) {
        const int k = j * kpb + kk;
        const __m512i w0 = _mm512_load_si512(ps + k * 64), w1 = _mm512_load_si512(ps + (64 + k) * 64);
        for (int t = 0; t < T; ++t) {
          int32_t x4;
          std::memcpy(&x4, xr[t] + b * static_cast<int64_t>(sizeof(BlockQ8_K)) + 4 * k, 4);
          const __m512i xb = _mm512_set1_epi32(x4);
          is0[t] = _mm512_dpbusd_epi32(is0[t], w0, xb);
          is1[t] = _mm512_dpbusd_epi32(is1[t], w1, xb);
        }
      }
      const __m512 s0 = _mm512_load_ps(dsc + j * kPanelRows), s1 = _mm512_load_ps(dsc + j * kPanelRows + 16);
      const __m512 m0 = _mm512_load_ps(dm + j * kPanelRows), m1 = _mm512_load_ps(dm + j * kPanelRows + 16);
      const float* xbs = dxbsum + (b * nblk + j) * a.n_tokens + t0;
      for (int t = 0; t < T; ++t) {
        sb[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is0[t]), s0, sb[0][t]);
        sb[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is1[t]), s1, sb[1][t]);
        if constexpr (!kChainOffset) {
          const __m512 xs = _mm512_set1_ps(xbs[t]);
          acc[0][t] = _mm512_fnmadd_ps(m0, xs, acc[0][t]);
          acc[1][t] = _mm512_fnmadd_ps(m1, xs, acc[1][t]);
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      const __m512 d = _mm512_set1_ps(dx[b * a.n_tokens + t0 + t]);
      acc[0][t] = _mm512_fmadd_ps(sb[0][t], d, acc[0][t]);
      acc[1][t] = _mm512_fmadd_ps(sb[1][t], d, acc[1][t]);
    }
  }
  const __mmask16 m0 = rows >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << rows) - 1);
  const __mmask16 m1 = rows >= 32 ? 0xFFFF : rows <= 16 ? 0 : static_cast<__mmask16>((1u << (rows - 16)) - 1);
  for (int t = 0; t < T; ++t) {
    float* yt = a.y + (t0 + t) * a.ldy + r0;
    _mm512_mask_storeu_ps(yt, m0, acc[0][t]);
    _mm512_mask_storeu_ps(yt + 16, m1, acc[1][t]);
  }
}

// The whole job: per 32-row panel, pack(r0, rows, nb, panel) fills nb super-blocks of the panel
// (sb_bytes(Block) each: weights [group][dword k][16 rows][4 bytes], then dsc[block][32], dm[block][32]),
// then every token of the job runs against it.
template <int Block, bool kChainOffset, class Packer>
void gemm_packed(const GemmArgs& a, Packer pack) {
  const int64_t nb = a.n_in / kQK_K;
  constexpr int nblk = kQK_K / Block;
  uint8_t* panel = static_cast<uint8_t*>(t_panel.get(static_cast<size_t>(nb) * sb_bytes(Block)));
  float* tables = static_cast<float*>(t_tables.get(static_cast<size_t>(nb * a.n_tokens) * (1 + 2 * nblk) * sizeof(float)));
  float* dx = tables;
  float* dxbsum = tables + nb * a.n_tokens;
  int32_t* chain_off = reinterpret_cast<int32_t*>(dxbsum + nb * nblk * a.n_tokens);
  TablesKey& k = t_key;
  if (a.call_id == 0 || a.call_id != k.call_id || a.x != k.x || a.n_tokens != k.n_tokens || nb != k.nb || Block != k.block) {
    build_tables(a, nb, Block, dx, dxbsum, chain_off);
    k = TablesKey{a.call_id, a.x, a.n_tokens, nb, Block};
  }
  // AMX tiles (gemm_amx_avx512.h) for the 32-value blocks (Q4_K, Q5_K, IQ4_XS): one K-block per scale,
  // minima subtracted as dm * dx * bsum. Not for the 16-value blocks (Q6_K, Q2_K, Q3_K): a tile step
  // of K = 16 is as slow as K = 32 while the per-block epilogue doubles, and measured slower than VNNI.
  const bool amx = Block == 32 && !kChainOffset && batch_uses_amx(a);
  for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kPanelRows) {
    const int rows = static_cast<int>(a.row_end - r0 < kPanelRows ? a.row_end - r0 : kPanelRows);
    pack(r0, rows, nb, panel);
    if (amx) {
      const AmxLayout<nblk> L{panel, sb_bytes(Block), kSbWeightBytes / 2, kSbWeightBytes,
                              kSbWeightBytes + nblk * kPanelRows * sizeof(float), Block,
                              static_cast<int64_t>(sizeof(BlockQ8_K)), static_cast<int64_t>(offsetof(BlockQ8_K, qs))};
      amx_panel<false, AmxMin::Sub>(L, nb * nblk, a, dx, dxbsum, r0, rows);
      continue;
    }
    token_tiles<kPackedTokens>(a.n_tokens, [&]<int T>(int64_t t0) {
      packed_tile<Block, kChainOffset, T>(a, panel, nb, dx, dxbsum, chain_off, r0, rows, t0);
    });
  }
}

}  // namespace
}  // namespace kestrel::kernels
