// The x16 layouts of Q4_K and Q6_K (kernels/kquant_x16.h): packing, unpacking and the scalar twins.
#include "kernels/kquant_x16.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/kquant_x86_order.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Sets value v (0..255) of a Q4_K block's 4-bit quants: chunk v / 64, low nibble for the first 32.
void q4k_set(BlockQ4_K& b, int v, int q) {
  uint8_t& byte = b.qs[32 * (v / 64) + v % 32];
  byte = (v % 64) < 32 ? static_cast<uint8_t>((byte & 0xF0) | q) : static_cast<uint8_t>((byte & 0x0F) | q << 4);
}

// Value v of a Q6_K block as (low 4 bits, high 2 bits); layout in quant_k.h.
struct Q6Pos {
  int ql, qh, lo_shift, hi_shift;
};
Q6Pos q6k_pos(int v) {
  const int h = v / 128, quarter = (v % 128) / 32, l = v % 32;
  return {64 * h + l + (quarter & 1) * 32, 32 * h + l, (quarter >> 1) * 4, 2 * quarter};
}
// Value v (0..63, unsigned: the stored q + 32) of a Q6_K block.
int q6k_get(const BlockQ6_K& b, int v) {
  const Q6Pos p = q6k_pos(v);
  return (b.ql[p.ql] >> p.lo_shift & 0xF) | (b.qh[p.qh] >> p.hi_shift & 3) << 4;
}
void q6k_set(BlockQ6_K& b, int v, int lo, int hi) {
  const Q6Pos p = q6k_pos(v);
  b.ql[p.ql] = static_cast<uint8_t>((b.ql[p.ql] & ~(0xF << p.lo_shift)) | lo << p.lo_shift);
  b.qh[p.qh] = static_cast<uint8_t>((b.qh[p.qh] & ~(3 << p.hi_shift)) | hi << p.hi_shift);
}

// Tile byte of scales[j] of row r: pair i = j / 2 of 16 rows is 32 bytes, row r's (sc_2i, sc_2i+1) at 2r.
int q6_scale_byte(int j, int r) { return 3072 + 32 * (j / 2) + 2 * r + j % 2; }

// llama.cpp's x86 order for one Q6_K row (ggml_vec_dot_q6_K_q8_K, its AVX2 code, which the AVX2 and
// AVX-512 builds compile): 8 lanes; per super-block lane i is the exact integer
//   sum over every 32 values of sc(v) * q(v) * x(v) for v = 4i .. 4i + 3 of those 32 (q unsigned 0..63)
//   - 32 * (bsum_2i * sc_2i + bsum_2i+1 * sc_2i+1)
// then lane_i = fma(d_x * d_w, float(lane), lane_i); the result is hsum_float_8's tree.
float dot_q6_K_x86(const BlockQ6_K* w, const BlockQ8_K* x, int64_t nb) {
  float lane[8] = {};
  for (int64_t b = 0; b < nb; ++b) {
    int32_t li[8] = {};
    for (int v = 0; v < kQK_K; ++v) li[v % 32 / 4] += w[b].scales[v / 16] * q6k_get(w[b], v) * x[b].qs[v];
    for (int i = 0; i < 8; ++i) li[i] -= 32 * (x[b].bsums[2 * i] * w[b].scales[2 * i] + x[b].bsums[2 * i + 1] * w[b].scales[2 * i + 1]);
    const float d = x[b].d * fp16_to_fp32(w[b].d);
    for (int i = 0; i < 8; ++i) lane[i] = std::fma(d, static_cast<float>(li[i]), lane[i]);
  }
  return ((lane[4] + lane[0]) + (lane[6] + lane[2])) + ((lane[5] + lane[1]) + (lane[7] + lane[3]));
}

template <class Block>
Block load_block(const void* src, size_t row_bytes, int64_t row, int64_t b) {
  Block blk;
  std::memcpy(&blk, static_cast<const char*>(src) + row * row_bytes + b * sizeof(Block), sizeof blk);
  return blk;
}

// Tile bytes of one row. Vector p = 8c + pp covers values 64c + 8pp .. + 7 of chunk c (qs[32c ..]):
// value 64c + l is the low nibble of qs[32c + l] for l < 32, else the high nibble of qs[32c + l - 32].
// So qword k of chunk c (bytes 8k .. 8k + 7) gives vector 8c + k from its low nibbles (low dword's in
// the output's low nibbles, high dword's in its high nibbles) and vector 8c + 4 + k from its high ones.
void pack_tile_q4_K(const BlockQ4_K* rows, int n_rows, uint8_t* tile) {
  std::memset(tile, 0, kQ4KX16TileBytes);
  for (int r = 0; r < n_rows; ++r) {
    const BlockQ4_K& b = rows[r];
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < 4; ++k) {
        uint64_t q;
        std::memcpy(&q, b.qs + 32 * c + 8 * k, 8);
        const uint32_t lo = static_cast<uint32_t>((q & 0x0F0F0F0F) | (q >> 28 & 0xF0F0F0F0));
        const uint32_t hi = static_cast<uint32_t>((q >> 4 & 0x0F0F0F0F) | (q >> 32 & 0xF0F0F0F0));
        std::memcpy(tile + 64 * (8 * c + k) + 4 * r, &lo, 4);
        std::memcpy(tile + 64 * (8 * c + 4 + k) + 4 * r, &hi, 4);
      }
    for (int i = 0; i < kKScaleSize; ++i) tile[2048 + 16 * i + r] = b.scales[i];
    std::memcpy(tile + 2240 + 2 * r, &b.d, 2);
    std::memcpy(tile + 2272 + 2 * r, &b.dmin, 2);
  }
}

// Tile bytes of one row: first the row's 256 values as (lo4, hi2) in natural order, then the moves.
void pack_tile_q6_K(const BlockQ6_K* rows, int n_rows, uint8_t* tile, uint8_t* dvec) {
  std::memset(tile, 0, kQ6KX16TileBytes);
  std::memset(dvec, 0, 32);
  uint8_t lo[kQK_K], hi[kQK_K];
  for (int r = 0; r < n_rows; ++r) {
    const BlockQ6_K& b = rows[r];
    for (int h = 0; h < 2; ++h)
      for (int l = 0; l < 32; ++l) {
        const uint8_t q0 = b.ql[64 * h + l], q1 = b.ql[64 * h + l + 32], qh = b.qh[32 * h + l];
        const int v = 128 * h + l;
        lo[v] = q0 & 0xF, lo[v + 32] = q1 & 0xF, lo[v + 64] = q0 >> 4, lo[v + 96] = q1 >> 4;
        hi[v] = qh & 3, hi[v + 32] = qh >> 2 & 3, hi[v + 64] = qh >> 4 & 3, hi[v + 96] = qh >> 6;
      }
    auto q = [&](int v) { return lo[v] | hi[v] << 4; };
    for (int j = 0; j < 16; ++j)
      for (int i = 0; i < 4; ++i) {
        const int v = 16 * j + i, q3 = q(v + 12);
        uint8_t* at = tile + 192 * j + 4 * r + i;
        at[0] = static_cast<uint8_t>(q(v) | (q3 & 3) << 6);
        at[64] = static_cast<uint8_t>(q(v + 4) | (q3 >> 2 & 3) << 6);
        at[128] = static_cast<uint8_t>(q(v + 8) | (q3 >> 4) << 6);
      }
    for (int j = 0; j < 16; ++j) tile[q6_scale_byte(j, r)] = static_cast<uint8_t>(b.scales[j]);
    std::memcpy(dvec + 2 * r, &b.d, 2);
  }
}

template <class Block, class PackTile>
void pack_groups(const void* src, int64_t n_in, int64_t n_out, int64_t row_begin, int64_t row_end, PackTile pack_tile) {
  const int64_t nb = n_in / kQK_K;
  const size_t row_bytes = static_cast<size_t>(nb) * sizeof(Block);
  Block rows[kX16Rows];
  for (int64_t g0 = row_begin; g0 < row_end; g0 += kX16Rows) {
    const int n_rows = static_cast<int>(n_out - g0 < kX16Rows ? n_out - g0 : kX16Rows);
    for (int64_t b = 0; b < nb; ++b) {
      for (int r = 0; r < n_rows; ++r) rows[r] = load_block<Block>(src, row_bytes, g0 + r, b);
      pack_tile(g0 / kX16Rows, b, rows, n_rows);
    }
  }
}

template <class Block, void (*Unpack)(const void*, int64_t, int64_t, void*)>
void gemm_x16_scalar(const GemmArgs& a, GemmFn scalar_gemm) {
  const int64_t nb = a.n_in / kQK_K;
  std::vector<Block> row(static_cast<size_t>(nb));
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    Unpack(a.w, a.n_in, r, row.data());
    GemmArgs one = a;
    one.w = row.data();
    one.w_row_bytes = row.size() * sizeof(Block);
    one.row_begin = 0;
    one.row_end = 1;
    one.y = a.y + r;
    scalar_gemm(one);
  }
}

}  // namespace

size_t q4_K_x16_group_bytes(int64_t n_in) { return static_cast<size_t>(n_in / kQK_K) * kQ4KX16TileBytes; }
size_t q6_K_x16_group_bytes(int64_t n_in) {
  const size_t nb = static_cast<size_t>(n_in / kQK_K);
  return nb * kQ6KX16TileBytes + round_up(32 * nb, 64);
}
size_t q4_K_x16_bytes(int64_t n_in, int64_t n_out) {
  return static_cast<size_t>((n_out + kX16Rows - 1) / kX16Rows) * q4_K_x16_group_bytes(n_in);
}
size_t q6_K_x16_bytes(int64_t n_in, int64_t n_out) {
  return static_cast<size_t>((n_out + kX16Rows - 1) / kX16Rows) * q6_K_x16_group_bytes(n_in);
}

void pack_q4_K_x16(const void* src, int64_t n_in, int64_t n_out, int64_t row_begin, int64_t row_end, void* dst) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  const size_t gb = q4_K_x16_group_bytes(n_in);
  pack_groups<BlockQ4_K>(src, n_in, n_out, row_begin, row_end, [&](int64_t g, int64_t b, const BlockQ4_K* rows, int n) {
    pack_tile_q4_K(rows, n, out + g * gb + b * kQ4KX16TileBytes);
  });
}

void pack_q6_K_x16(const void* src, int64_t n_in, int64_t n_out, int64_t row_begin, int64_t row_end, void* dst) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_in / kQK_K;
  const size_t gb = q6_K_x16_group_bytes(n_in);
  pack_groups<BlockQ6_K>(src, n_in, n_out, row_begin, row_end, [&](int64_t g, int64_t b, const BlockQ6_K* rows, int n) {
    uint8_t* group = out + g * gb;
    pack_tile_q6_K(rows, n, group + b * kQ6KX16TileBytes, group + nb * kQ6KX16TileBytes + 32 * b);
    if (b == nb - 1 && nb % 2 == 1) std::memset(group + nb * kQ6KX16TileBytes + 32 * nb, 0, 32);  // the pad
  });
}

void unpack_row_q4_K_x16(const void* packed, int64_t n_in, int64_t row, void* out) {
  const int64_t nb = n_in / kQK_K;
  const uint8_t* group = static_cast<const uint8_t*>(packed) + (row / kX16Rows) * q4_K_x16_group_bytes(n_in);
  const int r = static_cast<int>(row % kX16Rows);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* tile = group + b * kQ4KX16TileBytes;
    BlockQ4_K blk{};
    for (int p = 0; p < 32; ++p)
      for (int i = 0; i < 4; ++i) {
        const uint8_t byte = tile[64 * p + 4 * r + i];
        q4k_set(blk, 8 * p + i, byte & 0xF);
        q4k_set(blk, 8 * p + 4 + i, byte >> 4);
      }
    for (int i = 0; i < kKScaleSize; ++i) blk.scales[i] = tile[2048 + 16 * i + r];
    std::memcpy(&blk.d, tile + 2240 + 2 * r, 2);
    std::memcpy(&blk.dmin, tile + 2272 + 2 * r, 2);
    std::memcpy(static_cast<char*>(out) + b * sizeof blk, &blk, sizeof blk);
  }
}

void unpack_row_q6_K_x16(const void* packed, int64_t n_in, int64_t row, void* out) {
  const int64_t nb = n_in / kQK_K;
  const uint8_t* group = static_cast<const uint8_t*>(packed) + (row / kX16Rows) * q6_K_x16_group_bytes(n_in);
  const int r = static_cast<int>(row % kX16Rows);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* tile = group + b * kQ6KX16TileBytes;
    BlockQ6_K blk{};
    for (int v = 0; v < kQK_K; ++v) {
      const uint8_t* at = tile + 192 * (v / 16) + 4 * r + v % 4;
      const int s = v % 16 / 4;
      const int q = s < 3 ? at[64 * s] & 0x3F : at[0] >> 6 | (at[64] >> 6) << 2 | (at[128] >> 6) << 4;
      q6k_set(blk, v, q & 0xF, q >> 4);
    }
    for (int j = 0; j < 16; ++j) blk.scales[j] = static_cast<int8_t>(tile[q6_scale_byte(j, r)]);
    std::memcpy(&blk.d, group + nb * kQ6KX16TileBytes + 32 * b + 2 * r, 2);
    std::memcpy(static_cast<char*>(out) + b * sizeof blk, &blk, sizeof blk);
  }
}

void gemm_q4_K_x16_scalar(const GemmArgs& a) {
  gemm_x16_scalar<BlockQ4_K, unpack_row_q4_K_x16>(a, scalar_matmul_kernels()->gemm_q4_K);
}
void gemm_q4_K_x16_x86_ref(const GemmArgs& a) { gemm_x16_scalar<BlockQ4_K, unpack_row_q4_K_x16>(a, gemm_q4_K_x86_ref); }
void gemm_q6_K_x16_scalar(const GemmArgs& a) {
  gemm_x16_scalar<BlockQ6_K, unpack_row_q6_K_x16>(a, scalar_matmul_kernels()->gemm_q6_K);
}
void gemm_q6_K_x16_x86_ref(const GemmArgs& a) {
  const int64_t nb = a.n_in / kQK_K;
  std::vector<BlockQ6_K> row(static_cast<size_t>(nb));
  for (int64_t r = a.row_begin; r < a.row_end; ++r) {
    unpack_row_q6_K_x16(a.w, a.n_in, r, row.data());
    for (int64_t t = 0; t < a.n_tokens; ++t)
      a.y[t * a.ldy + r] = dot_q6_K_x86(row.data(), reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + t * a.x_row_bytes), nb);
  }
}

}  // namespace kestrel::kernels
