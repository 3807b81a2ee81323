#pragma once
// The repacked layouts of Q8_0 and Q4_0 ("q8_0x16", "q4_0x16"), defined portably: the packers, and
// reference gemms that read the layout the way the scalar ggml kernels read ggml rows (same integer
// sums, same f32 operations in the same order, so the results are bit-identical to them). The AVX-512
// kernels (kernels/avx512/repack_q32_avx512.cpp) read these bytes; tests compare them to the references.
//
// Rows are interleaved in groups of 16 (row group g = rows 16g .. 16g + 15). A group holds its blocks in
// pairs (block pair p = blocks 2p, 2p + 1 of every row; an odd last block is paired with a padding block):
//   q8_0x16 pair, 1088 bytes = 17 x 64:  u8 q[2][8][16][4], then fp16 d[2][16]
//     q[h][k][r][i] = 128 + (element 4k + i of block 2p + h of row 16g + r)   (unsigned: VPDPBUSD's u8 side)
//   q4_0x16 pair, 576 bytes = 9 x 64:    u8 q[2][4][16][4], then fp16 d[2][16]
//     q[h][j][r][i] = byte 4j + i of that block's ggml nibbles (low nibble: element 4j + i, high nibble:
//     element 16 + 4j + i; nibble = w + 8, as in ggml)
// so one 64-byte vector holds the same 4 consecutive values of 16 rows, every load is a full aligned
// vector, and a broadcast activation dword serves 16 rows. Group g starts at g * n_pairs * pair bytes.
// Padding (rows past n_out, the padding block) has scale 0 and zero weights: it contributes nothing.
// The matrix is n_groups * n_pairs * pair bytes, the size of the ggml rows (plus the padding).
#include <cstddef>
#include <cstdint>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

constexpr int64_t kRepackRows = 16;
constexpr size_t kQ8x16PairBytes = 1088;
constexpr size_t kQ4x16PairBytes = 576;

size_t repack_bytes_q8_0x16(int64_t n_in, int64_t n_out);  // 0 unless n_in % 32 == 0, n_in, n_out >= 1
size_t repack_bytes_q4_0x16(int64_t n_in, int64_t n_out);
// RepackLayout::pack (kernels/repack.h): rows [r0, r1) of ggml rows src into the packed matrix dst.
void repack_pack_q8_0x16(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst);
void repack_pack_q4_0x16(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst);
// The inverse for one row (RepackLayout::unpack_row): its n_in / 32 ggml blocks written to out.
void repack_unpack_row_q8_0x16(const void* packed, int64_t n_in, int64_t n_out, int64_t row, void* out);
void repack_unpack_row_q4_0x16(const void* packed, int64_t n_in, int64_t n_out, int64_t row, void* out);
// Reference gemms over the packed matrix (GemmArgs as in RepackLayout::gemm; Q8_0 activations).
void repack_gemm_q8_0x16_ref(const GemmArgs& a);
void repack_gemm_q4_0x16_ref(const GemmArgs& a);
// The same sums in the f32 order of llama.cpp's x86 kernels (kernels/x86_lane_order.h: 8 lanes of 4
// products per block, one FMA per lane and block, hsum's tree): what the AVX-512 kernels compute, bit for
// bit, for decode (both types) and, without AMX, for Q8_0 prompt batches.
void repack_gemm_q8_0x16_x86_ref(const GemmArgs& a);
void repack_gemm_q4_0x16_x86_ref(const GemmArgs& a);
// The order of llama.cpp's AMX buffer (ggml-cpu/amx/mmq.cpp's one-token kernels): per block the exact
// integer sum, s = fma(float(isum), d_w * d_x, s) block after block. What the AVX-512 decode kernels
// compute, bit for bit, when AMX is on (amx_enabled()).
void repack_gemm_q8_0x16_chain_ref(const GemmArgs& a);
void repack_gemm_q4_0x16_chain_ref(const GemmArgs& a);

}  // namespace kestrel::kernels
