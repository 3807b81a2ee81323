#pragma once
// Internal (not a contract for model/ code): the per-ISA table of element-wise and attention kernels
// that kernels/ops.cpp and kernels/attention.cpp dispatch through. kernels/scalar/ defines the twin
// that gives each entry its meaning; kernels/avx2/, kernels/avx512/ and kernels/neon/ define the SIMD
// tables (float element-wise entries from the xsimd templates in kernels/ops_simd.h). An ISA's table is
// only called after isa_supported() said yes. A SIMD table may leave an entry nullptr where vectorizing
// does not pay; the dispatcher then uses the scalar entry. Tables are written with designated
// initializers, so an entry added here is nullptr (scalar) in every table that does not name it.
#include <cstdint>

#include "kernels/isa.h"

namespace kestrel::kernels {

// What both attention entries read: q and out (n_q consecutive query heads that share one KV head, head g
// at g * head_dim), k and v at cache row 0 of that KV head (consecutive rows `stride` elements apart,
// n_head_kv * head_dim; position p in row p, or p % ring for a ring buffer of `ring` rows, the
// sliding-window layers), the score scale, softcap (> 0: scores become softcap * tanh(K.q / softcap)
// before `scale`) and the caller's scratch.
struct AttendKvArgs {
  const float* q;
  const void* k;
  const void* v;
  int64_t stride;
  int64_t ring;
  int64_t head_dim;
  int64_t n_q;
  float scale;
  float softcap;
  float* out;
  float* scratch;
};

// One query token: the online softmax of each query against positions [first, first + n_pos). scratch
// holds attend_scratch_floats(n_q, head_dim) floats, plus attend_ggml_scratch_floats(first + n_pos,
// head_dim) when ggml_lanes is set.
//
// ggml_lanes (F32 caches only; 0 = the online softmax): compute in the order of llama.cpp's x86 CPU
// graph with flash attention off instead (kernels/attention_impl.h, attend_head_ggml): 16 for its
// batches (the K.V^T product through llamafile's tinyBLAS), 64 for one token (ggml_vec_dot_f32).
struct AttendHeadArgs : AttendKvArgs {
  int64_t first;
  int64_t n_pos;
  int ggml_lanes = 0;
};
inline constexpr int64_t attend_scratch_floats(int64_t n_q, int64_t head_dim) { return n_q * (head_dim + 2); }
// The scores of positions [0, n_pos_end) rounded up to whole 16-position chunks, and 64 partial rows.
inline constexpr int64_t attend_ggml_scratch_floats(int64_t n_pos_end, int64_t head_dim) {
  return (n_pos_end + 32) + 64 * head_dim;
}
using AttendHeadFn = void (*)(const AttendHeadArgs& a);

// F16 cache, batches of kFaTileTokens tokens or more: n_tok consecutive tokens (positions pos0 ..), in the
// order of llama.cpp's tiled CPU flash attention (kernels/attention_fa_impl.h). q and out point at the
// first token's first head; tokens are q_stride floats apart. window: 0 none, else the sliding window;
// the cache holds positions [max(0, pos0 - window + 1), pos0 + n_tok). scratch holds
// attend_block_scratch_floats(n_tok * n_q, head_dim) floats.
struct AttendBlockArgs : AttendKvArgs {
  int64_t q_stride;
  int64_t pos0;
  int64_t n_tok;
  int64_t window;
};
inline constexpr int64_t kFaTileTokens = 64;  // llama.cpp's GGML_FA_TILE_Q: from here on its tiled path
inline constexpr int64_t attend_block_scratch_floats(int64_t rows, int64_t head_dim) {
  return rows * (2 * head_dim + 64 + 2) + 2 * 64 * head_dim;
}
using AttendBlockFn = void (*)(const AttendBlockArgs& a);

struct OpsKernels {
  const char* name = nullptr;  // "scalar", "avx2", "avx512", "neon"
  void (*rmsnorm)(const float* x, const float* w, float* out, int64_t n, float eps) = nullptr;
  void (*softmax)(float* x, int64_t n) = nullptr;
  void (*silu)(float* x, int64_t n) = nullptr;
  void (*gelu)(float* x, int64_t n) = nullptr;
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  void (*geglu)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  void (*layernorm)(const float* x, const float* w, const float* b, float* out, int64_t n, float eps) = nullptr;
  void (*softcap)(float* x, float cap, int64_t n) = nullptr;
  void (*add)(const float* a, const float* b, float* out, int64_t n) = nullptr;
  void (*mul)(const float* a, const float* b, float* out, int64_t n) = nullptr;
  void (*scale)(float* x, float s, int64_t n) = nullptr;
  // K.q with an F16 cache rounds q to F16 first (as llama.cpp does with flash attention off), then
  // accumulates in F32; V is widened to F32. See kernels/attention.cpp.
  AttendHeadFn attend_head_f32 = nullptr;
  AttendHeadFn attend_head_f16 = nullptr;
  // F16 cache, batches of >= kFaTileTokens tokens: llama.cpp's flash-attention order, the same bits on
  // every ISA (attention_fa_impl.h).
  AttendBlockFn attend_block_f16 = nullptr;
};

const OpsKernels& scalar_ops_kernels();
#if defined(__x86_64__) || defined(_M_X64)
const OpsKernels& avx2_ops_kernels();
const OpsKernels& avx512_ops_kernels();
#endif
#if defined(__aarch64__)
const OpsKernels& neon_ops_kernels();
#endif

// The table for an ISA; ISAs that are not supported here fall back to the scalar twin.
const OpsKernels& ops_kernels(Isa isa);

}  // namespace kestrel::kernels
