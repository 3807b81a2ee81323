#pragma once
// The packed integer GEMM for prompt batches, shared by the AVX-512 block-type kernels (Q8_0, Q4_0 in
// matmul_avx512.cpp; Q4_1, Q5_0, Q5_1, IQ4_NL in matmul_q32_avx512.cpp). Anonymous namespace: see
// gemm_tile_avx512.h.
//
// For n_tokens >= kPackedMinTokens the kernels switch to an outer-product form: a panel of 32 weight
// rows is repacked (once per job, reused by every token) so that one zmm holds the same 4 consecutive
// values of 16 different rows, as unsigned bytes u = w + off (off = 8 for Q4_0, whose nibbles already
// are w + 8; 128 for Q8_0 and IQ4_NL; 16 for Q5_0; 0 for Q4_1/Q5_1, whose values are unsigned). Four
// activation bytes are broadcast to all lanes, so a VPDPBUSD advances 16 rows' dot products by 4 values,
// and after 8 of them every lane holds its row's integer block sum. The offset is removed by starting
// the block's chain at -off * sum(x_block), a per-(token, block) constant precomputed once per job. The
// per-block float work (convert, scale, accumulate; plus m_w * s_x for the types with a minimum) is
// then one instruction each per 16 rows instead of per row (PackedOrder::kBlockChain).
//
// PackedOrder::kX86Lanes sums in llama.cpp's x86 order instead (kernels/x86_lane_order.h; its tinyBLAS
// runs every Q8_0 / Q5_0 batch of >= 2 tokens this way): the same panel and VPDPBUSDs, but each of the 8
// dword steps of a block is its own chain (started at -off * the sum of that dword's 4 activations) and
// its own f32 accumulator per 16 rows and token, lane_k = fma(d_w * d_x, float(isum_k), lane_k), summed
// by hsum's tree at the end: per 16 rows x token x block 8 VPDPBUSD + 8 converts + 8 FMAs instead of
// 8 + 1 + 1. Register tile: one 16-row group x kLaneTokens tokens (8 accumulators each).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/gemm_amx_avx512.h"
#include "kernels/avx512/gemm_tile_avx512.h"
#include "kernels/avx512/transpose_avx512.h"
#include "kernels/quant.h"

namespace kestrel::kernels {
namespace {

constexpr int64_t kPackedMinTokens = 8;
constexpr int kPanelRows = 32;                        // two zmm groups of 16 rows
constexpr size_t kPanelWeightBytes = 2 * 8 * 16 * 4;  // [group][k][row][4 bytes]
constexpr size_t kPanelScaleBytes = 2 * 16 * sizeof(float);
// + [group][row] scales, + [group][row] minimums (used by the types that have one)
constexpr size_t kPanelBlockBytes = kPanelWeightBytes + 2 * kPanelScaleBytes;
constexpr int kPackedTokens = 6;                      // token tile: 2 groups x 6 tokens x 2 = 24 zmm

// Activation block formats the packed kernel reads: where the 32 int8 values sit, and whether the block
// carries s = d * sum(q) (Q8_1).
struct ActQ8_0 {
  static constexpr int64_t kBlockBytes = 34;
  static constexpr int64_t kQsOffset = 2;
  static constexpr bool kHasSum = false;
};
struct ActQ8_1 {
  static constexpr int64_t kBlockBytes = 36;
  static constexpr int64_t kQsOffset = 4;
  static constexpr bool kHasSum = true;
};

// Unpacks weight block b of a row to 32 unsigned bytes u = w + off, its scale and (types with one) its
// minimum.
using UnpackFn = void (*)(const char* row, int64_t b, uint8_t* out, float* d, float* m);

thread_local AlignedBuffer t_panel, t_tables;
// What t_tables currently holds (see gemm_packed).
struct TablesKey {
  uint64_t call_id = 0;
  const void* x = nullptr;
  int32_t off = 0;
  int64_t n_tokens = 0, nb = 0;
  int32_t hi_mul = 1;  // lane_tables: the factor of dwords 4..7
};
thread_local TablesKey t_tables_key;

// Panel of rows [r0, r0 + rows), rows <= 32; missing rows get scale 0 so they contribute nothing.
// Two blocks at a time: each row's 2 x 32 unpacked bytes are one zmm of 16 dwords, and a 16x16 dword
// transpose gives both blocks' [k][row] vectors.
template <UnpackFn Unpack>
void pack_panel(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel) {
  alignas(64) uint8_t tmp[kPanelRows][64];
  for (int64_t b = 0; b < nb; b += 2) {
    const int nblk = b + 1 < nb ? 2 : 1;
    if (nblk == 1)
      for (auto& r : tmp) std::memset(r + 32, 0, 32);  // the transpose reads it; its output is dropped
    for (int h = 0; h < nblk; ++h) {
      uint8_t* pb = panel + (b + h) * kPanelBlockBytes;
      float* scales = reinterpret_cast<float*>(pb + kPanelWeightBytes);
      float* mins = reinterpret_cast<float*>(pb + kPanelWeightBytes + kPanelScaleBytes);
      for (int r = 0; r < kPanelRows; ++r) {
        if (r < rows) {
          Unpack(static_cast<const char*>(a.w) + (r0 + r) * a.w_row_bytes, b + h, tmp[r] + 32 * h, &scales[r], &mins[r]);
        } else {
          std::memset(tmp[r] + 32 * h, 0, 32);
          scales[r] = 0.0f;
          mins[r] = 0.0f;
        }
      }
    }
    for (int g = 0; g < 2; ++g) {
      __m512i in[16], out[16];
      for (int l = 0; l < 16; ++l) in[l] = _mm512_load_si512(tmp[16 * g + l]);
      transpose16x16_epi32(in, out);
      for (int h = 0; h < nblk; ++h)
        for (int k = 0; k < 8; ++k) _mm512_store_si512(panel + (b + h) * kPanelBlockBytes + (g * 8 + k) * 64, out[8 * h + k]);
    }
  }
}

// Per (block, token) of the job: -off * sum(x), the activation scale and (Q8_1) s, laid out [b][t].
template <class Act>
void build_token_tables(const GemmArgs& a, int64_t nb, int32_t off, int32_t* corr, float* dx, float* sx) {
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const char* row = static_cast<const char*>(a.x) + t * a.x_row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const char* blk = row + b * Act::kBlockBytes;
      // sum of 32 int8: SAD of (x + 128) against zero, minus 32 * 128.
      const __m256i q = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + Act::kQsOffset)),
                                         _mm256_set1_epi8(static_cast<char>(0x80)));
      const __m256i sad = _mm256_sad_epu8(q, _mm256_setzero_si256());
      const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
      const int32_t sum = static_cast<int32_t>(_mm_cvtsi128_si32(s2) + _mm_extract_epi32(s2, 2)) - 32 * 128;
      corr[b * a.n_tokens + t] = -off * sum;
      dx[b * a.n_tokens + t] = h2f(blk);
      if constexpr (Act::kHasSum) sx[b * a.n_tokens + t] = h2f(blk + 2);
    }
  }
}

template <int T, class Act, bool kMin>
void packed_tile(const GemmArgs& a, const uint8_t* panel, int64_t nb, const int32_t* corr, const float* dx,
                 const float* sx, int64_t r0, int rows, int64_t t0) {
  const char* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes + Act::kQsOffset;
  __m512 acc[2][T];
  for (int g = 0; g < 2; ++g)
    for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = panel + b * kPanelBlockBytes;
    const int32_t* cb = corr + b * a.n_tokens + t0;
    const float* db = dx + b * a.n_tokens + t0;
    __m512i is0[T], is1[T];
    for (int t = 0; t < T; ++t) is0[t] = is1[t] = _mm512_set1_epi32(cb[t]);
    for (int k = 0; k < 8; ++k) {
      const __m512i w0 = _mm512_load_si512(pb + k * 64);
      const __m512i w1 = _mm512_load_si512(pb + (8 + k) * 64);
      for (int t = 0; t < T; ++t) {
        int32_t x4;
        std::memcpy(&x4, xr[t] + b * Act::kBlockBytes + 4 * k, 4);
        const __m512i xb = _mm512_set1_epi32(x4);
        is0[t] = _mm512_dpbusd_epi32(is0[t], w0, xb);
        is1[t] = _mm512_dpbusd_epi32(is1[t], w1, xb);
      }
    }
    const __m512 d0 = _mm512_load_ps(pb + kPanelWeightBytes);
    const __m512 d1 = _mm512_load_ps(pb + kPanelWeightBytes + 64);
    for (int t = 0; t < T; ++t) {
      const __m512 dxt = _mm512_set1_ps(db[t]);
      acc[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is0[t]), _mm512_mul_ps(d0, dxt), acc[0][t]);
      acc[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is1[t]), _mm512_mul_ps(d1, dxt), acc[1][t]);
    }
    if constexpr (kMin) {
      const __m512 m0 = _mm512_load_ps(pb + kPanelWeightBytes + kPanelScaleBytes);
      const __m512 m1 = _mm512_load_ps(pb + kPanelWeightBytes + kPanelScaleBytes + 64);
      const float* sb = sx + b * a.n_tokens + t0;
      for (int t = 0; t < T; ++t) {
        const __m512 st = _mm512_set1_ps(sb[t]);
        acc[0][t] = _mm512_fmadd_ps(m0, st, acc[0][t]);
        acc[1][t] = _mm512_fmadd_ps(m1, st, acc[1][t]);
      }
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

// The f32 order of a packed GEMM's outputs (see the top of this file).
enum class PackedOrder { kBlockChain, kX86Lanes };
// Tokens per register tile: 2 x 8 accumulators. Measured on Zen 5 (CPU ms, Q8_0 2048x8192 x 512 tokens,
// 1 thread): 1 token 117-121, 2 tokens 73, 3 tokens 89-94 (spills), two groups x 1 token 118.
constexpr int kLaneTokens = 2;

// kX86Lanes' per-(token, block) constants of the job, Q8_0 activations: corr[(t * nb + b) * 8 + k] =
// -off * the sum of activation dword k (its 4 values 4k..4k+3), times hi_mul for k >= 4 (a chain
// whose weights are hi_mul times the values, see repack_q32_avx512.cpp), dx[b * n_tokens + t] the
// activation scale. Built once per (call, token block) per thread, like gemm_packed's tables.
struct LaneTables {
  const int32_t* corr;
  const float* dx;
};
thread_local AlignedBuffer t_lane_tables;
thread_local TablesKey t_lane_key;

template <class Act = ActQ8_0>
LaneTables lane_tables(const GemmArgs& a, int64_t nb, int32_t off, int32_t hi_mul = 1) {
  const size_t n_entries = static_cast<size_t>(nb * a.n_tokens);
  char* tables = static_cast<char*>(t_lane_tables.get(n_entries * (8 + 1) * 4));
  int32_t* corr = reinterpret_cast<int32_t*>(tables);
  float* dx = reinterpret_cast<float*>(tables + n_entries * 32);
  TablesKey& k = t_lane_key;
  if (a.call_id == 0 || a.call_id != k.call_id || a.x != k.x || off != k.off || a.n_tokens != k.n_tokens || nb != k.nb ||
      hi_mul != k.hi_mul) {
    const int32_t h = -off * hi_mul;
    const __m256i ones = _mm256_set1_epi8(1), neg_off = _mm256_setr_epi32(-off, -off, -off, -off, h, h, h, h);
    for (int64_t t = 0; t < a.n_tokens; ++t)
      for (int64_t b = 0; b < nb; ++b) {
        const char* blk = static_cast<const char*>(a.x) + t * a.x_row_bytes + b * Act::kBlockBytes;
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + Act::kQsOffset));
        const __m256i s4 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);  // the sum of each dword
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(corr + (t * nb + b) * 8), _mm256_mullo_epi32(s4, neg_off));
        dx[b * a.n_tokens + t] = h2f(blk);
      }
    k = TablesKey{a.call_id, a.x, off, a.n_tokens, nb, hi_mul};
  }
  return LaneTables{corr, dx};
}

// kX86Lanes over the panel: tokens [t0, t0 + T) x each 16-row group of the panel in turn (8 T
// accumulators; the chain start and the activation dword are broadcast loads per token and dword).
template <int T>
void packed_tile_lanes(const GemmArgs& a, const uint8_t* panel, int64_t nb, LaneTables lt, int64_t r0, int rows,
                       int64_t t0) {
  const char* xr[T];
  const int32_t* cr[T];
  for (int t = 0; t < T; ++t) {
    xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes + ActQ8_0::kQsOffset;
    cr[t] = lt.corr + (t0 + t) * nb * 8;
  }
  for (int g = 0; g < 2 && rows > 16 * g; ++g) {
    __m512 acc[T][8];
    for (int t = 0; t < T; ++t)
      for (int k = 0; k < 8; ++k) acc[t][k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* pb = panel + b * kPanelBlockBytes;
      const __m512 dw = _mm512_load_ps(pb + kPanelWeightBytes + 64 * g);
      __m512 d[T];
      for (int t = 0; t < T; ++t) d[t] = _mm512_mul_ps(dw, _mm512_set1_ps(lt.dx[b * a.n_tokens + t0 + t]));
      for (int k = 0; k < 8; ++k) {
        const __m512i w = _mm512_load_si512(pb + (8 * g + k) * 64);
        for (int t = 0; t < T; ++t) {
          int32_t x4;
          std::memcpy(&x4, xr[t] + b * ActQ8_0::kBlockBytes + 4 * k, 4);
          const __m512i isum = _mm512_dpbusd_epi32(_mm512_set1_epi32(cr[t][b * 8 + k]), w, _mm512_set1_epi32(x4));
          acc[t][k] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(isum), acc[t][k]);
        }
      }
    }
    const int n = rows - 16 * g;
    const __mmask16 m = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
    for (int t = 0; t < T; ++t) {
      const __m512* l = acc[t];
      const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[4], l[0]), _mm512_add_ps(l[6], l[2])),
                                     _mm512_add_ps(_mm512_add_ps(l[5], l[1]), _mm512_add_ps(l[7], l[3])));
      _mm512_mask_storeu_ps(a.y + (t0 + t) * a.ldy + r0 + 16 * g, m, s);
    }
  }
}

// Packs a panel (pack_panel's layout); a type may bring a faster one than unpack + transpose.
using PackPanelFn = void (*)(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel);

// kMin: the weight type has a per-block minimum (Q4_1/Q5_1), paired with Q8_1 activations. kOrder:
// the f32 order without AMX (the AMX tiles keep theirs).
template <UnpackFn Unpack, class Act, bool kMin, PackPanelFn Pack = pack_panel<Unpack>,
          PackedOrder kOrder = PackedOrder::kBlockChain>
void gemm_packed(const GemmArgs& a, int32_t off) {
  static_assert(!kMin || Act::kHasSum, "a minimum needs the activation sums of Q8_1");
  static_assert(kOrder == PackedOrder::kBlockChain || (!kMin && !Act::kHasSum), "kX86Lanes: offset types x Q8_0");
  const int64_t nb = a.n_in / kQK;
  uint8_t* panel = static_cast<uint8_t*>(t_panel.get(static_cast<size_t>(nb) * kPanelBlockBytes));
  const bool amx = batch_uses_amx(a);
  if (kOrder == PackedOrder::kX86Lanes && !amx) {
    const LaneTables lt = lane_tables(a, nb, off);
    for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kPanelRows) {
      const int rows = static_cast<int>(a.row_end - r0 < kPanelRows ? a.row_end - r0 : kPanelRows);
      Pack(a, r0, rows, nb, panel);
      token_tiles<kLaneTokens>(a.n_tokens, [&]<int T>(int64_t t0) { packed_tile_lanes<T>(a, panel, nb, lt, r0, rows, t0); });
    }
    return;
  }
  const size_t n_entries = static_cast<size_t>(nb * a.n_tokens);
  char* tables = static_cast<char*>(t_tables.get(n_entries * 12));
  int32_t* corr = reinterpret_cast<int32_t*>(tables);
  float* dx = reinterpret_cast<float*>(tables + n_entries * 4);
  float* sx = reinterpret_cast<float*>(tables + n_entries * 8);
  // The tables depend only on the activations: build them once per (call, token block) per thread.
  TablesKey& k = t_tables_key;
  if (a.call_id == 0 || a.call_id != k.call_id || a.x != k.x || off != k.off || a.n_tokens != k.n_tokens ||
      nb != k.nb) {
    build_token_tables<Act>(a, nb, off, corr, dx, sx);
    k = TablesKey{a.call_id, a.x, off, a.n_tokens, nb};
  }
  for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kPanelRows) {
    const int rows = static_cast<int>(a.row_end - r0 < kPanelRows ? a.row_end - r0 : kPanelRows);
    Pack(a, r0, rows, nb, panel);
    if (amx) {
      // Tiles (gemm_amx_avx512.h): offset types take signed weights (TDPBSSD), minimum types unsigned.
      const AmxLayout<1> L{panel, kPanelBlockBytes, kPanelWeightBytes / 2, kPanelWeightBytes,
                        kPanelWeightBytes + kPanelScaleBytes, kQK, Act::kBlockBytes, Act::kQsOffset};
      if constexpr (kMin) {
        amx_panel<false, AmxMin::Add>(L, nb, a, dx, sx, r0, rows);
      } else {
        for (int64_t b = 0; b < nb; ++b) amx_unoffset(panel + b * kPanelBlockBytes, kPanelWeightBytes, off);
        amx_panel<true, AmxMin::None>(L, nb, a, dx, sx, r0, rows);
      }
      continue;
    }
    token_tiles<kPackedTokens>(a.n_tokens, [&]<int T>(int64_t t0) {
      packed_tile<T, Act, kMin>(a, panel, nb, corr, dx, sx, r0, rows, t0);
    });
  }
}

}  // namespace
}  // namespace kestrel::kernels
