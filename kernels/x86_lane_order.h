#pragma once
// The f32 order in which llama.cpp's x86 kernels sum a dot product of 32-value blocks against Q8_0
// activations: ggml_vec_dot_q8_0_q8_0 / _q4_0_q8_0 / _q5_0_q8_0 (one token, AVX2 and AVX-512 builds) and
// llamafile's tinyBLAS_Q0_AVX (ggml-cpu/llamafile/sgemm.cpp: every batch of >= 2 tokens whose weights are
// Q8_0, Q4_0, Q5_0 or IQ4_NL in ggml rows; each output is its own __m256 accumulator in every tile shape
// of its mnpack, gemm4xN / gemmMx4 / gemm<RM, RN> alike). Per output, 8 f32 lanes: lane k holds the exact
// integer sum of the 4 products of elements 4k..4k+3 of a block (one dword of VPDPBUSD or PMADDUBSW +
// PMADDWD), and lane_k = fma(d_w * d_x, float(that sum), lane_k) block after block (d_w * d_x one f32
// product of the fp16 scales); at the end hsum's tree ((l4 + l0) + (l6 + l2)) + ((l5 + l1) + (l7 + l3)).
// The scalar twins of the kernels that follow it (kernels/repack_q32.h, kernels/matmul_q32.h) use this.
#include <cmath>
#include <cstdint>

namespace kestrel::kernels {

struct X86Lanes {
  float lane[8] = {};
  // One block: w the 32 weight values in element order, x the 32 activation values, d = d_w * d_x.
  void add_block(float d, const int32_t* w, const int8_t* x) {
    for (int k = 0; k < 8; ++k) {
      int32_t isum = 0;
      for (int i = 0; i < 4; ++i) isum += w[4 * k + i] * static_cast<int32_t>(x[4 * k + i]);
      lane[k] = std::fma(d, static_cast<float>(isum), lane[k]);
    }
  }
  float sum() const {
    return ((lane[4] + lane[0]) + (lane[6] + lane[2])) + ((lane[5] + lane[1]) + (lane[7] + lane[3]));
  }
};

}  // namespace kestrel::kernels
