#pragma once
// Internal: the Q4_1 / Q5_0 / Q5_1 / IQ4_NL kernels and the Q8_1 activation converter of each ISA,
// defined in kernels/<isa>/matmul_q32_<isa>.cpp and put into that ISA's MatmulKernels table. Only call
// an ISA's functions after isa_supported() said yes.
#include <cstdint>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

// Scalar twins: one output = ggml's per-block formula, sum_b (d_w d_x) * isum_b (+ m_w * s_x for the
// Q8_1 pairs), accumulated in float.
float dot_q4_1_scalar(const char* w, const char* x, int64_t n);
float dot_q5_0_scalar(const char* w, const char* x, int64_t n);
float dot_q5_1_scalar(const char* w, const char* x, int64_t n);
float dot_iq4_nl_scalar(const char* w, const char* x, int64_t n);
// The f32 order of llama.cpp's x86 kernels (kernels/x86_lane_order.h) over ggml rows: what its tinyBLAS
// computes for prompt batches of Q8_0 / Q5_0 weights, and so the AVX-512 prompt kernels (GemmArgs as in
// MatmulKernels::gemm_q8_0 / gemm_q5_0, Q8_0 activations).
void gemm_q8_0_x86_ref(const GemmArgs& a);
void gemm_q5_0_x86_ref(const GemmArgs& a);

#if defined(__x86_64__) || defined(_M_X64)
void quantize_row_q8_1_avx2(const float* x, void* dst, int64_t n);
void gemm_q4_1_avx2(const GemmArgs& a);
void gemm_q5_0_avx2(const GemmArgs& a);
void gemm_q5_1_avx2(const GemmArgs& a);
void gemm_iq4_nl_avx2(const GemmArgs& a);

void quantize_row_q8_1_avx512(const float* x, void* dst, int64_t n);
void gemm_q4_1_avx512(const GemmArgs& a);
void gemm_q5_0_avx512(const GemmArgs& a);
void gemm_q5_1_avx512(const GemmArgs& a);
void gemm_iq4_nl_avx512(const GemmArgs& a);
#endif
#if defined(__aarch64__)
void quantize_row_q8_1_neon(const float* x, void* dst, int64_t n);
void gemm_q4_1_neon(const GemmArgs& a);
void gemm_q5_0_neon(const GemmArgs& a);
void gemm_q5_1_neon(const GemmArgs& a);
void gemm_iq4_nl_neon(const GemmArgs& a);
#endif

}  // namespace kestrel::kernels
