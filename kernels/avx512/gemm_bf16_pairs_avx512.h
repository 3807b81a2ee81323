#pragma once
// Packed VDPBF16PS GEMM for prompt batches of BF16 weights on AVX-512 CPUs with AVX512-BF16 and no AMX
// (AMD Zen 4/5). Anonymous namespace: see gemm_tile_avx512.h.
//
// Outer-product form, as the other packed kernels: a job packs 64 weight rows (4 groups of 16) into a
// panel of bf16 pairs, panel[p][row] = (w[row][2p], w[row][2p+1]) as one dword, which is exactly dword
// p of the ggml row, so a 16x16 dword transpose of 16 rows packs 32 values of each. Per pair p, 4
// aligned panel loads and T broadcast activation pairs (dword p of the token's bf16 row) feed 4 * T
// VDPBF16PS into register accumulators: each adds two exact bf16 x bf16 products to the f32 lane (the
// same rounding as the dot-product tiles' PolicyBF16Dot; tests/kernels/test_matmul.cpp bounds it).
// On Zen 5 VDPBF16PS issues as fast as an FMA and does twice its work, so this runs at about twice
// the f32-FMA packed kernel (kernels/matmul_packed_half.h); on Sapphire Rapids it issues at half
// rate, which is why that CPU keeps the FMA kernel (or its AMX tiles).
//
// An odd n_in leaves a last pair with one value: its weight half is packed as 0 and the activation
// half is masked off (the activation row's padding is not initialized, and 0 * NaN would be NaN).
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/avx512/transpose_avx512.h"
#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

struct Bf16PairsGemm {
  static constexpr int G = 4;              // row groups of 16 per panel
  static constexpr int kRows = 16 * G;     // panel height
  static constexpr int T = 6;              // token tile: G x T = 24 accumulators

  static const char* wrow(const GemmArgs& a, int64_t r) { return static_cast<const char*>(a.w) + r * a.w_row_bytes; }

  // panel[p * kRows + r] (dwords), p = 0 .. ceil(n_in / 2) - 1; rows >= `rows` and the value past an
  // odd n_in are 0.
  static void pack(const GemmArgs& a, int64_t r0, int rows, uint32_t* panel) {
    const int64_t np = (a.n_in + 1) / 2;
    for (int g = 0; g < G && 16 * g < rows; ++g) {  // groups past the rows are never read
      for (int64_t p0 = 0; p0 < np; p0 += 16) {
        const int64_t vals = a.n_in - 2 * p0 < 32 ? a.n_in - 2 * p0 : 32;
        const __mmask32 m = vals == 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << vals) - 1);
        __m512i in[16], out[16];
        for (int l = 0; l < 16; ++l) {
          const int r = 16 * g + l;
          in[l] = r < rows ? _mm512_maskz_loadu_epi16(m, wrow(a, r0 + r) + 4 * p0) : _mm512_setzero_si512();
        }
        transpose16x16_epi32(in, out);
        const int64_t n = np - p0 < 16 ? np - p0 : 16;
        for (int64_t k = 0; k < n; ++k) _mm512_store_si512(panel + (p0 + k) * kRows + 16 * g, out[k]);
      }
    }
  }

  // GG = ceil(rows / 16) groups are computed (a job's last panel may hold fewer than 64 rows).
  template <int GG, int TT>
  static void tile(const GemmArgs& a, const uint32_t* panel, int64_t r0, int rows, int64_t t0) {
    const char* xr[TT];
    for (int t = 0; t < TT; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes;
    __m512 acc[GG][TT];
    for (int g = 0; g < GG; ++g)
      for (int t = 0; t < TT; ++t) acc[g][t] = _mm512_setzero_ps();
    const int64_t full = a.n_in / 2, np = (a.n_in + 1) / 2;
    auto step = [&](int64_t p, uint32_t keep) {
      __m512i w[GG];
      for (int g = 0; g < GG; ++g) w[g] = _mm512_load_si512(panel + p * kRows + 16 * g);
      for (int t = 0; t < TT; ++t) {
        uint32_t x2 = 0;
        std::memcpy(&x2, xr[t] + 4 * p, keep == 0xFFFFFFFFu ? 4 : 2);
        if (keep != 0xFFFFFFFFu) x2 &= keep;
        const __m512bh xb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(x2)));
        for (int g = 0; g < GG; ++g) acc[g][t] = _mm512_dpbf16_ps(acc[g][t], reinterpret_cast<__m512bh>(w[g]), xb);
      }
    };
    for (int64_t p = 0; p < full; ++p) step(p, 0xFFFFFFFFu);
    if (np > full) step(full, 0x0000FFFFu);
    for (int t = 0; t < TT; ++t) {
      float* yt = a.y + (t0 + t) * a.ldy + r0;
      for (int g = 0; g < GG; ++g) {
        const int n = rows - 16 * g;
        const __mmask16 m = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
        _mm512_mask_storeu_ps(yt + 16 * g, m, acc[g][t]);
      }
    }
  }

  template <int GG>
  static void panel_tokens(const GemmArgs& a, const uint32_t* panel, int64_t r0, int rows) {
    token_tiles<T>(a.n_tokens, [&]<int TT>(int64_t t0) { tile<GG, TT>(a, panel, r0, rows, t0); });
  }

  static void run(const GemmArgs& a) {
    thread_local AlignedBuffer panel_buf;
    const int64_t np = (a.n_in + 1) / 2;
    uint32_t* panel = static_cast<uint32_t*>(panel_buf.get(static_cast<size_t>(np) * kRows * 4));
    for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kRows) {
      const int rows = static_cast<int>(a.row_end - r0 < kRows ? a.row_end - r0 : kRows);
      pack(a, r0, rows, panel);
      switch ((rows + 15) / 16) {
        case 1: panel_tokens<1>(a, panel, r0, rows); break;
        case 2: panel_tokens<2>(a, panel, r0, rows); break;
        case 3: panel_tokens<3>(a, panel, r0, rows); break;
        default: panel_tokens<4>(a, panel, r0, rows); break;
      }
    }
  }
};

}  // namespace
}  // namespace kestrel::kernels
