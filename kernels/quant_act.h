#pragma once
// The matmul's Q8_0 / Q8_1 activation quantizers: what Q8_0, Q4_0, Q5_0, IQ4_NL (Q8_0) and Q4_1, Q5_1
// (Q8_1) weights are dotted with. They are not the reference quantizers of quant.h / quant_q32.h, which
// write weights byte-identical to llama-quantize: llama.cpp quantizes matmul inputs with per-architecture
// code (ggml-cpu/arch/x86/quants.c and arch/arm/quants.c, quantize_row_q8_0 / quantize_row_q8_1) that
// rounds differently from its reference, and two engines produce the same tokens from the same file only
// if the activation bytes agree. Every rule has d = amax / 127 (stored as fp16) and:
//   kX86  ggml's AVX/AVX2/AVX-512 builds, and its AMX kernels (ggml-cpu/amx/mmq.cpp calls the same function
//         for Q8_0 / Q8_1 inputs): q = round-half-even(x * (127 / amax)), an out-of-range or NaN product
//         becomes INT32_MIN, saturated to int8 (VCVTPS2DQ then PACKSS).
//   kArm  ggml's NEON builds: q = round-half-even(x * (1 / d)), NaN -> 0, the low byte of the int32 (FCVTNS
//         then a narrowing store).
//   (The reference: q = roundf(x * (1 / d)), half away from zero.)
// Q8_1 also stores s = fp16(d * sum(q)).
// Each ISA's converter writes exactly the bytes of its rule's function below (tests/kernels/test_matmul.cpp);
// the scalar kernel table uses kHostActRule, so on one machine every ISA writes the same activation bytes.
#include <cstdint>

#include "kernels/quant.h"
#include "kernels/quant_q32.h"

namespace kestrel::kernels {

enum class ActRule { kX86, kArm };

#if defined(__aarch64__)
constexpr ActRule kHostActRule = ActRule::kArm;
#else
constexpr ActRule kHostActRule = ActRule::kX86;
#endif

// n is a multiple of 32.
void quantize_row_q8_0_act(const float* x, BlockQ8_0* y, int64_t n, ActRule rule);
void quantize_row_q8_1_act(const float* x, BlockQ8_1* y, int64_t n, ActRule rule);

}  // namespace kestrel::kernels
