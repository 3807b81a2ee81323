// q8_0x16 / q4_0x16 packers and reference gemms (layouts in kernels/repack_q32.h).
#include "kernels/repack_q32.h"

#include <cmath>
#include <cstring>

#include "kernels/quant.h"
#include "kernels/type_traits.h"
#include "kernels/x86_lane_order.h"

namespace kestrel::kernels {
namespace {

int64_t n_pairs(int64_t n_in) { return (n_in / kQK + 1) / 2; }

size_t layout_bytes(int64_t n_in, int64_t n_out, size_t pair_bytes) {
  if (n_in < kQK || n_in % kQK != 0 || n_out < 1) return 0;
  const int64_t n_groups = (n_out + kRepackRows - 1) / kRepackRows;
  return static_cast<size_t>(n_groups) * static_cast<size_t>(n_pairs(n_in)) * pair_bytes;
}

// Packs groups covering rows [r0, r1). Block copies one ggml block of row `row` (or padding when
// row < 0) into the pair half at q (quant bytes, 16-row-interleaved dwords) and its scale into *d.
template <size_t kPairBytes, size_t kQuantBytes, class Block>
void pack_groups(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst, Block block) {
  const int64_t nb = n_in / kQK, np = n_pairs(n_in);
  for (int64_t g = r0 / kRepackRows; g * kRepackRows < r1; ++g) {
    uint8_t* gp = static_cast<uint8_t*>(dst) + static_cast<size_t>(g * np) * kPairBytes;
    for (int64_t p = 0; p < np; ++p) {
      uint8_t* pp = gp + static_cast<size_t>(p) * kPairBytes;
      uint16_t* d = reinterpret_cast<uint16_t*>(pp + 2 * kQuantBytes);
      for (int h = 0; h < 2; ++h) {
        const int64_t b = 2 * p + h;
        for (int r = 0; r < kRepackRows; ++r) {
          const int64_t row = g * kRepackRows + r;
          const bool real = row < n_out && b < nb;
          block(src, n_in, real ? row : -1, b, pp + h * kQuantBytes, r, &d[h * kRepackRows + r]);
        }
      }
    }
  }
}

int64_t q8_row_bytes(int64_t n_in) { return n_in / kQK * static_cast<int64_t>(sizeof(BlockQ8_0)); }
int64_t q4_row_bytes(int64_t n_in) { return n_in / kQK * static_cast<int64_t>(sizeof(BlockQ4_0)); }

float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

}  // namespace

size_t repack_bytes_q8_0x16(int64_t n_in, int64_t n_out) { return layout_bytes(n_in, n_out, kQ8x16PairBytes); }
size_t repack_bytes_q4_0x16(int64_t n_in, int64_t n_out) { return layout_bytes(n_in, n_out, kQ4x16PairBytes); }

void repack_pack_q8_0x16(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst) {
  pack_groups<kQ8x16PairBytes, 512>(src, n_in, n_out, r0, r1, dst,
      [](const void* s, int64_t ni, int64_t row, int64_t b, uint8_t* q, int r, uint16_t* d) {
        BlockQ8_0 blk{};
        if (row >= 0) std::memcpy(&blk, static_cast<const uint8_t*>(s) + row * q8_row_bytes(ni) + b * 34, 34);
        *d = blk.d;
        for (int k = 0; k < 8; ++k)
          for (int i = 0; i < 4; ++i) q[(k * 16 + r) * 4 + i] = static_cast<uint8_t>(blk.qs[4 * k + i] + 128);
      });
}

void repack_pack_q4_0x16(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst) {
  pack_groups<kQ4x16PairBytes, 256>(src, n_in, n_out, r0, r1, dst,
      [](const void* s, int64_t ni, int64_t row, int64_t b, uint8_t* q, int r, uint16_t* d) {
        BlockQ4_0 blk{};
        std::memset(blk.qs, 0x88, sizeof blk.qs);  // padding: both nibbles are w = 0
        if (row >= 0) std::memcpy(&blk, static_cast<const uint8_t*>(s) + row * q4_row_bytes(ni) + b * 18, 18);
        *d = blk.d;
        for (int j = 0; j < 4; ++j)
          for (int i = 0; i < 4; ++i) q[(j * 16 + r) * 4 + i] = blk.qs[4 * j + i];
      });
}

namespace {

// The inverse of pack_groups for one row: Block writes block b's ggml bytes to out from the pair half at
// q (quant bytes, 16-row-interleaved dwords), row r in its group, and the fp16 scale at d.
template <size_t kPairBytes, size_t kQuantBytes, class Block>
void unpack_row(const void* packed, int64_t n_in, int64_t row, void* out, Block block) {
  const int64_t nb = n_in / kQK;
  const int r = static_cast<int>(row % kRepackRows);
  const uint8_t* gp = static_cast<const uint8_t*>(packed) + static_cast<size_t>(row / kRepackRows * n_pairs(n_in)) * kPairBytes;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pp = gp + static_cast<size_t>(b / 2) * kPairBytes;
    block(pp + (b % 2) * kQuantBytes, r, pp + 2 * kQuantBytes + ((b % 2) * kRepackRows + r) * 2, static_cast<uint8_t*>(out), b);
  }
}

}  // namespace

void repack_unpack_row_q8_0x16(const void* packed, int64_t n_in, int64_t /*n_out*/, int64_t row, void* out) {
  unpack_row<kQ8x16PairBytes, 512>(packed, n_in, row, out, [](const uint8_t* q, int r, const uint8_t* d, uint8_t* o, int64_t b) {
    BlockQ8_0 blk;
    std::memcpy(&blk.d, d, 2);
    for (int k = 0; k < 8; ++k)
      for (int i = 0; i < 4; ++i) blk.qs[4 * k + i] = static_cast<int8_t>(q[(k * 16 + r) * 4 + i] - 128);
    std::memcpy(o + b * 34, &blk, 34);
  });
}

void repack_unpack_row_q4_0x16(const void* packed, int64_t n_in, int64_t /*n_out*/, int64_t row, void* out) {
  unpack_row<kQ4x16PairBytes, 256>(packed, n_in, row, out, [](const uint8_t* q, int r, const uint8_t* d, uint8_t* o, int64_t b) {
    BlockQ4_0 blk;
    std::memcpy(&blk.d, d, 2);
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 4; ++i) blk.qs[4 * j + i] = q[(j * 16 + r) * 4 + i];
    std::memcpy(o + b * 18, &blk, 18);
  });
}

namespace {

// Weight block b of the row at gp (its group), row r in the group: the 32 signed values and the scale.
void block_values(bool q4, const uint8_t* gp, int r, int64_t b, int32_t w[32], float* d) {
  const size_t pair = q4 ? kQ4x16PairBytes : kQ8x16PairBytes;
  const uint8_t* pp = gp + static_cast<size_t>(b / 2) * pair;
  if (q4) {
    const uint8_t* q = pp + (b % 2) * 256;
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 4; ++i) {
        const uint8_t v = q[(j * 16 + r) * 4 + i];
        w[4 * j + i] = (v & 0x0F) - 8;
        w[16 + 4 * j + i] = (v >> 4) - 8;
      }
    *d = h2f(pp + 512 + ((b % 2) * 16 + r) * 2);
  } else {
    const uint8_t* q = pp + (b % 2) * 512;
    for (int k = 0; k < 8; ++k)
      for (int i = 0; i < 4; ++i) w[4 * k + i] = static_cast<int32_t>(q[(k * 16 + r) * 4 + i]) - 128;
    *d = h2f(pp + 1024 + ((b % 2) * 16 + r) * 2);
  }
}

// The f32 orders of the references (see the header).
enum class RefOrder { kScalar, kX86Lanes, kChainFma };

template <bool kQ4, RefOrder kOrder>
void ref_gemm(const GemmArgs& a) {
  const int64_t nb = a.n_in / kQK, np = n_pairs(a.n_in);
  const size_t pair = kQ4 ? kQ4x16PairBytes : kQ8x16PairBytes;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const uint8_t* x = static_cast<const uint8_t*>(a.x) + t * a.x_row_bytes;
    for (int64_t row = a.row_begin; row < a.row_end; ++row) {
      const uint8_t* gp = static_cast<const uint8_t*>(a.w) + static_cast<size_t>(row / kRepackRows * np) * pair;
      const int r = static_cast<int>(row % kRepackRows);
      float s = 0;
      X86Lanes lanes;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t w[32];
        float dw;
        block_values(kQ4, gp, r, b, w, &dw);
        const uint8_t* xb = x + b * 34;
        const float d = dw * h2f(xb);
        const int8_t* xq = reinterpret_cast<const int8_t*>(xb + 2);
        if constexpr (kOrder == RefOrder::kX86Lanes) {
          lanes.add_block(d, w, xq);
        } else {
          int32_t all = 0;
          for (int i = 0; i < 32; ++i) all += w[i] * static_cast<int32_t>(xq[i]);
          s = kOrder == RefOrder::kChainFma ? std::fma(static_cast<float>(all), d, s) : s + static_cast<float>(all) * d;
        }
      }
      a.y[t * a.ldy + row] = kOrder == RefOrder::kX86Lanes ? lanes.sum() : s;
    }
  }
}

}  // namespace

// The sums of dot_q8_0 / dot_q4_0 (kernels/scalar/matmul_scalar.cpp): per block the exact integer sum,
// then s += isum * (d_w * d_x) in block order.
void repack_gemm_q8_0x16_ref(const GemmArgs& a) { ref_gemm<false, RefOrder::kScalar>(a); }
void repack_gemm_q4_0x16_ref(const GemmArgs& a) { ref_gemm<true, RefOrder::kScalar>(a); }
// llama.cpp's x86 order (kernels/x86_lane_order.h).
void repack_gemm_q8_0x16_x86_ref(const GemmArgs& a) { ref_gemm<false, RefOrder::kX86Lanes>(a); }
void repack_gemm_q4_0x16_x86_ref(const GemmArgs& a) { ref_gemm<true, RefOrder::kX86Lanes>(a); }
// llama.cpp's AMX-buffer decode order: s = fma(isum, d_w * d_x, s) block after block.
void repack_gemm_q8_0x16_chain_ref(const GemmArgs& a) { ref_gemm<false, RefOrder::kChainFma>(a); }
void repack_gemm_q4_0x16_chain_ref(const GemmArgs& a) { ref_gemm<true, RefOrder::kChainFma>(a); }

}  // namespace kestrel::kernels
