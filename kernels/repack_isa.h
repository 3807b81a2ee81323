#pragma once
// Internal: each ISA's list of repacked layouts (kernels/repack.h). One list per ISA, in
// kernels/<isa>/repack_layouts_<isa>.cpp; a type's layout lives in its own file and is added to the list
// with one line. An ISA without a list (scalar, avx2, neon today) keeps the ggml layout for every type.
#include <cstddef>

#include "kernels/repack.h"

namespace kestrel::kernels {

struct RepackLayoutList {
  const RepackLayout* const* items;
  size_t count;
};

#if defined(__x86_64__) || defined(_M_X64)
RepackLayoutList avx512_repack_layouts();
// AVX-512 layouts (kernels/avx512/repack_q32_avx512.cpp).
const RepackLayout* repack_layout_q8_0_avx512();
const RepackLayout* repack_layout_q4_0_avx512();
// AVX-512 K-quant layouts (kernels/avx512/repack_kquants_avx512.cpp; layouts in kernels/kquant_x16.h).
const RepackLayout* repack_layout_q4_K_avx512();
const RepackLayout* repack_layout_q6_K_avx512();
// AVX-512 F16 / BF16 layouts (kernels/avx512/repack_half_avx512.cpp; layout in kernels/repack_half.h).
const RepackLayout* repack_layout_f16_avx512();
const RepackLayout* repack_layout_bf16_avx512();
#endif

}  // namespace kestrel::kernels
