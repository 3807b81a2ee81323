#pragma once
// llama.cpp's CPU flash attention for an F16 KV cache and a batch of >= kFaTileTokens tokens (its
// default: flash attention on, F16 K and V), in its order: ggml_compute_forward_flash_attn_ext_tiled
// (ggml-cpu/ops.cpp, llama.cpp's ggml_fa_tile_config Q = KV = 64, simd_gemm from simd-gemm.h). Per query
// row (token, head), over the KV cells in tiles of 64 cells counted from cell 0 (cell = position):
//   kq[c]  = one FMA chain over d = 0..head_dim-1 of q[d] * float(K[c][d])   (q stays F32; simd_gemm)
//   kq    *= scale                      (softcap: see below)
//   masked cells (outside the causal / sliding window) are -inf
//   tile_max = max(kq); a row with tile_max = -inf takes nothing from this tile
//   M' = fmaxf(M, tile_max); if M' > M: acc *= expf(M - M'), S *= expf(M - M')
//   p[c] = ggml_v_expf(kq[c] - M'); S = float(double(S) + sum over the tile's four 16-cell chunks, in
//          double, of each chunk's _mm512_reduce_add_ps)   (ggml_vec_soft_max_f32)
//   acc[d] = one FMA chain over the tile's 64 cells of p[c] * float(V[c][d]), continuing acc (simd_gemm)
//   out = acc * (1 / S)
// Masked cells inside a visited tile add exact zeros (p = 0 in the chain, 0 in the sums), so only the
// visible cells are loaded; the cells of a tile that are not loaded are zeros in both tile buffers.
// Tiles with no visible cell for a row leave it unchanged (llama.cpp skips them or adds zeros), so the
// result of a row depends only on its own position: any grouping of rows into tasks gives the same
// bits. Written as scalar std::fma code, the same source for every ISA (each ISA file instantiates it
// with its own flags; the compiler vectorizes the loops over cells and over d), so every ISA's result is
// the scalar twin's bit for bit. Anonymous namespace: see attention_impl.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/attention_impl.h"
#include "kernels/ops_isa.h"

namespace kestrel::kernels::attention_detail {
namespace {
namespace fa_order {

inline constexpr int64_t kTile = 64;

// IEEE half to float, exact (normals and subnormals by one multiply by 2^112), branch-free so the
// compiler vectorizes the tile conversions.
inline float half_to_float(uint16_t h) {
  const uint32_t em = static_cast<uint32_t>(h & 0x7fffu) << 13;
  float f;
  uint32_t bits = em;
  std::memcpy(&f, &bits, 4);
  f *= 0x1p112f;
  std::memcpy(&bits, &f, 4);
  bits = em >= (0x7c00u << 13) ? (em | 0x7f800000u) : bits;
  bits |= static_cast<uint32_t>(h & 0x8000u) << 16;
  std::memcpy(&f, &bits, 4);
  return f;
}

// C[m x n] += A[m x k] * B[k x n]: every C element is one FMA chain over k in ascending order, as
// llama.cpp's simd_gemm (its register tiling does not change the per-element order). Rows of A are
// taken two at a time so each B row is read once per pair.
inline void gemm_acc(float* c, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  int64_t i = 0;
  for (; i + 2 <= m; i += 2) {
    float* c0 = c + i * n;
    float* c1 = c0 + n;
    const float* a0 = a + i * k;
    const float* a1 = a0 + k;
    for (int64_t kk = 0; kk < k; ++kk) {
      const float x0 = a0[kk], x1 = a1[kk];
      const float* br = b + kk * n;
      for (int64_t j = 0; j < n; ++j) {
        c0[j] = std::fma(x0, br[j], c0[j]);
        c1[j] = std::fma(x1, br[j], c1[j]);
      }
    }
  }
  for (; i < m; ++i) {
    float* c0 = c + i * n;
    const float* a0 = a + i * k;
    for (int64_t kk = 0; kk < k; ++kk) {
      const float x0 = a0[kk];
      const float* br = b + kk * n;
      for (int64_t j = 0; j < n; ++j) c0[j] = std::fma(x0, br[j], c0[j]);
    }
  }
}

// The ISA's own gemm_acc (the same per-element order, register-tiled) where its primitives have one.
template <class P>
inline void gemm(float* c, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  if constexpr (requires { P::fa_gemm_acc(c, a, b, m, k, n); }) P::fa_gemm_acc(c, a, b, m, k, n);
  else gemm_acc(c, a, b, m, k, n);
}

// e[0..16) = ggml_v_expf(e - m), returning _mm512_reduce_add_ps of them (tree16): the ISA's own where its
// primitives have one (AVX-512: ggml's instruction sequence), else lane by lane.
template <class P>
inline float exp_tree16(float* e, float m) {
  if constexpr (requires { P::fa_exp_tree16(e, m); }) {
    return P::fa_exp_tree16(e, m);
  } else {
    for (int l = 0; l < 16; ++l) e[l] = ggml_order::v_expf(e[l] - m);
    return ggml_order::tree16(e);
  }
}

}  // namespace fa_order
}  // namespace

template <class P>  // P: an ISA's primitives (fa_gemm_acc, fa_exp_tree16, if it has them); each ISA file has its own copy
void attend_block_fa(const AttendBlockArgs& a) {
  using namespace fa_order;
  const int64_t hd = a.head_dim, nq = a.n_q, rows = a.n_tok * nq;
  const uint16_t* k = static_cast<const uint16_t*>(a.k);
  const uint16_t* v = static_cast<const uint16_t*>(a.v);
  float* qb = a.scratch;          // rows x hd: the queries, row r = token r / nq, head r % nq
  float* acc = qb + rows * hd;    // rows x hd
  float* kt = acc + rows * hd;    // hd x kTile: the tile's keys, transposed
  float* vt = kt + hd * kTile;    // kTile x hd: the tile's values
  float* kq = vt + kTile * hd;    // rows x kTile: scores, then probabilities
  float* mx = kq + rows * kTile;  // rows: running maximum M
  float* sm = mx + rows;          // rows: running sum S
  for (int64_t t = 0; t < a.n_tok; ++t)
    std::memcpy(qb + t * nq * hd, a.q + t * a.q_stride, static_cast<size_t>(nq * hd) * sizeof(float));
  for (int64_t i = 0; i < rows * hd; ++i) acc[i] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) mx[r] = -INFINITY, sm[r] = 0.0f;
  auto first_of = [&](int64_t p) { return a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : int64_t{0}; };
  const int64_t lo = first_of(a.pos0), hi = a.pos0 + a.n_tok - 1;
  const float inv_cap = a.softcap > 0.0f ? 1.0f / a.softcap : 0.0f;
  for (int64_t c0 = lo / kTile * kTile; c0 <= hi; c0 += kTile) {
    const int64_t j0 = std::max(c0, lo), j1 = std::min(c0 + kTile, hi + 1);
    // Cells of the tile that are not loaded are zeros (only edge tiles have such cells).
    for (int64_t c = 0; c < kTile; ++c) {
      if (c0 + c >= j0 && c0 + c < j1) continue;
      for (int64_t d = 0; d < hd; ++d) kt[d * kTile + c] = 0.0f;
      for (int64_t d = 0; d < hd; ++d) vt[c * hd + d] = 0.0f;
    }
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t row = a.ring > 0 ? j % a.ring : j;
      const uint16_t* kr = k + row * a.stride;
      const uint16_t* vr = v + row * a.stride;
      float* vd = vt + (j - c0) * hd;
      for (int64_t d = 0; d < hd; ++d) kt[d * kTile + (j - c0)] = half_to_float(kr[d]);
      for (int64_t d = 0; d < hd; ++d) vd[d] = half_to_float(vr[d]);
    }
    for (int64_t i = 0; i < rows * kTile; ++i) kq[i] = 0.0f;
    gemm<P>(kq, qb, kt, rows, hd, kTile);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t p = a.pos0 + r / nq, f = first_of(p);
      float* s = kq + r * kTile;
      if (a.softcap > 0.0f) {
        // cap * tanh(s * (1 / cap)), then the scale (Kestrel's meaning of softcap; llama.cpp's fused
        // scale / cap is the same float when scale is 1, as in Gemma 2's graph, which pre-scales q).
        for (int64_t c = 0; c < kTile; ++c) s[c] = a.softcap * __builtin_tanhf(s[c] * inv_cap);
        if (a.scale != 1.0f)
          for (int64_t c = 0; c < kTile; ++c) s[c] *= a.scale;
      } else {
        for (int64_t c = 0; c < kTile; ++c) s[c] *= a.scale;
      }
      float tile_max = -INFINITY;
      for (int64_t c = 0; c < kTile; ++c) {
        if (c0 + c < f || c0 + c > p) s[c] = -INFINITY;
        tile_max = tile_max > s[c] ? tile_max : s[c];
      }
      if (tile_max == -INFINITY) {
        for (int64_t c = 0; c < kTile; ++c) s[c] = 0.0f;
        continue;
      }
      const float m_new = std::fmax(mx[r], tile_max);
      if (m_new > mx[r]) {
        const float ms = __builtin_expf(mx[r] - m_new);
        float* ar = acc + r * hd;
        for (int64_t d = 0; d < hd; ++d) ar[d] *= ms;
        sm[r] *= ms;
      }
      mx[r] = m_new;
      double sum = 0;
      for (int64_t c = 0; c < kTile; c += 16) sum += static_cast<double>(exp_tree16<P>(s + c, m_new));
      sm[r] = static_cast<float>(static_cast<double>(sm[r]) + sum);
    }
    gemm<P>(acc, kq, vt, rows, kTile, hd);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = sm[r] == 0.0f ? 0.0f : 1.0f / sm[r];
    const float* ar = acc + r * hd;
    float* o = a.out + (r / nq) * a.q_stride + (r % nq) * hd;
    for (int64_t d = 0; d < hd; ++d) o[d] = ar[d] * inv;
  }
}

}  // namespace kestrel::kernels::attention_detail
