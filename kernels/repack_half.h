#pragma once
// The repacked layout of F16 and BF16 weights ("f16x4", "bf16x4"), defined portably: the packer, the
// inverse (back to ggml rows, which the prompt kernels read) and a reference gemm equal to the scalar
// ggml kernel. The AVX-512 kernels (kernels/avx512/repack_half_avx512.cpp) read these bytes.
//
// Why a layout for 16-bit weights: the batch-1 kernel keeps one f32 chain per output (llama.cpp's
// tinyBLAS order) and so must work on 4 rows at once to hide the FMA latency; on ggml rows that is 4
// DRAM streams per thread, which this Zen 5 VM reads at ~75-78% of a plain read, against 92-98% for one
// sequential stream (bench_roofline, 4096x14336, 1 and 2 threads, 2026-12-01). Interleaving 4 rows
// makes the same 4-row tile one stream without changing a single rounding.
//
// Rows are interleaved in groups of 4 (group g = rows 4g .. 4g + 3); a row's n_in 16-bit values are cut
// into blocks of 32 (64 bytes, one cache line), the last one zero-padded. Group g starts at byte
// g * n_blocks * 256 and holds, block after block, block j of rows 4g, 4g + 1, 4g + 2, 4g + 3:
//   value i of row 4g + r is the 16-bit word at g * n_blocks * 256 + (i / 32) * 256 + r * 64 + (i % 32) * 2
// Rows past n_out are zeros. The matrix is ceil(n_out / 4) * ceil(n_in / 32) * 256 bytes.
#include <cstddef>
#include <cstdint>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

constexpr int64_t kHalfRepackRows = 4;
constexpr int64_t kHalfBlockValues = 32;
constexpr size_t kHalfBlockBytes = 64;

// 0 unless n_in, n_out >= 1.
size_t repack_bytes_half_x4(int64_t n_in, int64_t n_out);
// RepackLayout::pack (kernels/repack.h): rows [r0, r1) of ggml rows src (2 * n_in bytes each) into dst.
void repack_pack_half_x4(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst);
// The inverse for rows [r0, r1) (r0 a multiple of 4): row r0 + i to dst + i * 2 * n_in.
void repack_unpack_half_x4(const void* packed, int64_t n_in, int64_t r0, int64_t r1, void* dst);
// Reference gemms over the packed matrix (GemmArgs as in RepackLayout::gemm; F16 / BF16 activations):
// the scalar ggml kernels' results, bit for bit.
void repack_gemm_f16x4_ref(const GemmArgs& a);
void repack_gemm_bf16x4_ref(const GemmArgs& a);

}  // namespace kestrel::kernels
