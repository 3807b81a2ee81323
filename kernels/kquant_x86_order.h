#pragma once
// llama.cpp's float order for Q4_K weights x Q8_K activations on x86 (its AVX2 and AVX-512 builds, e.g.
// the "zen4" CPU variant), defined portably. Its CPU backend repacks Q4_K tensors to block_q4_Kx8
// (CPU_REPACK buffer, ggml-cpu/repack.cpp) and multiplies a batch of n tokens with
// ggml_gemm_q4_K_8x8_q8_K on the full groups of 4 tokens (tokens 0 .. n - n % 4 - 1) and with
// ggml_gemv_q4_K_8x8_q8_K on the n % 4 last ones (forward_mul_mat_one_chunk). Per output, both form the
// exact integer sums of the scalar kernel (kernels/scalar/matmul_kquants_scalar.cpp) and differ only in
// where the floats enter, per super-block b (dx: the Q8_K block's d, d / dmin: the weight row's f16
// scales as f32; dot_j = sum of q * xq over the 32 values of sub-block j, bsum_j their activation sum):
//   gemm: for each pair p = 0..3 of sub-blocks (2p, 2p + 1)
//           tot  = fma(f32(sc_2p * dot_2p + sc_2p+1 * dot_2p+1), d * dx, tot)
//           totm = fma(f32(m_2p * bsum_2p + m_2p+1 * bsum_2p+1), dmin * dx, totm)
//   gemv: the same once per super-block, with the integer sums over all 8 sub-blocks;
//   y = tot - totm (d * dx and dmin * dx are rounded products; the rest is exact integer arithmetic).
// The activations: gemm's rows are quantized by ggml_quantize_mat_q8_K_4x8 (4 rows interleaved), gemv's
// by quantize_row_q8_K (= quantize_row_q8_K_ref on x86). Both take amax over the 256 values, iscale =
// -127 / (the signed value of largest magnitude), q = round-half-even(iscale * x), d = 1 / iscale; the
// 4x8 one may take the other sign when +amax and -amax both occur, which negates every q, bsum and d of
// the block and leaves every product above unchanged. So Kestrel's per-row Q8_K rows serve both.
#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

// The order above on ggml Q4_K rows (GemmArgs as for MatmulKernels::gemm_q4_K): token t of the call
// takes gemm's order if t < n_tokens - n_tokens % 4, else gemv's. Any row range and n_tokens.
void gemm_q4_K_x86_ref(const GemmArgs& a);

}  // namespace kestrel::kernels
