#pragma once
// Packed GEMM for prompt batches of F16 and BF16 weights, written once over an xsimd architecture A and
// instantiated by the ISA files (kernels/avx2/matmul_avx2.cpp, kernels/avx512/matmul_avx512.cpp,
// kernels/neon/matmul_neon.cpp) with their own widening function (16-bit float -> f32: F16C, AVX-512
// VCVTPH2PS or NEON FCVTL for F16; a 16-bit shift for BF16).
//
// Outer-product form, as the AVX-512 F32 and integer batch kernels: each job widens a panel of
// kRows = G * W weight rows (W = f32 lanes) to f32 laid out [k][kRows], once, and every token tile of
// the job reuses it from L2; per k, G aligned panel loads and T broadcast activations feed G * T FMAs
// into register accumulators. Activations stay 16-bit in the job's rows (matmul.cpp converted them)
// and are widened per token tile kKc values at a time into an L1 buffer: one conversion per G * W
// FMAs. A weight value is thus converted once per job instead of once per (token tile, step) as in the
// dot-product form, whose conversions otherwise compete with the FMAs for the same ports.
//
// Results: each output is one f32 FMA chain over k = 0 .. n_in-1 of the products the scalar twin forms
// (fp16/bf16 x fp16/bf16 products are exact in f32), so it differs from the twin's double sum by f32
// rounding of the running sum only (tests/kernels/test_matmul.cpp bounds it).
//
// Only the ISA files include this header. Everything is in an anonymous namespace, so each of them has
// its own copy and no function compiled with one ISA's flags can be picked by the linker for another.
#include <cstddef>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "kernels/aligned_buffer.h"
#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

// dst[i] = the f32 value of the i-th 16-bit float at src (src need not be 2-byte aligned).
using WidenHalfFn = void (*)(const char* src, float* dst, int64_t n);

// Batches of at least this many tokens take the packed kernel (fewer: the dot-product tiles).
constexpr int64_t kPackedHalfMinTokens = 8;

template <class A, int G, int T, WidenHalfFn kWiden>
struct PackedHalfGemm {
  using F = xsimd::batch<float, A>;
  static constexpr int W = static_cast<int>(F::size);
  static constexpr int kRows = G * W;
  static constexpr int64_t kKc = 256;  // activation values widened per token and step (T KiB in L1)

  static const char* wrow(const GemmArgs& a, int64_t r) { return static_cast<const char*>(a.w) + r * a.w_row_bytes; }
  static const char* xrow(const GemmArgs& a, int64_t t) { return static_cast<const char*>(a.x) + t * a.x_row_bytes; }

  // Panel of rows [r0, r0 + rows), rows <= kRows: panel[k * kRows + r]; missing rows are 0. Widened
  // kPackK values of every row at a time into an L1 block, then written out k-major: writing the
  // panel column by column straight from the rows touched a new cache line per value.
  static constexpr int64_t kPackK = 64;
  static void pack(const GemmArgs& a, int64_t r0, int rows, float* panel, float* block) {
    for (int64_t k0 = 0; k0 < a.n_in; k0 += kPackK) {
      const int64_t kb = a.n_in - k0 < kPackK ? a.n_in - k0 : kPackK;
      for (int r = 0; r < rows; ++r) kWiden(wrow(a, r0 + r) + 2 * k0, block + r * kPackK, kb);
      for (int64_t k = 0; k < kb; ++k) {
        float* pk = panel + (k0 + k) * kRows;
        for (int r = 0; r < rows; ++r) pk[r] = block[r * kPackK + k];
        for (int r = rows; r < kRows; ++r) pk[r] = 0.0f;
      }
    }
  }

  template <int TT>
  static void tile(const GemmArgs& a, const float* panel, int64_t r0, int rows, int64_t t0, float* xbuf) {
    F acc[G][TT];
    for (int g = 0; g < G; ++g)
      for (int t = 0; t < TT; ++t) acc[g][t] = F(0.0f);
    for (int64_t k0 = 0; k0 < a.n_in; k0 += kKc) {
      const int64_t kc = a.n_in - k0 < kKc ? a.n_in - k0 : kKc;
      for (int t = 0; t < TT; ++t) kWiden(xrow(a, t0 + t) + 2 * k0, xbuf + t * kKc, kc);
      const float* pk = panel + k0 * kRows;
      for (int64_t k = 0; k < kc; ++k, pk += kRows) {
        F w[G];
        for (int g = 0; g < G; ++g) w[g] = F::load_aligned(pk + g * W);
        for (int t = 0; t < TT; ++t) {
          const F xb(xbuf[t * kKc + k]);
          for (int g = 0; g < G; ++g) acc[g][t] = xsimd::fma(w[g], xb, acc[g][t]);
        }
      }
    }
    for (int t = 0; t < TT; ++t) {
      float* yt = a.y + (t0 + t) * a.ldy + r0;
      if (rows == kRows) {
        for (int g = 0; g < G; ++g) acc[g][t].store_unaligned(yt + g * W);
      } else {  // never write past the job's rows (the next rows belong to another job)
        alignas(64) float buf[kRows];
        for (int g = 0; g < G; ++g) acc[g][t].store_aligned(buf + g * W);
        for (int r = 0; r < rows; ++r) yt[r] = buf[r];
      }
    }
  }

  template <int TT>
  static void tail(const GemmArgs& a, const float* panel, int64_t r0, int rows, int64_t t0, float* xbuf, int n) {
    if constexpr (TT > 0) {
      if (n == TT) tile<TT>(a, panel, r0, rows, t0, xbuf);
      else tail<TT - 1>(a, panel, r0, rows, t0, xbuf, n);
    }
  }

  static void run(const GemmArgs& a) {
    thread_local AlignedBuffer panel_buf, block_buf, x_buf;
    float* panel = static_cast<float*>(panel_buf.get(static_cast<size_t>(a.n_in) * kRows * sizeof(float)));
    float* block = static_cast<float*>(block_buf.get(static_cast<size_t>(kRows * kPackK) * sizeof(float)));
    float* xbuf = static_cast<float*>(x_buf.get(static_cast<size_t>(T * kKc) * sizeof(float)));
    for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kRows) {
      const int rows = static_cast<int>(a.row_end - r0 < kRows ? a.row_end - r0 : kRows);
      pack(a, r0, rows, panel, block);
      int64_t t0 = 0;
      for (; t0 + T <= a.n_tokens; t0 += T) tile<T>(a, panel, r0, rows, t0, xbuf);
      if (t0 < a.n_tokens) tail<T - 1>(a, panel, r0, rows, t0, xbuf, static_cast<int>(a.n_tokens - t0));
    }
  }
};

}  // namespace
}  // namespace kestrel::kernels
