#pragma once
// Shared pieces of the reference quantizers (kernels/quant*.cpp, all compiled with -ffp-contract=off):
// ggml's rounding helper and its asymmetric scale/min search. Include it only from those files: the
// inline nearest_int relies on the caller's float environment being the default one (round to nearest).
#include <cstdint>
#include <cstring>

namespace kestrel::kernels {

constexpr float kGroupMaxEps = 1e-15f;  // below this amax a group counts as all zero (ggml)

// Round to nearest, ties to even, for |v| <= 2^22: adding 1.5 * 2^23 leaves the integer in the low
// mantissa bits (the FPU does the rounding). ggml's nearest_int; std::lrintf would agree but this keeps
// the exact operation.
inline int nearest_int(float v) {
  const float t = v + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &t, sizeof i);
  return (i & 0x007FFFFF) - 0x00400000;
}

// How fit_scale_min scores a trial fit: weighted squared error (Q4_K, Q5_K) or weighted absolute
// error (Q2_K). ggml's make_qkx2_quants use_mad = false / true.
enum class FitError { kSquared, kAbsolute };

// Asymmetric n-value fit x ~ scale * L + min (L in [0, nmax], min <= 0, n <= 32): a first guess from
// the range, then nstep + 1 trial inverse scales (rmin + rdelta * is + nmax) / (max - min), each refit
// by weighted least squares and kept when its weighted error is lower. Returns scale and stores -min in
// *neg_min; levels go to L. ggml's make_qkx2_quants, same operations in the same order.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* neg_min, float rmin,
                    float rdelta, int nstep, FitError error);

}  // namespace kestrel::kernels
