#pragma once
// AMX BF16 tile GEMM for prompt batches of F16 and BF16 weights (TDPBF16PS: C[16 x 16 f32] +=
// A[16 x 32 bf16] . B[32 x 16 bf16], bf16 x bf16 products exact in f32, summed in f32). Used by
// matmul_avx512.cpp when amx_bf16_enabled() and the batch has >= kAmxHalfMinTokens (32) tokens; everything else (decode, CPUs without AMX such as AMD Zen 4/5) keeps the FMA kernels.
// Anonymous namespace: see gemm_tile_avx512.h.
//
// What is computed is the scalar twin's sum of products of the activation and weight values in their
// vec_dot_type (ggml semantics: F16 weights meet F16-rounded activations, BF16 weights BF16 ones):
//  - BF16: A = the bf16 activations, B = the bf16 weights, as they are.
//  - F16: every finite f16 value v is split exactly into two bf16 values, hi = v with its f32 bits
//    truncated to the top 16 and lo = v - hi. f16 has an 11-bit significand, bf16 8 bits: lo holds the
//    remaining <= 3 bits, so lo is exact in bf16, and every f16 value (subnormals included, >= 2^-24) and
//    every nonzero lo (a multiple of 2^-24) is a normal bf16, so the tiles' denormals-are-zero never
//    fires. hi and lo carry v's sign, so |hi| + |lo| = |v|. Then
//      w * x = wh*xh + wh*xl + wl*xh + wl*xl,
//    four bf16 x bf16 products, each exact in f32: the tiles sum exactly the scalar twin's products,
//    split into parts whose magnitudes add up to |w*x|, so the f32 rounding bound is that of an FMA chain
//    over 4 * n_in terms of the same total magnitude (tests/kernels/test_matmul_amx_half.cpp checks the
//    split over all 65536 f16 values and the GEMM against the scalar twin). Layout: an activation pair
//    (xh_k, xl_k) meets weight pairs (wh_k, wh_k) and then (wl_k, wl_k), so one A tile serves both.
//    Infinities and NaNs cannot be split (inf - inf); a panel or a token block that holds one runs on
//    the FMA kernel instead, which gives the IEEE answer (the split would give NaN where inf is due).
//
// Layout and loop: the job's activations are laid out once per (call, token block) per thread as A
// operands, 64 bytes per token and K-step (32 bf16 values, or 16 F16 values as (hi, lo) pairs), 1 KiB
// per 16-token tile and step, zero-padded to whole steps and tiles. Weights are packed per 32-row panel
// and per chunk of kKcValues K values into B tiles (1 KiB each: [pair][row][2 bf16], a 16x16 dword
// transpose of the rows), a group of panels at a time, and each chunk meets every token of the job:
// 2 token tiles x 2 row groups = 4 C tiles, 2 A and 2 B tile loads per 4 multiplies (F16: 2 A and 4 B
// per 8). C tiles go to a [token][32] f32 buffer per panel between chunks and at the end to y.
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12 AVX-512 headers (see matmul_avx512.cpp)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdlib>

#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/avx512/transpose_avx512.h"
#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

// Batches of at least this many tokens take the tiles. Below, the dot-product tiles (which read a
// weight once per 4 tokens, with no packing) give every output the same accumulation as a one-token
// call, bit for bit, which speculative decoding's verify batches (1 + a few drafts) rely on to
// reproduce plain decoding (test Avx512SmallFloatBatchesEqualOneTokenCalls). They are also faster for
// F16 up to ~32 tokens: packing a panel costs the same whatever the batch, and splitting F16 costs more
// than repacking BF16. Measured (bench_matmul --verify-rows, 2048x8192, 2 threads, CPU ms, tiles vs
// KESTREL_AMX=0, load average 6): F16 8 tokens 7.7 vs 2.9, 16: 9.0 vs 5.6, 32: 9.5 vs 11.3, 64: 13.7
// vs 21.4; BF16 8: 2.6 vs 3.2, 16: 2.8 vs 5.5, 32: 3.1 vs 11.8 (BF16 would gain from 8 tokens on, but
// not at the price of the verify batches' identity).
constexpr int64_t kAmxHalfMinTokens = 32;
// K values per packed weight chunk: 512, i.e. 16 BF16 steps (32 KiB of B tiles per 32-row panel) or 32
// F16 steps (128 KiB: hi and lo tiles); a token pair's A operands of a chunk are 32 / 64 KiB. Panels per
// group: the group's B tiles of a chunk (256 KiB / 1 MiB) stay in L2 while the token pairs pass.
// Measured (1 thread, 512 tokens, CPU ms, loaded machine, two rounds): F16 2048x2048 13.3-13.6 at 512
// values vs 14.6-15.4 at 256 and 19.4 at 1024; BF16 within noise between 256 and 1024.
constexpr int64_t kKcValues = 512;
constexpr int kGroupPanels = 8;

enum class HalfKind { BF16, F16 };

// The two f32 bit patterns whose top halves are the exact bf16 split of f32 value v (v an f16 value):
// hi = top 16 bits of v, lo = v - hi (exact in f32 and in bf16, see above).
inline void split_f16_values(__m512 v, __m512i* hi, __m512i* lo) {
  const __m512i bits = _mm512_castps_si512(v);
  *hi = _mm512_and_si512(bits, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
  *lo = _mm512_castps_si512(_mm512_sub_ps(v, _mm512_castsi512_ps(*hi)));
}

// Lanes whose f32 value is inf or NaN.
inline __mmask16 nonfinite_lanes(__m512 v) {
  const __m512i e = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7F800000));
  return _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(0x7F800000));
}

// 16 f16 values (n <= 16 of them real, the rest 0) as f32.
inline __m512 load_f16x16(const char* p, int64_t n) {
  const __mmask16 m = n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

// 32 bf16 values (n <= 32 real, the rest 0).
inline __m512i load_bf16x32(const char* p, int64_t n) {
  const __mmask32 m = n >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1ull << n) - 1);
  return _mm512_maskz_loadu_epi16(m, p);
}

template <HalfKind K>
struct AmxHalf {
  static constexpr int64_t kStepValues = K == HalfKind::BF16 ? 32 : 16;  // original K values per step
  static constexpr int64_t kKcSteps = kKcValues / kStepValues;
  static constexpr int kParts = K == HalfKind::BF16 ? 1 : 2;             // weight tiles per step (hi, lo)
  static constexpr size_t kTileBytes = 1024;
  // Packed chunk: [step][part][group][16 pairs][16 rows][2 bf16].
  static constexpr size_t kStepBytes = kParts * 2 * kTileBytes;

  static int64_t steps(int64_t n_in) { return (n_in + kStepValues - 1) / kStepValues; }

  // Lays out the job's activations (see the header comment). Returns false if an F16 value is not
  // finite (the caller then takes the FMA kernel).
  // Layout [token tile][step][16 tokens][64 bytes]: a tile's A operand is 1 KiB in one piece, and a
  // token tile's steps follow each other, so the K loop reads one sequential stream per token tile
  // (rows of a 16-row strided tile load were 40% of the kernel's samples, waiting on L3).
  static bool build_a(const GemmArgs& a, uint8_t* out) {
    const int64_t ns = steps(a.n_in), tpad = (a.n_tokens + 15) / 16 * 16;
    __mmask16 bad = 0;
    for (int64_t t = 0; t < tpad; ++t) {
      uint8_t* row = out + (t / 16) * ns * 1024 + (t % 16) * 64;  // + 1024 * step
      if (t >= a.n_tokens) {
        for (int64_t s = 0; s < ns; ++s) _mm512_store_si512(row + 1024 * s, _mm512_setzero_si512());
        continue;
      }
      const char* x = static_cast<const char*>(a.x) + t * a.x_row_bytes;
      for (int64_t s = 0; s < ns; ++s) {
        const int64_t k0 = s * kStepValues, n = a.n_in - k0;
        if constexpr (K == HalfKind::BF16) {
          _mm512_store_si512(row + 1024 * s, load_bf16x32(x + 2 * k0, n));
        } else {
          const __m512 v = load_f16x16(x + 2 * k0, n);
          bad |= nonfinite_lanes(v);
          __m512i hi, lo;
          split_f16_values(v, &hi, &lo);
          // dword k: xh_k in the low half (the even element of the pair), xl_k in the high half
          const __m512i pair = _mm512_or_si512(_mm512_srli_epi32(hi, 16),
                                               _mm512_and_si512(lo, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
          _mm512_store_si512(row + 1024 * s, pair);
        }
      }
    }
    return bad == 0;
  }

  // B tiles of K-steps [s0, s0 + ns) for the panel rows [r0, r0 + rows) (rows <= 32; missing rows 0).
  // Returns false if an F16 weight is not finite.
  static bool pack(const GemmArgs& a, int64_t r0, int rows, int64_t s0, int64_t ns, uint8_t* panel) {
    __mmask16 bad = 0;
    const int groups = rows > 16 ? 2 : 1;
    for (int64_t s = 0; s < ns; ++s) {
      const int64_t k0 = (s0 + s) * kStepValues, n = a.n_in - k0;
      for (int g = 0; g < groups; ++g) {
        // BF16: dword p of a row is the pair (w_2p, w_2p+1). F16: the row's 16 values as f32, split after
        // the transpose (one transpose instead of one per part).
        __m512i in[16], out[16];
        for (int r = 0; r < 16; ++r) {
          const int row = 16 * g + r;
          if (row >= rows) {
            in[r] = _mm512_setzero_si512();
            continue;
          }
          const char* w = static_cast<const char*>(a.w) + (r0 + row) * a.w_row_bytes + 2 * k0;
          if constexpr (K == HalfKind::BF16) {
            in[r] = load_bf16x32(w, n);
          } else {
            const __m512 v = load_f16x16(w, n);
            bad |= nonfinite_lanes(v);
            in[r] = _mm512_castps_si512(v);
          }
        }
        transpose16x16_epi32(in, out);
        uint8_t* tile = panel + s * kStepBytes + g * kTileBytes;
        if constexpr (K == HalfKind::BF16) {
          for (int q = 0; q < 16; ++q) _mm512_store_si512(tile + 64 * q, out[q]);
        } else {
          // dword of row n = (wh_k, wh_k) in the hi tile, (wl_k, wl_k) in the lo tile: both halves of
          // the pair meet (xh_k, xl_k)
          for (int q = 0; q < 16; ++q) {
            __m512i hi, lo;
            split_f16_values(_mm512_castsi512_ps(out[q]), &hi, &lo);
            lo = _mm512_and_si512(lo, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
            _mm512_store_si512(tile + 64 * q, _mm512_or_si512(hi, _mm512_srli_epi32(hi, 16)));
            _mm512_store_si512(tile + 2 * kTileBytes + 64 * q, _mm512_or_si512(lo, _mm512_srli_epi32(lo, 16)));
          }
        }
      }
    }
    return bad == 0;
  }

  // C tiles tmm0..3 = (token tile i, group j) at 2i + j; A tiles tmm4, tmm5; B tiles tmm6, tmm7.
  // kT2: a second token tile, kG2: a second row group.
  template <bool kT2, bool kG2>
  // a0: token tile 0's A operand of the chunk's first step; a1 = a0 + a_next (the next token tile's).
  static void block(const uint8_t* a0, size_t a_next, const uint8_t* panel, int64_t ns, bool first, float* acc) {
    constexpr size_t kAccStride = 32 * sizeof(float);
    if (first) {
      _tile_zero(0);
      if constexpr (kG2) _tile_zero(1);
      if constexpr (kT2) _tile_zero(2);
      if constexpr (kT2 && kG2) _tile_zero(3);
    } else {
      _tile_loadd(0, acc, kAccStride);
      if constexpr (kG2) _tile_loadd(1, acc + 16, kAccStride);
      if constexpr (kT2) _tile_loadd(2, acc + 16 * 32, kAccStride);
      if constexpr (kT2 && kG2) _tile_loadd(3, acc + 16 * 32 + 16, kAccStride);
    }
    const uint8_t* a1 = a0 + a_next;
    for (int64_t s = 0; s < ns; ++s) {
      _tile_loadd(4, a0 + 1024 * s, 64);
      if constexpr (kT2) _tile_loadd(5, a1 + 1024 * s, 64);
      for (int p = 0; p < kParts; ++p) {
        const uint8_t* b = panel + s * kStepBytes + p * 2 * kTileBytes;
        _tile_loadd(6, b, 64);
        if constexpr (kG2) _tile_loadd(7, b + kTileBytes, 64);
        _tile_dpbf16ps(0, 4, 6);
        if constexpr (kG2) _tile_dpbf16ps(1, 4, 7);
        if constexpr (kT2) _tile_dpbf16ps(2, 5, 6);
        if constexpr (kT2 && kG2) _tile_dpbf16ps(3, 5, 7);
      }
    }
    _tile_stored(0, acc, kAccStride);
    if constexpr (kG2) _tile_stored(1, acc + 16, kAccStride);
    if constexpr (kT2) _tile_stored(2, acc + 16 * 32, kAccStride);
    if constexpr (kT2 && kG2) _tile_stored(3, acc + 16 * 32 + 16, kAccStride);
  }

  // The whole job, in groups of up to kGroupPanels 32-row panels: per chunk of kKcValues K values, the
  // group's B tiles are packed, then every token pair meets every panel of the group while its A
  // operands of the chunk (32 / 64 KiB) stay in L1 / L2. Reading A once per panel instead (A of a 512-token block
  // is 2-4 MiB, beyond L2) left the tile loads waiting on L3 half of the time. Panels (or, for a
  // non-finite F16 activation, the whole job) that the tiles cannot take go to `fallback` (the FMA
  // kernel) with the same arguments restricted to their rows.
  static void run(const GemmArgs& a, GemmFn fallback) {
    const int64_t ns_all = steps(a.n_in), tpad = (a.n_tokens + 15) / 16 * 16;
    const size_t tile_bytes = static_cast<size_t>(ns_all) * 1024;  // one token tile's A operands
    thread_local AlignedBuffer t_a, t_b, t_acc;
    thread_local TablesKeyHalf key;
    uint8_t* abuf = static_cast<uint8_t*>(t_a.get(static_cast<size_t>(tpad / 16) * tile_bytes));
    // The A operands depend only on the activations: once per (call, token block) per thread.
    if (a.call_id == 0 || a.call_id != key.call_id || a.x != key.x || a.n_tokens != key.n_tokens ||
        a.n_in != key.n_in || K != key.kind) {
      const bool finite = build_a(a, abuf);
      key = TablesKeyHalf{a.call_id, a.x, a.n_tokens, a.n_in, K, finite};
    }
    if (!key.finite) return fallback(a);
    const int64_t kc = ns_all < kKcSteps ? ns_all : kKcSteps;
    const size_t chunk_bytes = static_cast<size_t>(kc) * kStepBytes;  // one panel's B tiles of a chunk
    uint8_t* panels = static_cast<uint8_t*>(t_b.get(kGroupPanels * chunk_bytes));
    const size_t acc_floats = static_cast<size_t>(tpad) * 32;  // one panel's [token][32] sums
    float* acc = static_cast<float*>(t_acc.get(kGroupPanels * acc_floats * sizeof(float)));
    amx_configure_bf16();
    for (int64_t g0 = a.row_begin; g0 < a.row_end; g0 += 32 * kGroupPanels) {
      const int64_t g1 = a.row_end - g0 < 32 * kGroupPanels ? a.row_end : g0 + 32 * kGroupPanels;
      const int np = static_cast<int>((g1 - g0 + 31) / 32);
      bool ok[kGroupPanels];
      for (int p = 0; p < np; ++p) ok[p] = true;
      auto rows_of = [&](int p) { return static_cast<int>(g1 - (g0 + 32 * p) < 32 ? g1 - (g0 + 32 * p) : 32); };
      for (int64_t s0 = 0; s0 < ns_all; s0 += kc) {
        const int64_t ns = ns_all - s0 < kc ? ns_all - s0 : kc;
        for (int p = 0; p < np; ++p)
          if (ok[p]) ok[p] = pack(a, g0 + 32 * p, rows_of(p), s0, ns, panels + p * chunk_bytes);
        const bool first = s0 == 0;
        for (int64_t t0 = 0; t0 < tpad; t0 += 32) {
          const uint8_t* a0 = abuf + (t0 / 16) * tile_bytes + 1024 * s0;
          const bool two = t0 + 32 <= tpad;
          for (int p = 0; p < np; ++p) {
            if (!ok[p]) continue;
            const uint8_t* b = panels + p * chunk_bytes;
            float* c = acc + p * acc_floats + t0 * 32;
            const bool g2 = rows_of(p) > 16;
            if (two && g2) block<true, true>(a0, tile_bytes, b, ns, first, c);
            else if (two) block<true, false>(a0, tile_bytes, b, ns, first, c);
            else if (g2) block<false, true>(a0, tile_bytes, b, ns, first, c);
            else block<false, false>(a0, tile_bytes, b, ns, first, c);
          }
        }
      }
      for (int p = 0; p < np; ++p) {
        const int64_t r0 = g0 + 32 * p;
        const int rows = rows_of(p);
        if (!ok[p]) {
          _tile_release();  // the FMA kernel needs no tiles
          GemmArgs sub = a;
          sub.row_begin = r0;
          sub.row_end = r0 + rows;
          fallback(sub);
          amx_configure_bf16();
          continue;
        }
        const float* c = acc + p * acc_floats;
        const __mmask16 m0 = rows >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << rows) - 1);
        const __mmask16 m1 = rows >= 32 ? 0xFFFF : rows <= 16 ? 0 : static_cast<__mmask16>((1u << (rows - 16)) - 1);
        for (int64_t t = 0; t < a.n_tokens; ++t) {
          float* yt = a.y + t * a.ldy + r0;
          _mm512_mask_storeu_ps(yt, m0, _mm512_load_ps(c + t * 32));
          if (m1) _mm512_mask_storeu_ps(yt + 16, m1, _mm512_load_ps(c + t * 32 + 16));
        }
      }
    }
    _tile_release();
  }

  struct TablesKeyHalf {
    uint64_t call_id = 0;
    const void* x = nullptr;
    int64_t n_tokens = 0, n_in = 0;
    HalfKind kind = HalfKind::BF16;
    bool finite = false;
  };

  // Every tile 16 rows x 64 bytes (C: 16 x 16 f32, A: 16 tokens x 32 bf16, B: 16 pairs x 16 rows).
  static void amx_configure_bf16() {
    alignas(64) uint8_t cfg[64] = {};
    cfg[0] = 1;  // palette 1
    for (int i = 0; i < 8; ++i) {
      cfg[16 + 2 * i] = 64;  // colsb[i] (little-endian uint16)
      cfg[48 + i] = 16;      // rows[i]
    }
    _tile_loadconfig(cfg);
  }
};

}  // namespace
}  // namespace kestrel::kernels
