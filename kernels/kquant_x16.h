#pragma once
// Load-time layouts "x16" of Q4_K and Q6_K weights: the ggml bytes of 16 consecutive rows rearranged
// (no value changed, no byte added except zero rows padding the last group) so a batch-1 AVX-512 kernel
// reads every byte with aligned 64-byte loads and one activation load serves 16 rows. These functions
// (portable C++, kernels/kquant_x16.cpp) define the layouts; the AVX-512 kernels that read them are in
// kernels/avx512/matmul_kquants_x16_avx512.cpp, and the scalar twins here define their meaning (they
// restore each row's ggml blocks and run the scalar ggml-layout kernel on them).
//
// A tensor of n_out rows and nb = n_in / 256 super-blocks is ceil(n_out / 16) groups; group g holds rows
// 16g .. 16g + 15 (rows >= n_out are zeros: d = 0, so they contribute 0) and is one contiguous range:
// the rows of one job are one sequential stream. In a group, the "tile" of super-block b:
//
// Q4_K (2304 bytes per tile = 16 x 144; group = nb tiles):
//   [0, 2048)     32 vectors of 64 bytes, vector p: byte 4r + i (row r, i = 0..3) holds value 8p + i of
//                 row r in its low nibble and value 8p + 4 + i in its high nibble. So (v & 0x0F) is the
//                 VPDPBUSD operand "dword k = 2p of 16 rows" and (v & 0xF0) is 16x that of k = 2p + 1.
//   [2048, 2240)  the 12 packed 6-bit scale/min bytes, transposed: byte 16i + r = scales[i] of row r, so
//                 three 64-byte loads and ~10 byte operations decode the 8 scales and 8 mins of 16 rows.
//   [2240, 2272)  d of the 16 rows (f16), [2272, 2304) dmin of the 16 rows (f16).
// Q6_K (16 x 210 = 3360 bytes per super-block; group = nb tiles of 3328 bytes, then the nb d vectors):
//   [0, 3072)     per 16-value sub-block j three vectors at 192j: vector s (0..2), byte 4r + i holds the
//                 6-bit value q = ql | qh << 4 (0..63) of value 16j + 4s + i of row r in bits 0..5, and
//                 in bits 6..7 bits 2s..2s+1 of value 16j + 12 + i: an AND gives q of dwords s = 0..2
//                 (VPMADDUBSW's unsigned operand), 3 shifts, 2 ternary-logic and an AND that of s = 3
//   [3072, 3328)  the 16 int8 scales in pairs: byte 32i + 2r + h = scales[2i + h] of row r (i = 0..7), so
//                 one sign-extending load gives the int16 pairs (sc_2i, sc_2i+1) of 16 rows, one per dword
//                 (VPDPWSSD's operand for ggml's -32 term; a byte shuffle makes (sc_j, sc_j) of it)
//   after the nb tiles: per super-block 32 bytes, the 16 rows' d (f16), padded to 64 bytes per group
//   (a group is nb * 3328 + round_up(32 nb, 64) bytes: every tile stays 64-byte aligned).
#include <cstddef>
#include <cstdint>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

constexpr int kX16Rows = 16;
constexpr size_t kQ4KX16TileBytes = 2304;
constexpr size_t kQ6KX16TileBytes = 3328;  // without the d vector (see above)

// Bytes of one 16-row group and of a whole packed tensor.
size_t q4_K_x16_group_bytes(int64_t n_in);
size_t q6_K_x16_group_bytes(int64_t n_in);
size_t q4_K_x16_bytes(int64_t n_in, int64_t n_out);
size_t q6_K_x16_bytes(int64_t n_in, int64_t n_out);

// Packs rows [row_begin, row_end) of a ggml tensor (src: n_out rows of n_in values, rows contiguous, any
// alignment) into dst (the whole packed tensor; 64-byte aligned for the AVX-512 kernels). row_begin must
// be a multiple of 16; row_end a multiple of 16 or n_out, so disjoint ranges may be packed in parallel.
// The padding rows of the last group are written as zeros by the range that contains n_out.
void pack_q4_K_x16(const void* src, int64_t n_in, int64_t n_out, int64_t row_begin, int64_t row_end, void* dst);
void pack_q6_K_x16(const void* src, int64_t n_in, int64_t n_out, int64_t row_begin, int64_t row_end, void* dst);

// The inverse for one row: its nb ggml blocks (144 / 210 bytes each) written to out.
void unpack_row_q4_K_x16(const void* packed, int64_t n_in, int64_t row, void* out);
void unpack_row_q6_K_x16(const void* packed, int64_t n_in, int64_t row, void* out);

// Scalar twins of the packed kernels: GemmArgs as for ggml rows except that a.w is the packed tensor
// (a.w_row_bytes unused). Any row range and any n_tokens.
void gemm_q4_K_x16_scalar(const GemmArgs& a);
void gemm_q6_K_x16_scalar(const GemmArgs& a);
// Q4_K in llama.cpp's x86 order (kernels/kquant_x86_order.h): what the AVX-512 kernel computes bit for
// bit without AMX, decode and prompt batches.
void gemm_q4_K_x16_x86_ref(const GemmArgs& a);
// The same sums for Q6_K in the f32 order of llama.cpp's x86 kernel (ggml_vec_dot_q6_K_q8_K: 8 lanes per
// row, an exact integer per lane and super-block, one FMA per lane and super-block, hsum_float_8's
// tree; kquant_x16.cpp spells it out): what gemm_q6_K_x16_avx512 computes, bit for bit, at every n_tokens.
void gemm_q6_K_x16_x86_ref(const GemmArgs& a);

#if defined(__x86_64__) || defined(_M_X64)
// AVX-512 (VNNI; AMX for Q4_K prompt batches) kernels on the packed layouts. Only call after
// isa_supported(Isa::Avx512). Any row range and any n_tokens; rows starting at a multiple of 16 are the
// fast path (matmul.cpp's row chunks are multiples of 32).
void gemm_q4_K_x16_avx512(const GemmArgs& a);
void gemm_q6_K_x16_avx512(const GemmArgs& a);
#endif

}  // namespace kestrel::kernels
