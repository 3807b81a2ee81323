// f16x4 / bf16x4 packer, unpacker and reference gemms (layout in kernels/repack_half.h).
#include "kernels/repack_half.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

int64_t n_blocks(int64_t n_in) { return (n_in + kHalfBlockValues - 1) / kHalfBlockValues; }
size_t group_bytes(int64_t n_in) { return static_cast<size_t>(n_blocks(n_in)) * kHalfRepackRows * kHalfBlockBytes; }

// Byte offset of value i of row r in the packed matrix.
size_t value_offset(int64_t n_in, int64_t r, int64_t i) {
  return static_cast<size_t>(r / kHalfRepackRows) * group_bytes(n_in) +
         static_cast<size_t>(i / kHalfBlockValues) * kHalfRepackRows * kHalfBlockBytes +
         static_cast<size_t>(r % kHalfRepackRows) * kHalfBlockBytes + static_cast<size_t>(i % kHalfBlockValues) * 2;
}

// The scalar ggml gemm of `type` on the rows of [row_begin, row_end), unpacked job by job.
void ref_gemm(const GemmArgs& a, GemmFn scalar) {
  const int64_t r0 = a.row_begin / kHalfRepackRows * kHalfRepackRows;
  std::vector<uint8_t> rows(static_cast<size_t>((a.row_end - r0) * a.n_in * 2));
  repack_unpack_half_x4(a.w, a.n_in, r0, a.row_end, rows.data());
  GemmArgs g = a;
  g.w = rows.data();
  g.w_row_bytes = static_cast<size_t>(a.n_in) * 2;
  g.y = a.y + r0;
  g.row_begin = a.row_begin - r0;
  g.row_end = a.row_end - r0;
  scalar(g);
}

}  // namespace

size_t repack_bytes_half_x4(int64_t n_in, int64_t n_out) {
  if (n_in < 1 || n_out < 1) return 0;
  return static_cast<size_t>((n_out + kHalfRepackRows - 1) / kHalfRepackRows) * group_bytes(n_in);
}

void repack_pack_half_x4(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst) {
  const int64_t g0 = r0 / kHalfRepackRows, g1 = (r1 + kHalfRepackRows - 1) / kHalfRepackRows;
  uint8_t* d = static_cast<uint8_t*>(dst);
  std::memset(d + static_cast<size_t>(g0) * group_bytes(n_in), 0, static_cast<size_t>(g1 - g0) * group_bytes(n_in));
  for (int64_t r = g0 * kHalfRepackRows; r < std::min(n_out, g1 * kHalfRepackRows); ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(src) + static_cast<size_t>(r * n_in) * 2;
    for (int64_t i = 0; i < n_in; i += kHalfBlockValues)
      std::memcpy(d + value_offset(n_in, r, i), row + 2 * i, static_cast<size_t>(std::min(kHalfBlockValues, n_in - i)) * 2);
  }
}

void repack_unpack_half_x4(const void* packed, int64_t n_in, int64_t r0, int64_t r1, void* dst) {
  const uint8_t* p = static_cast<const uint8_t*>(packed);
  for (int64_t r = r0; r < r1; ++r) {
    uint8_t* row = static_cast<uint8_t*>(dst) + static_cast<size_t>((r - r0) * n_in) * 2;
    for (int64_t i = 0; i < n_in; i += kHalfBlockValues)
      std::memcpy(row + 2 * i, p + value_offset(n_in, r, i), static_cast<size_t>(std::min(kHalfBlockValues, n_in - i)) * 2);
  }
}

void repack_gemm_f16x4_ref(const GemmArgs& a) { ref_gemm(a, scalar_matmul_kernels()->gemm_f16); }
void repack_gemm_bf16x4_ref(const GemmArgs& a) { ref_gemm(a, scalar_matmul_kernels()->gemm_bf16); }

}  // namespace kestrel::kernels
