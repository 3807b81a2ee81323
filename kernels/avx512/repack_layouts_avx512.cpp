// The AVX-512 repacked layouts, one line per weight type (kernels/repack_isa.h).
#include "kernels/repack_isa.h"

namespace kestrel::kernels {

RepackLayoutList avx512_repack_layouts() {
  static const RepackLayout* const kList[] = {
      repack_layout_q8_0_avx512(),
      repack_layout_q4_0_avx512(),
      repack_layout_q4_K_avx512(),
      repack_layout_q6_K_avx512(),
      repack_layout_f16_avx512(),
      repack_layout_bf16_avx512(),
  };
  return {kList, sizeof kList / sizeof kList[0]};
}

}  // namespace kestrel::kernels
