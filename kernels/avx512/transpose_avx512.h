#pragma once
// 16x16 dword transpose for the AVX-512 panel packers (gemm_packed_avx512.h, matmul_kquants_avx512.cpp):
// out[k] = dword k of every in[0..15] (lane l = row l), the [dword][row][4 bytes] layout of the packed
// VNNI and AMX kernels. Anonymous namespace: see gemm_tile_avx512.h.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace kestrel::kernels {
namespace {

__attribute__((always_inline)) inline void transpose16x16_epi32(const __m512i in[16], __m512i out[16]) {
  __m512i b[4][4];  // b[q][c]: column 4L + c of rows 4q..4q+3 in lane L
  for (int q = 0; q < 4; ++q) {
    const __m512i a0 = _mm512_unpacklo_epi32(in[4 * q], in[4 * q + 1]), a1 = _mm512_unpackhi_epi32(in[4 * q], in[4 * q + 1]);
    const __m512i a2 = _mm512_unpacklo_epi32(in[4 * q + 2], in[4 * q + 3]), a3 = _mm512_unpackhi_epi32(in[4 * q + 2], in[4 * q + 3]);
    b[q][0] = _mm512_unpacklo_epi64(a0, a2);
    b[q][1] = _mm512_unpackhi_epi64(a0, a2);
    b[q][2] = _mm512_unpacklo_epi64(a1, a3);
    b[q][3] = _mm512_unpackhi_epi64(a1, a3);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i f0 = _mm512_shuffle_i32x4(b[0][c], b[1][c], 0x44), f1 = _mm512_shuffle_i32x4(b[0][c], b[1][c], 0xEE);
    const __m512i g0 = _mm512_shuffle_i32x4(b[2][c], b[3][c], 0x44), g1 = _mm512_shuffle_i32x4(b[2][c], b[3][c], 0xEE);
    out[0 + c] = _mm512_shuffle_i32x4(f0, g0, 0x88);
    out[4 + c] = _mm512_shuffle_i32x4(f0, g0, 0xDD);
    out[8 + c] = _mm512_shuffle_i32x4(f1, g1, 0x88);
    out[12 + c] = _mm512_shuffle_i32x4(f1, g1, 0xDD);
  }
}

}  // namespace
}  // namespace kestrel::kernels
