#pragma once
// Internal: tile kernels (GemmArgs, see matmul_isa.h) for Q2_K, Q3_K and IQ4_XS weights against Q8_K
// activation rows, one set per ISA (kernels/<isa>/matmul_lowbit_<isa>.cpp). The scalar set defines the
// result; per super-block every ISA computes the same exact integer sums:
//   Q2_K:   out += (d_x * d) * sum_j sc_j * <q_j, x_j>  -  (d_x * dmin) * sum_j m_j * bsum_j
//   Q3_K:   out += (d_x * d) * sum_j (sc_j - 32) * <q_j - 4 * !h_j, x_j>
//   IQ4_XS: out += (d_x * d) * sum_i (ls_i - 32) * <grid[q_i], x_i>
// (j over 16 sub-blocks of 16, i over 8 sub-blocks of 32; bsum_j = the Q8_K block's sum of x_j), so
// they differ only in the order of the float accumulation across super-blocks.
#include <cstdint>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

// ggml's block_q8_K: the activation format of every K-quant and IQ dot product.
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];  // sums of each 16 consecutive qs
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block must be 292 bytes (ggml layout)");

void gemm_q2_K_scalar(const GemmArgs& a);
void gemm_q3_K_scalar(const GemmArgs& a);
void gemm_iq4_xs_scalar(const GemmArgs& a);
#if defined(__x86_64__) || defined(_M_X64)
void gemm_q2_K_avx2(const GemmArgs& a);
void gemm_q3_K_avx2(const GemmArgs& a);
void gemm_iq4_xs_avx2(const GemmArgs& a);
void gemm_q2_K_avx512(const GemmArgs& a);
void gemm_q3_K_avx512(const GemmArgs& a);
void gemm_iq4_xs_avx512(const GemmArgs& a);
#endif
#if defined(__aarch64__)
void gemm_q2_K_neon(const GemmArgs& a);
void gemm_q3_K_neon(const GemmArgs& a);
void gemm_iq4_xs_neon(const GemmArgs& a);
#endif

}  // namespace kestrel::kernels
