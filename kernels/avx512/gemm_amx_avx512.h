#pragma once
// AMX int8 tile GEMM for prompt batches, used by the AVX-512 packed kernels (gemm_packed_avx512.h for
// the 32-value block types, matmul_kquants_avx512.cpp for the super-block types) when the CPU has AMX
// (amx_enabled(), isa.cpp). Anonymous namespace: see gemm_tile_avx512.h.
//
// The packed kernels already lay a 16-row group's K-block out as [dword k][row][4 bytes], which is
// the B-tile layout TDPB*D wants (K/4 rows of 64 bytes). A K-block is one scale's worth of values
// (32 for Q8_0..Q5_K, 16 for Q6_K), because the integer sums must be scaled per block:
//   A = 16 tokens x K activation bytes (loaded straight from the converted activation rows, row stride
//       x_row_bytes), B = K x 16 weight rows, C = A.B (16 x 16 int32, exact)
//   acc[t] += cvt(C[t]) * (dsc * dx[t])           (dsc: 16 row scales, dx: the token's block scale)
//   acc[t] += / -= dm * mx[t]                       (types with a minimum, see AmxMin)
// The integer part is one tile instruction per 16x16xK; the float epilogue (tile store, then per token
// load, convert, multiply, FMA) is what bounds the speed. Two C/A/B tile sets alternate so block kb+1
// is multiplied while block kb's epilogue runs (see amx_group).
//
// Weights are signed bytes (TDPBSSD) for the types whose values fit int8 after removing their offset
// (Q8_0, Q4_0, Q5_0, IQ4_NL: the packer's offset is subtracted again, amx_unoffset), else unsigned with
// a per-block minimum (TDPBSUD: Q4_1, Q5_1, Q4_K, Q5_K, IQ4_XS). The integer sums equal the VNNI
// kernels' exactly; for the 32-value types the float epilogue is the VNNI one too (bit-identical
// outputs, tested). The 16-value K-blocks (Q6_K, Q2_K, Q3_K) stay on VNNI (matmul_kquants_avx512.cpp).
// Measured (2048x2048, 512 tokens, 1 thread, loaded machine): the tile instructions alone take ~50
// cycles per 16x16x32 step (A load, B load, multiply, C store); the epilogue adds about as much again.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/aligned_buffer.h"
#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

constexpr int kAmxTokens = 16;  // tile rows
// Fewer tokens stay on VNNI: a decode batch of a few parallel streams (llm-server) fills at most part
// of a tile and pays the whole epilogue. Measured (bench_matmul --decode-rows: 2048x8192, 2 threads,
// CPU ms, AMX vs VNNI, loaded machine): Q4_0 8 rows 2.05-2.21 vs 1.14-1.44, 12 rows 2.08-2.15 vs
// 1.44-1.50; Q8_0 8 rows 2.51-2.54 vs 1.45-1.58; Q4_K 8 rows 3.00-4.34 vs 2.11-2.18; Q4_0 16 rows
// 2.16-2.28 vs 1.78-1.86; about equal at 32 (Q4_0 2.85-3.28 vs 3.09-3.20).
constexpr int64_t kAmxMinTokens = 32;
// Whether a batch is one the AMX kernels take (what every AMX-capable prompt path asks first).
inline bool batch_uses_amx(const GemmArgs& a) { return a.n_tokens >= kAmxMinTokens && amx_enabled(); }

// LDTILECFG operand (palette 1).
struct alignas(64) AmxConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// tmm0/tmm1: C (16 x 16 int32), tmm2/tmm3: A (16 x kbytes), tmm4/tmm5: B (kbytes / 4 x 64 bytes).
inline void amx_configure(int kbytes) {
  AmxConfig c;
  for (int i = 0; i < 2; ++i) {
    c.rows[i] = 16, c.colsb[i] = 64;
    c.rows[2 + i] = 16, c.colsb[2 + i] = static_cast<uint16_t>(kbytes);
    c.rows[4 + i] = static_cast<uint8_t>(kbytes / 4), c.colsb[4 + i] = 64;
  }
  _tile_loadconfig(&c);
}

// Where a job's K-blocks live. For K-block kb (0 .. n_kb) and row group g (0, 1):
//   w(kb, g): the B tile (kbytes/4 rows of 64 bytes, contiguous)
//   dsc(kb, g), dm(kb, g): 16 row scales / minimum factors (floats, 64-byte aligned)
//   x_off(kb): byte offset of the block's int8 values inside an activation row
//   dx_row(kb), mx_row(kb): row of the [row][token] dx / minimum tables
// kInner: K-blocks per outer block (1 for the 32-value types, 8 or 16 per super-block); a compile-time
// constant, so the index arithmetic below is shifts (a run-time divide per tile step cost more than
// the tile multiply).
template <int kInner>
struct AmxLayout {
  static constexpr int inner = kInner;
  const uint8_t* panel;
  size_t outer_bytes;   // bytes per outer block (a Q8_0 block, or a super-block)
  size_t group_bytes;   // offset of row group 1's weights inside an outer block
  size_t scale_off;     // offset of dsc[inner][32] inside an outer block
  size_t min_off;       // offset of dm[inner][32] inside an outer block
  int kbytes;           // values per K-block
  int64_t x_outer_bytes, x_first;  // activation block stride and offset of the first int8 value
  const uint8_t* w(int64_t kb, int g) const {
    return panel + (kb / inner) * outer_bytes + g * group_bytes + (kb % inner) * kbytes * 16;
  }
  const float* dsc(int64_t kb, int g) const {
    return reinterpret_cast<const float*>(panel + (kb / inner) * outer_bytes + scale_off) + (kb % inner) * 32 + 16 * g;
  }
  const float* dm(int64_t kb, int g) const {
    return reinterpret_cast<const float*>(panel + (kb / inner) * outer_bytes + min_off) + (kb % inner) * 32 + 16 * g;
  }
  int64_t x_off(int64_t kb) const { return (kb / inner) * x_outer_bytes + x_first + (kb % inner) * kbytes; }
  int64_t dx_row(int64_t kb) const { return kb / inner; }
};

// How the minimum enters: none, acc += dm * mx (Q4_1/Q5_1: m_w * s_x), acc -= dm * mx (K-quants).
enum class AmxMin { None, Add, Sub };

// One row group (16 rows at r0) x up to 16 tokens at t0 (mt of them real; A rows beyond mt are zero
// padding in `xa`). xa: the activation row of token t0 (stride x_row_bytes); tables [row][n_tokens].
template <bool kSigned, AmxMin kMin, bool kPartial, class Layout>
void amx_group(const Layout& L, int64_t n_kb, int g, const char* xa, size_t x_row_bytes, const float* dx,
               const float* mx, int64_t n_tokens, int64_t t0, int mt, float* y, int64_t ldy, int rows) {
  alignas(64) int32_t cbuf[2][16 * 16];
  __m512 acc[kAmxTokens];
  for (int t = 0; t < kAmxTokens; ++t) acc[t] = _mm512_setzero_ps();
  const int stride = static_cast<int>(x_row_bytes);
  // A tile store is not forwarded to vector loads: they wait until it reaches L1. So block kb's
  // products are stored one step before they are read (the epilogue of kb - 1 runs in between), and
  // block kb + 1 is already being multiplied meanwhile.
#define KESTREL_AMX_ISSUE(C, A, B, kb)                    \
  do {                                                    \
    _tile_zero(C);                                        \
    _tile_loadd(A, xa + L.x_off(kb), stride);             \
    _tile_loadd(B, L.w(kb, g), 64);                       \
    if constexpr (kSigned) _tile_dpbssd(C, A, B);         \
    else _tile_dpbsud(C, A, B);                           \
  } while (0)
#define KESTREL_AMX_EPILOGUE(kb, c)                                                             \
  do {                                                                                          \
    const __m512 s_ = _mm512_load_ps(L.dsc(kb, g));                                             \
    const float* d_ = dx + L.dx_row(kb) * n_tokens + t0;                                        \
    [[maybe_unused]] __m512 m_ = _mm512_setzero_ps();                                           \
    [[maybe_unused]] const float* mr_ = nullptr;                                                \
    if constexpr (kMin != AmxMin::None) m_ = _mm512_load_ps(L.dm(kb, g)), mr_ = mx + (kb) * n_tokens + t0; \
    for (int t = 0; t < kAmxTokens; ++t) {                                                      \
      if (kPartial && t >= mt) break;                                                           \
      const __m512 v_ = _mm512_cvtepi32_ps(_mm512_load_si512((c) + 16 * t));                    \
      acc[t] = _mm512_fmadd_ps(v_, _mm512_mul_ps(s_, _mm512_set1_ps(d_[t])), acc[t]);          \
      if constexpr (kMin == AmxMin::Add) acc[t] = _mm512_fmadd_ps(m_, _mm512_set1_ps(mr_[t]), acc[t]);  \
      if constexpr (kMin == AmxMin::Sub) acc[t] = _mm512_fnmadd_ps(m_, _mm512_set1_ps(mr_[t]), acc[t]); \
    }                                                                                           \
  } while (0)
  KESTREL_AMX_ISSUE(0, 2, 4, 0);
  for (int64_t kb = 0; kb < n_kb; kb += 2) {
    if (kb + 1 < n_kb) KESTREL_AMX_ISSUE(1, 3, 5, kb + 1);
    _tile_stored(0, cbuf[0], 64);
    if (kb >= 1) KESTREL_AMX_EPILOGUE(kb - 1, cbuf[1]);
    if (kb + 1 < n_kb) {
      if (kb + 2 < n_kb) KESTREL_AMX_ISSUE(0, 2, 4, kb + 2);
      _tile_stored(1, cbuf[1], 64);
      KESTREL_AMX_EPILOGUE(kb, cbuf[0]);
    }
  }
  KESTREL_AMX_EPILOGUE(n_kb - 1, cbuf[(n_kb - 1) & 1]);
#undef KESTREL_AMX_EPILOGUE
#undef KESTREL_AMX_ISSUE
  const int rg = rows - 16 * g;
  const __mmask16 mask = rg >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << rg) - 1);
  for (int t = 0; t < mt; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy + 16 * g, mask, acc[t]);
}

thread_local AlignedBuffer t_amx_pad;

// Every token of the job against a packed panel of `rows` (<= 32) rows at r0: full 16-token tiles read
// the activations in place; the last partial tile reads a zero-padded copy (a tile load always reads
// 16 rows). Tile state is configured per call and released at the end (the thread may next run code
// that never touches tiles, and an idle tile state keeps context switches cheap).
template <bool kSigned, AmxMin kMin, class Layout>
void amx_panel(const Layout& L, int64_t n_kb, const GemmArgs& a, const float* dx, const float* mx, int64_t r0,
               int rows) {
  amx_configure(L.kbytes);
  const int groups = rows > 16 ? 2 : 1;
  int64_t t0 = 0;
  for (; t0 + kAmxTokens <= a.n_tokens; t0 += kAmxTokens) {
    const char* xa = static_cast<const char*>(a.x) + t0 * a.x_row_bytes;
    for (int g = 0; g < groups; ++g)
      amx_group<kSigned, kMin, false>(L, n_kb, g, xa, a.x_row_bytes, dx, mx, a.n_tokens, t0, kAmxTokens, a.y + r0, a.ldy, rows);
  }
  if (t0 < a.n_tokens) {
    const int mt = static_cast<int>(a.n_tokens - t0);
    char* pad = static_cast<char*>(t_amx_pad.get(kAmxTokens * a.x_row_bytes));
    std::memcpy(pad, static_cast<const char*>(a.x) + t0 * a.x_row_bytes, mt * a.x_row_bytes);
    std::memset(pad + mt * a.x_row_bytes, 0, (kAmxTokens - mt) * a.x_row_bytes);
    for (int g = 0; g < groups; ++g)
      amx_group<kSigned, kMin, true>(L, n_kb, g, pad, a.x_row_bytes, dx, mx, a.n_tokens, t0, mt, a.y + r0, a.ldy, rows);
  }
  _tile_release();
}

// Subtracts `off` from every weight byte of a packed panel (makes u = w + off signed again).
inline void amx_unoffset(uint8_t* p, size_t bytes, int off) {
  const __m512i o = _mm512_set1_epi8(static_cast<char>(off));
  for (size_t i = 0; i < bytes; i += 64) _mm512_store_si512(p + i, _mm512_sub_epi8(_mm512_load_si512(p + i), o));
}

}  // namespace
}  // namespace kestrel::kernels
