// The AVX-512 repacked layouts of Q4_K and Q6_K (kernels/repack.h): the x16 layouts of
// kernels/kquant_x16.h, read by kernels/avx512/matmul_kquants_x16_avx512.cpp.
#include "kernels/kquant_x16.h"
#include "kernels/quant_k.h"
#include "kernels/repack_isa.h"

namespace kestrel::kernels {
namespace {

// 0 (keep the ggml layout) for shapes a K-quant matrix cannot have.
bool k_shape(int64_t n_in, int64_t n_out) { return n_in > 0 && n_in % kQK_K == 0 && n_out > 0; }
size_t bytes_q4_K(int64_t n_in, int64_t n_out) { return k_shape(n_in, n_out) ? q4_K_x16_bytes(n_in, n_out) : 0; }
size_t bytes_q6_K(int64_t n_in, int64_t n_out) { return k_shape(n_in, n_out) ? q6_K_x16_bytes(n_in, n_out) : 0; }
void unpack_q4_K(const void* packed, int64_t n_in, int64_t, int64_t row, void* out) { unpack_row_q4_K_x16(packed, n_in, row, out); }
void unpack_q6_K(const void* packed, int64_t n_in, int64_t, int64_t row, void* out) { unpack_row_q6_K_x16(packed, n_in, row, out); }

}  // namespace

const RepackLayout* repack_layout_q4_K_avx512() {
  static const RepackLayout k{TensorType::Q4_K, "q4_Kx16", bytes_q4_K, kX16Rows, pack_q4_K_x16, gemm_q4_K_x16_avx512,
                              unpack_q4_K};
  return &k;
}

const RepackLayout* repack_layout_q6_K_avx512() {
  static const RepackLayout k{TensorType::Q6_K, "q6_Kx16", bytes_q6_K, kX16Rows, pack_q6_K_x16, gemm_q6_K_x16_avx512,
                              unpack_q6_K};
  return &k;
}

}  // namespace kestrel::kernels
