#pragma once
// Shared by the NEON matmul translation units (kernels/neon/*.cpp): exact Q8 activation rounding and
// the row x token-tile driver. Anonymous namespace: each TU gets its own copy.
//
// A Dot policy provides template <int NT> run(w_row, x_rows[NT], n_in, out[NT]): the dot products of
// one weight row with NT (1..4) activation rows.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul_isa.h"

namespace kestrel::kernels {
namespace {

constexpr int kTokenTile = 4;

inline float load_f16_scale(const char* p) {
  __fp16 h;
  std::memcpy(&h, p, sizeof h);  // block scales sit at any byte offset in a GGUF row
  return static_cast<float>(h);
}

// One Q8_0/Q8_1 activation block as ggml's NEON quantize_row_q8_0 writes it (ActRule::kArm,
// kernels/quant_act.h): d = amax / 127, q = round-half-even(x * (1/d)) (FCVTNS), the low byte of the
// int32. Returns d (the caller stores it as fp16).
inline float quantize_block_q8(const float* x, int8_t* qs) {
  float32x4_t v[8];
  float32x4_t amax = vdupq_n_f32(0.0f);
  for (int j = 0; j < 8; ++j) {
    v[j] = vld1q_f32(x + 4 * j);
    amax = vmaxq_f32(amax, vabsq_f32(v[j]));
  }
  const float d = vmaxvq_f32(amax) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 8; j += 2) {
    const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
    const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
    const int16x8_t q01 = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
    vst1_s8(qs + 4 * j, vmovn_s16(q01));
  }
  return d;
}

// Runs Dot over the GemmArgs rectangle: token tiles of up to 4 rows outside, weight rows inside (the
// tile's activations stay in L1 while the weight rows stream past).
template <class Dot>
void gemm(const GemmArgs& a) {
  const char* w = static_cast<const char*>(a.w);
  const char* x = static_cast<const char*>(a.x);
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokenTile) {
    const int nt = static_cast<int>(a.n_tokens - t0 < kTokenTile ? a.n_tokens - t0 : kTokenTile);
    const char* xp[kTokenTile];
    for (int t = 0; t < nt; ++t) xp[t] = x + (t0 + t) * static_cast<int64_t>(a.x_row_bytes);
    float out[kTokenTile];
    for (int64_t r = a.row_begin; r < a.row_end; ++r) {
      const char* wr = w + r * static_cast<int64_t>(a.w_row_bytes);
      switch (nt) {
        case 4: Dot::template run<4>(wr, xp, a.n_in, out); break;
        case 3: Dot::template run<3>(wr, xp, a.n_in, out); break;
        case 2: Dot::template run<2>(wr, xp, a.n_in, out); break;
        default: Dot::template run<1>(wr, xp, a.n_in, out); break;
      }
      for (int t = 0; t < nt; ++t) a.y[(t0 + t) * a.ldy + r] = out[t];
    }
  }
}

}  // namespace
}  // namespace kestrel::kernels
