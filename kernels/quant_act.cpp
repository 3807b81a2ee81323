// Scalar definitions of the matmul's Q8_0 / Q8_1 activation rules (see quant_act.h). Built with
// -ffp-contract=off like the other quant*.cpp: each multiply is rounded on its own, as in ggml's code.
#include "kernels/quant_act.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

// Round half to even: nearbyint in the default rounding mode, which nothing in Kestrel changes (what
// VROUNDPS / VCVTPS2DQ with RNE and FCVTNS do).
int32_t rne_x86(float v) {
  const float r = std::nearbyint(v);
  // VCVTPS2DQ: NaN and anything outside [-2^31, 2^31) give the "integer indefinite" INT32_MIN.
  if (!(r >= -2147483648.0f && r < 2147483648.0f)) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(r);
}
int32_t rne_arm(float v) {
  // FCVTNS: NaN -> 0, saturating to the int32 range.
  if (std::isnan(v)) return 0;
  const float r = std::nearbyint(v);
  if (r >= 2147483648.0f) return std::numeric_limits<int32_t>::max();
  if (r < -2147483648.0f) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(r);
}
int8_t to_int8(int32_t i, ActRule rule) {
  if (rule == ActRule::kX86) return static_cast<int8_t>(std::clamp(i, -128, 127));  // PACKSSDW + PACKSSWB
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(i) & 0xFF));  // int32 stored to int8
}

// One block: writes 32 values, returns d; *sum gets the sum of the stored values (ggml sums the int32s
// before narrowing, which is the same unless the block holds inf or NaN).
float quantize_block(const float* x, int8_t* qs, ActRule rule, int* sum) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  float id;
  if (rule == ActRule::kX86) id = amax != 0.0f ? 127.0f / amax : 0.0f;
  else id = d != 0.0f ? 1.0f / d : 0.0f;
  int s = 0;
  for (int j = 0; j < kQK; ++j) {
    const float v = x[j] * id;
    const int32_t i = rule == ActRule::kX86 ? rne_x86(v) : rne_arm(v);
    qs[j] = to_int8(i, rule);
    s += qs[j];
  }
  *sum = s;
  return d;
}

}  // namespace

void quantize_row_q8_0_act(const float* x, BlockQ8_0* y, int64_t n, ActRule rule) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    int sum;
    y[b].d = fp32_to_fp16(quantize_block(x, y[b].qs, rule, &sum));
  }
}

void quantize_row_q8_1_act(const float* x, BlockQ8_1* y, int64_t n, ActRule rule) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    int sum;
    const float d = quantize_block(x, y[b].qs, rule, &sum);
    y[b].d = fp32_to_fp16(d);
    y[b].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}

}  // namespace kestrel::kernels
