#pragma once
// Internal, AVX-512 translation units only: the packed VNNI prompt GEMM of matmul_kquants_avx512.cpp
// (32-row panels of unsigned bytes, VPDPBUSD against broadcast Q8_K activation bytes, per-block float
// scales) offered to super-block types whose other kernels live elsewhere (matmul_lowbit_avx512.cpp).
// Per 256-value super-block b of a row:
//   prepare(row, b, q): the 256 values as unsigned bytes u in natural order (64-byte aligned q);
//   scales(row, b, s, m): per block j of `block` values (16 or 32) the float factors with
//     contribution = s[j] * dx * sum(u * x) - m[j] * dx * sum(x)     (dx, x: the Q8_K block).
#include <cstdint>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {

using PackedPrepareFn = void (*)(const char* row, int64_t b, uint8_t* q256);
using PackedScalesFn = void (*)(const char* row, int64_t b, float* s, float* m);

// Token count from which the packed GEMM pays for its panel packing (the K-quants' threshold).
int64_t packed_gemm_min_tokens_avx512();
void gemm_packed_external_avx512(const GemmArgs& a, int block, PackedPrepareFn prepare, PackedScalesFn scales);

}  // namespace kestrel::kernels
