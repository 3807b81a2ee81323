// AVX-512 matmul kernels (F+BW+VL+DQ+VNNI; AVX512-BF16 used for BF16 weights when present).
//
// Every kernel computes dot products along the row (the ggml layout): a register tile of R weight rows
// x T tokens keeps R*T vector accumulators; each step loads R weight vectors and T activation vectors,
// so a weight block fetched once feeds T tokens and an activation block feeds R rows. Accumulators are
// reduced horizontally once per output.
//
// Integer paths use VPDPBUSD (u8 x s8 -> s32), 64 values (two Q8_0 blocks) per instruction:
//   Q4_0 x Q8_0: nibbles are unsigned [0,15]; sum((q-8)*x) = dpbusd(q, x) - 8*sum(x). The 8*sum(x)
//     term depends only on the activation block, so it is computed once per token and step and fed in
//     as the accumulator input of VPDPBUSD: no extra instruction per (row, token).
//   Q8_0 x Q8_0: both signed; flip the activations to unsigned (x + 128) and subtract 128*sum(w), which
//     depends only on the weight block (once per row and step), again as the accumulator input.
// Per-block scales: lanes 0-7 hold block b's partial sums and lanes 8-15 block b+1's, so one vector of
// [d_b x8, d_b+1 x8] scales both blocks; an odd last block runs with the upper half zeroed.
//
// All helpers are in an anonymous namespace so no AVX-512 code can be shared with other TUs.
// GCC 12's AVX-512 intrinsic headers self-initialise their "undefined" vectors (__m512 __Y = __Y),
// which -Wall reports at every use (GCC bug 105593); the warnings are about the header, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "kernels/avx512/decode_rows4_avx512.h"
#include "kernels/avx512/gemm_amx_half_avx512.h"
#include "kernels/avx512/gemm_bf16_pairs_avx512.h"
#include "kernels/avx512/gemm_packed_avx512.h"
#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/avx512/half_policies_avx512.h"
#include "kernels/matmul_isa.h"
#include "kernels/matmul_packed_half.h"
#include "kernels/matmul_q32.h"
#include "kernels/quant.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// ---------------------------------------------------------------- activation converters

void quantize_row_q8_0_avx512(const float* x, void* dst, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) y[b].d = fp32_to_fp16(quantize_block_q8(x, y[b].qs));
}

void fp32_to_fp16_row_avx512(const float* x, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // The hardware keeps NaN payloads; the reference (like ggml's portable code) writes sign | 0x7E00.
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (nan) {
      const __m256i sign = _mm256_and_si256(h, _mm256_set1_epi16(static_cast<short>(0x8000)));
      h = _mm256_mask_blend_epi16(nan, h, _mm256_or_si256(sign, _mm256_set1_epi16(0x7E00)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void fp32_to_bf16_row_avx512(const float* x, void* dst, int64_t n) {
  // Integer rounding rather than VCVTNEPS2BF16, which flushes denormals: the bytes must match the
  // reference converter exactly.
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i u = _mm512_loadu_si512(x + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                                  _mm512_set1_epi32(0x7F800000));
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

// ---------------------------------------------------------------- per-type step policies
// Each policy: kStep values per full step; W/X register bundles; load_w/load_x for full step s;
// load_w_tail/load_x_tail for the remainder (n_in % kStep values, zero-filled); madd(acc, w, x).

struct PolicyF32 {
  static constexpr int kStep = 16;
  static constexpr int64_t kStepBytes = 64;
  using W = __m512;
  using X = __m512;
  static W load_w(const char* row, int64_t s) { return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + s * 16); }
  static X load_x(const char* row, int64_t s) { return load_w(row, s); }
  static W load_w_tail(const char* row, int64_t s, int rem) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << rem) - 1), reinterpret_cast<const float*>(row) + s * 16);
  }
  static X load_x_tail(const char* row, int64_t s, int rem) { return load_w_tail(row, s, rem); }
  static __m512 madd(__m512 acc, const W& w, const X& x) { return _mm512_fmadd_ps(w, x, acc); }
};

// PolicyF16, PolicyBF16Convert, PolicyBF16Dot: kernels/avx512/half_policies_avx512.h.

struct PolicyQ4_0 {
  static constexpr int kStep = 64;
  static constexpr int64_t kStepBytes = 2 * sizeof(BlockQ4_0);
  struct W {
    __m512i q;  // unsigned nibbles, block b in lanes 0-7, block b+1 in lanes 8-15
    __m512 d;
  };
  struct X {
    __m512i q;
    __m512i neg_corr;  // -8 * sum(x) per dword lane: the accumulator input of VPDPBUSD
    __m512 d;
  };
  template <bool kTwo>
  static W load_w_impl(const char* row, int64_t b) {
    const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs));
    const __m128i q1 = kTwo ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)) : _mm_setzero_si128();
    // [q0, q0, q1, q1] -> [q0 & 15, q0 >> 4, q1 & 15, q1 >> 4]: elements 0-15, 16-31 of each block.
    __m512i v = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(q0), 0xFF00, q1);
    v = _mm512_mask_blend_epi64(0xCC, v, _mm512_srli_epi16(v, 4));
    W w;
    w.q = _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
    w.d = two_scales(h2f(&blk[0].d), kTwo ? h2f(&blk[1].d) : 0.0f);
    return w;
  }
  template <bool kTwo>
  static X load_x_impl(const char* row, int64_t b) {
    X x;
    load_q8_pair<kTwo>(row, b, &x.q, &x.d);
    x.neg_corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                  _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x.q));
    return x;
  }
  static W load_w(const char* row, int64_t s) { return load_w_impl<true>(row, 2 * s); }
  static X load_x(const char* row, int64_t s) { return load_x_impl<true>(row, 2 * s); }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w_impl<false>(row, 2 * s); }
  static X load_x_tail(const char* row, int64_t s, int) { return load_x_impl<false>(row, 2 * s); }
  static __m512 madd(__m512 acc, const W& w, const X& x) {
    const __m512i isum = _mm512_dpbusd_epi32(x.neg_corr, w.q, x.q);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w.d, x.d), acc);
  }
};

struct PolicyQ8_0 {
  static constexpr int kStep = 64;
  static constexpr int64_t kStepBytes = 2 * sizeof(BlockQ8_0);
  struct W {
    __m512i q;         // signed weights
    __m512i neg_corr;  // -128 * sum(w) per dword lane
    __m512 d;
  };
  struct X {
    __m512i qu;  // activations + 128 as unsigned bytes
    __m512 d;
  };
  template <bool kTwo>
  static W load_w_impl(const char* row, int64_t b) {
    W w;
    load_q8_pair<kTwo>(row, b, &w.q, &w.d);
    w.neg_corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                  _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)), w.q));
    return w;
  }
  template <bool kTwo>
  static X load_x_impl(const char* row, int64_t b) {
    X x;
    __m512i q;
    load_q8_pair<kTwo>(row, b, &q, &x.d);
    x.qu = _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
    return x;
  }
  static W load_w(const char* row, int64_t s) { return load_w_impl<true>(row, 2 * s); }
  static X load_x(const char* row, int64_t s) { return load_x_impl<true>(row, 2 * s); }
  static W load_w_tail(const char* row, int64_t s, int) { return load_w_impl<false>(row, 2 * s); }
  // The zeroed half of a tail block becomes 0x80 after the flip, but its weights are zero too.
  static X load_x_tail(const char* row, int64_t s, int) { return load_x_impl<false>(row, 2 * s); }
  static __m512 madd(__m512 acc, const W& w, const X& x) {
    const __m512i isum = _mm512_dpbusd_epi32(w.neg_corr, x.qu, w.q);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w.d, x.d), acc);
  }
};

// ---------------------------------------------------------------- packed integer GEMM (gemm_packed_avx512.h)

// Unpacks one weight block to 32 unsigned bytes u = w + off.
void unpack_block_q4_0(const char* row, int64_t b, uint8_t* out, float* d, float*) {
  const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_and_si128(q, m));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_and_si128(_mm_srli_epi16(q, 4), m));
  *d = h2f(&blk->d);
}
void unpack_block_q8_0(const char* row, int64_t b, uint8_t* out, float* d, float*) {
  const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80))));
  *d = h2f(&blk->d);
}

// ---------------------------------------------------------------- Q4_0 decode (few tokens)
// 4 rows per zmm, one 128-bit lane per row (decode_rows4_avx512.h, shared with Q4_1/Q5_0/Q5_1/IQ4_NL).

// ---------------------------------------------------------------- Q4_0/Q8_0 panels by gathers
//
// pack_panel (unpack to bytes, then a 16x16 dword transpose) costs more than the packed GEMM's
// arithmetic for a decode batch of 8-16 rows (llm-server's parallel streams). Here one VPGATHERDD
// fetches the same dword of 16 rows' blocks, which is already a panel line: Q8_0's 8 dwords flip to
// unsigned; Q4_0's 4 dwords of nibbles give lines k (low nibbles) and k + 4 (high nibbles). The 16
// scales come from one more gather (the dword at each block's start, whose low half is d). Same bytes
// as pack_panel, so the results do not change; rows past `rows` are masked off (never read) and get
// zeros. Measured (bench_matmul --decode-rows: 2048x8192, 2 threads, VNNI, CPU ms, loaded machine),
// gathers vs pack_panel: Q4_0 8 rows 1.18-1.20 vs 1.77-1.82, 16 rows 1.70-1.74 vs 2.29-2.45, 32 rows
// 2.99-3.12 vs 3.72-3.76; Q8_0 8 rows 1.46-1.56 vs 1.77-1.89 (4 rows, the dot-product kernel: 1.16-1.20).
template <bool kQ4>
void pack_panel_gather(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel) {
  constexpr int64_t kBlock = kQ4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const __m512i offs = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(a.w_row_bytes)));
  __mmask16 mask[2];
  for (int g = 0; g < 2; ++g) {
    const int n = rows - 16 * g;
    mask[g] = n >= 16 ? 0xFFFF : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
  }
  const __m512i nib = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* pb = panel + b * kPanelBlockBytes;
    float* scales = reinterpret_cast<float*>(pb + kPanelWeightBytes);
    for (int g = 0; g < 2; ++g) {
      const char* base = static_cast<const char*>(a.w) + (r0 + 16 * g) * static_cast<int64_t>(a.w_row_bytes) + b * kBlock;
      __m512i* lines = reinterpret_cast<__m512i*>(pb) + g * 8;
      if (mask[g] == 0) {
        for (int k = 0; k < 8; ++k) _mm512_store_si512(lines + k, zero);
        _mm512_store_ps(scales + 16 * g, _mm512_setzero_ps());
        continue;
      }
      if constexpr (kQ4) {
        for (int j = 0; j < 4; ++j) {
          const __m512i q = _mm512_mask_i32gather_epi32(zero, mask[g], offs, base + 2 + 4 * j, 1);
          _mm512_store_si512(lines + j, _mm512_and_si512(q, nib));
          _mm512_store_si512(lines + 4 + j, _mm512_and_si512(_mm512_srli_epi16(q, 4), nib));
        }
      } else {
        for (int j = 0; j < 8; ++j) {
          const __m512i q = _mm512_mask_i32gather_epi32(zero, mask[g], offs, base + 2 + 4 * j, 1);
          _mm512_store_si512(lines + j, _mm512_maskz_mov_epi32(mask[g], _mm512_xor_si512(q, flip)));
        }
      }
      const __m512i dw = _mm512_mask_i32gather_epi32(zero, mask[g], offs, base, 1);
      _mm512_store_ps(scales + 16 * g, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dw)));
    }
  }
}

// The gathers' offsets (15 rows) must fit in int32.
bool gather_rows_ok(const GemmArgs& a) { return a.w_row_bytes <= (size_t{1} << 26); }

void gemm_q8_0_avx512(const GemmArgs& a) {
  if (a.n_tokens < kPackedMinTokens) gemm<PolicyQ8_0, 4, 4>(a);
  else if (gather_rows_ok(a)) gemm_packed<unpack_block_q8_0, ActQ8_0, false, pack_panel_gather<false>, PackedOrder::kX86Lanes>(a, 128);
  else gemm_packed<unpack_block_q8_0, ActQ8_0, false, pack_panel<unpack_block_q8_0>, PackedOrder::kX86Lanes>(a, 128);
}
void gemm_q4_0_avx512(const GemmArgs& a) {
  if (a.n_tokens < kPackedMinTokens) gemm_rows4<Rows4Q4_0, PolicyQ4_0>(a);
  else if (gather_rows_ok(a)) gemm_packed<unpack_block_q4_0, ActQ8_0, false, pack_panel_gather<true>>(a, 8);
  else gemm_packed<unpack_block_q4_0, ActQ8_0, false>(a, 8);
}

// ---------------------------------------------------------------- packed F32 GEMM (prompt batches)
//
// Same outer-product idea as the integer GEMM: each job transposes 32 weight rows into a panel
// [k][32 rows], so one zmm load gives value k of 16 rows and a broadcast x[t][k] feeds 16 FMAs-worth of
// rows. 2 row groups x 8 tokens = 16 accumulators; per k: 2 panel loads + 8 broadcasts for 16 FMAs,
// all from L1/L2, instead of the dot-product form's one load per FMA pair from L2.
constexpr int kF32PackedTokens = 8;
thread_local AlignedBuffer t_f32_panel;

template <int T>
void f32_packed_tile(const GemmArgs& a, const float* panel, int64_t r0, int rows, int64_t t0) {
  const float* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = reinterpret_cast<const float*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes);
  __m512 acc0[T], acc1[T];
  for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < a.n_in; ++k) {
    const __m512 w0 = _mm512_load_ps(panel + k * kPanelRows);
    const __m512 w1 = _mm512_load_ps(panel + k * kPanelRows + 16);
    for (int t = 0; t < T; ++t) {
      const __m512 xb = _mm512_set1_ps(xr[t][k]);
      acc0[t] = _mm512_fmadd_ps(w0, xb, acc0[t]);
      acc1[t] = _mm512_fmadd_ps(w1, xb, acc1[t]);
    }
  }
  const __mmask16 m0 = rows >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << rows) - 1);
  const __mmask16 m1 = rows >= 32 ? 0xFFFF : rows <= 16 ? 0 : static_cast<__mmask16>((1u << (rows - 16)) - 1);
  for (int t = 0; t < T; ++t) {
    float* yt = a.y + (t0 + t) * a.ldy + r0;
    _mm512_mask_storeu_ps(yt, m0, acc0[t]);
    _mm512_mask_storeu_ps(yt + 16, m1, acc1[t]);
  }
}

void gemm_f32_packed(const GemmArgs& a) {
  float* panel = static_cast<float*>(t_f32_panel.get(static_cast<size_t>(a.n_in) * kPanelRows * sizeof(float)));
  for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kPanelRows) {
    const int rows = static_cast<int>(a.row_end - r0 < kPanelRows ? a.row_end - r0 : kPanelRows);
    for (int r = 0; r < kPanelRows; ++r) {
      if (r < rows) {
        const float* wr = reinterpret_cast<const float*>(static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes);
        for (int64_t k = 0; k < a.n_in; ++k) panel[k * kPanelRows + r] = wr[k];
      } else {
        for (int64_t k = 0; k < a.n_in; ++k) panel[k * kPanelRows + r] = 0.0f;
      }
    }
    token_tiles<kF32PackedTokens>(a.n_tokens, [&]<int T>(int64_t t0) { f32_packed_tile<T>(a, panel, r0, rows, t0); });
  }
}

// The panel transpose is paid once per call, so the packed form pays only from many tokens on; below,
// the dot-product tiles (which stream the weights once, row tiles outer) are faster. bench_matmul
// --verify-rows, 2048x8192, 2 threads, CPU ms tiles/packed: b8 5.2/27.1, b16 9.1/33.3, b64 31.4/40.1,
// b96 44.8/45.9, b128 55.5/52.1 (F16: b16 5.6/17.2, b64 22.8/23.1, b128 45.0/39.2; BF16: b16 5.4/11.0,
// b64 22.6/26.7, b96 32.3/31.9). Speculative decoding's verify batches (1 + up to 16 drafts) and
// llm-server's multi-stream decode steps are such batches; with the tiles a row's result is also the
// same as in a 1-token call (each output is one accumulator over k in the same order).
constexpr int64_t kF32PackedMinTokens = 96;

void gemm_f32_avx512(const GemmArgs& a) {
  if (a.n_tokens >= kF32PackedMinTokens) gemm_f32_packed(a);
  else gemm<PolicyF32, 4, 4>(a);
}

// ---------------------------------------------------------------- packed F16/BF16 GEMM (prompt batches)
//
// F16, and BF16 without AVX512-BF16: kernels/matmul_packed_half.h (f32 panels of 4 x 16 rows, 6-token
// tiles: 24 zmm accumulators, 4 panel loads and 6 broadcasts per 24 FMAs) with these widening
// functions. On Zen 5 the 4 x 6 tile beats 2 x 8 (F16 2048x8192 x 512 tokens, 1 thread, CPU ms: 79-85
// vs 88-111 on a loaded machine); a job's last panel of <= 32 rows computes two groups of zeros (the
// K/V projections' 512 rows: ~2% of a Llama-3.2-1B layer's rows). BF16 with AVX512-BF16 and no AMX takes the
// packed VDPBF16PS kernel (gemm_bf16_pairs_avx512.h): on Zen 5, 2.5x the FMA kernel (2048x8192 x 512
// tokens, 1 thread, CPU 35.8 vs 89.6 ms). (On a Sapphire Rapids Xeon, where AMX takes these batches, an
// earlier 2 x 8 VDPBF16PS kernel was 1.35x slower than FMA: VDPBF16PS issues at half rate there.)
void widen_f16_avx512(const char* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_store_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + 2 * i)));
  }
}
void widen_bf16_avx512(const char* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_store_ps(dst + i, PolicyBF16Convert::widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, PolicyBF16Convert::widen(_mm256_maskz_loadu_epi16(m, src + 2 * i)));
  }
}
using PackedF16Avx512 = PackedHalfGemm<xsimd::avx512bw, 4, 6, widen_f16_avx512>;
using PackedBF16Avx512 = PackedHalfGemm<xsimd::avx512bw, 4, 6, widen_bf16_avx512>;

// With AMX-BF16 (Sapphire Rapids and later), batches of kAmxHalfMinTokens (32) and more run on BF16 tiles (gemm_amx_half_avx512.h), falling back to the packed FMA kernel for what the tiles cannot take.
// Without AMX, the packed FMA kernel from kHalfPackedMinTokensAvx512 tokens on (see gemm_f32_avx512).
void gemm_f16_avx512(const GemmArgs& a) {
  if (half_dot_tiles(a.n_tokens)) gemm<PolicyF16, 4, 4>(a);
  else if (a.n_tokens >= kAmxHalfMinTokens && amx_bf16_enabled()) AmxHalf<HalfKind::F16>::run(a, PackedF16Avx512::run);
  else PackedF16Avx512::run(a);
}
void gemm_bf16_convert_avx512(const GemmArgs& a) {
  if (half_dot_tiles(a.n_tokens)) gemm<PolicyBF16Convert, 4, 4>(a);
  else if (a.n_tokens >= kAmxHalfMinTokens && amx_bf16_enabled()) AmxHalf<HalfKind::BF16>::run(a, PackedBF16Avx512::run);
  else PackedBF16Avx512::run(a);
}
void gemm_bf16_dot_avx512(const GemmArgs& a) {
  if (half_dot_tiles(a.n_tokens)) gemm<PolicyBF16Dot, 4, 4>(a);
  else if (a.n_tokens >= kAmxHalfMinTokens && amx_bf16_enabled()) AmxHalf<HalfKind::BF16>::run(a, PackedBF16Avx512::run);
  else Bf16PairsGemm::run(a);
}

MatmulKernels make_table() {
  MatmulKernels k{};
  k.name = "avx512";
  k.quantize_row_q8_0 = quantize_row_q8_0_avx512;
  k.fp32_to_fp16_row = fp32_to_fp16_row_avx512;
  k.fp32_to_bf16_row = fp32_to_bf16_row_avx512;
  k.gemm_f32 = gemm_f32_avx512;
  k.gemm_f16 = gemm_f16_avx512;
  k.gemm_bf16 = cpu_has_avx512_bf16() ? gemm_bf16_dot_avx512 : gemm_bf16_convert_avx512;
  k.gemm_q8_0 = gemm_q8_0_avx512;
  k.gemm_q4_0 = gemm_q4_0_avx512;
  k.quantize_row_q8_1 = quantize_row_q8_1_avx512;
  k.gemm_q4_1 = gemm_q4_1_avx512;
  k.gemm_q5_0 = gemm_q5_0_avx512;
  k.gemm_q5_1 = gemm_q5_1_avx512;
  k.gemm_iq4_nl = gemm_iq4_nl_avx512;
  set_kquant_kernels_avx512(k);
  set_lowbit_kernels_avx512(k);
  return k;
}

}  // namespace

const MatmulKernels* avx512_matmul_kernels() {
  static const MatmulKernels k = make_table();
  return &k;
}

// For tests: the BF16 kernel that does not need AVX512-BF16, so both variants can be checked.
const MatmulKernels* avx512_matmul_kernels_no_bf16_dot() {
  static const MatmulKernels k = [] {
    MatmulKernels t = make_table();
    t.gemm_bf16 = gemm_bf16_convert_avx512;
    return t;
  }();
  return &k;
}

}  // namespace kestrel::kernels
